"""Join notifications ("one button to push"): a message with a Join button just before each
meeting, exactly once per occurrence.

Every minute a Scheduler tick looks at the meetings index for occurrences still owed a
notification (the record's clear ``notify_at``, see :func:`shared.meetings.index.notify_fields`)
starting within the lead time (or that started less than :data:`GRACE` ago, so a late or missed
tick still notifies) and publishes one ``join-notifications`` message per occurrence::

    {"user_id", "event_id", "start",
     "sealed": {"sealed", "data_key", "kek", "aad", "place"}}

``sealed`` is :meth:`shared.crypto.sealer.Sealer.seal_for_publish`'s envelope plus the ``place`` it
was sealed for, so a consumer can check ``aad == user_id|place``
(:func:`shared.crypto.sealer.open_published` does when given both) and open the title, join URL and
SIP URI, which never travel in the clear. The indexer sealed it when the occurrence became owed
(the record's ``notice``); the tick only adds the wrapped data key, so it opens no record and
calls no KMS.

"Exactly once" rests on the index record itself, so the query returns each due occurrence once
and nothing else is read or written per notification but its user's status:

- The indexer sets ``notify_at`` to the start while a notification is owed for it, and never
  writes ``notified``; the tick publishes, *then* marks the record in a transaction: ``notified``
  = the start it published, and ``notify_at`` cleared only if it still is that start (a meeting
  rescheduled meanwhile keeps its new start owed, and is notified again at it; a title-only
  edit is not, since the indexer owes nothing for a start already ``notified``). A record whose
  ``notify_at`` equals its ``notified`` (an indexer write that read the record before the mark
  and wrote after it) is cleared without publishing.
- One tick at a time: a tick takes the tick lease (:data:`TICK_LEASE`, one document) or, when
  another tick holds it (Pub/Sub redelivery, a retried Scheduler run), returns; and it stops
  publishing :data:`MARGIN` before its lease runs out, leaving the rest owed to the next tick.
- If publishing fails nothing is marked, the lease is given back and the error re-raised, so
  the redelivered tick (or the next minute's) retries. If the instance dies between publishing
  and marking, its lease runs out and a later tick, within :data:`GRACE`, publishes again (as
  the redelivered tick does at once when the mark itself fails): a notification is never lost
  to a crash. It is then published twice, which is why every message
  carries ``notification_id``, the same for every publish of one occurrence: subscribers
  deduplicate on it, as Pub/Sub's at-least-once delivery requires of them anyway.

Never notified: all-day events, cancelled meetings, meetings the user declined, meetings
without a join URL or SIP URI (none of these is ever owed), meetings already over, users who are
not active.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.crypto.sealer import SealedDataError
from shared.logs import fields
from shared.meetings import index as meetings_index
from shared.store import names
from shared.store.base import Filter

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

COLLECTION = meetings_index.COLLECTION
GRACE = timedelta(minutes=5)  # a late tick still notifies until the meeting is this far in
TICK_LEASE = timedelta(seconds=50)  # one tick at a time; inside the minute, so the next one runs
MARGIN = timedelta(seconds=10)  # no publish this close to the lease's end
LEASE_KEY = "join-notifications|tick"  # the tick lease's document, in names.RATELIMITS
KEEP = timedelta(days=1)  # the lease document expires (Firestore TTL) when ticks stop


def on_tick(services: Services) -> int:
    """Publish the notifications that are due; returns how many this tick published.

    Safe to run any number of times per minute (Scheduler retries, Pub/Sub redelivery, a
    manual tick): a tick runs only while it holds the tick lease. Raises when publishing fails,
    after giving the lease back, so the tick is redelivered and retried.
    """
    now = services.clock.now()
    holder = _take_lease(services, now)
    if holder is None:
        _LOGGER.info("join notifications: another tick is at work")
        return 0
    lead = timedelta(seconds=services.config.notify_lead_seconds)
    # notify_at holds the start, an RFC 3339 UTC string (to_rfc3339): string order is time order.
    rows = services.store.query(COLLECTION, [
        Filter("notify_at", ">=", to_rfc3339(now - GRACE)),
        Filter("notify_at", "<=", to_rfc3339(now + lead))], order_by="notify_at")
    now_text = to_rfc3339(now)
    stop = now + TICK_LEASE - MARGIN
    active: dict[str, bool] = {}  # one users read per user per tick
    sent = skipped = 0
    try:
        for key, doc in rows:
            if services.clock.now() >= stop:
                _LOGGER.warning("join notifications: tick lease running out; the rest next tick",
                                extra=fields(sent=sent))
                break
            start = str(doc["notify_at"])
            if doc.get("notified") == start:
                _mark(services, key, start)  # an indexer write raced our mark: sent already
                continue
            if str(doc["end"]) <= now_text:
                continue  # over already (a meeting shorter than the grace): nothing to join
            user_id = str(doc["user_id"])
            if user_id not in active:
                user = services.store.get(names.USERS, user_id) or {}
                active[user_id] = user.get("status") == "active"
            if active[user_id] and _notify(services, key, doc, start):
                sent += 1
            else:
                skipped += 1
    except Exception:
        _give_back(services, holder)  # let the redelivered tick run at once
        raise
    if sent or skipped:
        _LOGGER.info("join notifications dispatched", extra=fields(
            sent=sent, skipped=skipped, users=sum(active.values())))
    return sent


def _notify(services: Services, key: str, doc: dict[str, Any], start: str) -> bool:
    """Publish one occurrence, then mark it notified; False when its record does not open."""
    user_id, event_id = str(doc["user_id"]), str(doc["event_id"])
    occurrence = f"{user_id}|{event_id}|{start}"
    place = meetings_index.notice_place(user_id, event_id, start)
    try:
        sealed = _sealed_notice(services, doc, place)
    except (SealedDataError, KeyError) as exc:
        # One unreadable record (shredded key, damaged document) must not hold back the rest.
        _LOGGER.error("meeting record does not open; not notified",
                      extra=fields(user=user_id, error=type(exc).__name__))
        return False
    try:
        services.bus.publish(Topics.JOIN_NOTIFICATIONS, {
            "user_id": user_id, "event_id": event_id, "start": start,
            "sealed": {**sealed, "place": place}}, ordering_key=user_id,
            attributes={"notification_id": notification_id(occurrence)})
    except Exception:
        _LOGGER.warning("join notification not published; still owed",
                        extra=fields(user=user_id, start=start))
        raise
    _mark(services, key, start)
    _LOGGER.info("join notification published", extra=fields(user=user_id, start=start))
    return True


def _sealed_notice(services: Services, doc: dict[str, Any], place: str) -> dict[str, str]:
    """The notification's envelope: the indexer sealed it (``notice``, with the user's
    publishing key, for exactly this place) and the tick adds the wrapped data key. The tick
    holds no KMS grant (infra/functions.tf): it never opens a record or unwraps a key. A record
    without a notice raises ``KeyError`` (an unreadable record: logged, not notified)."""
    return services.sealer.envelope(str(doc["user_id"]), place, str(doc["notice"]))


def notification_id(occurrence: str) -> str:
    """The occurrence's (``user|event|start``) stable id: no user text, no pseudonym needed by
    the subscriber."""
    return hashlib.sha256(occurrence.encode()).hexdigest()[:32]


def _mark(services: Services, key: str, start: str) -> None:
    """Record that ``start`` was notified; it stops being owed unless the meeting moved."""
    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
        if doc is None:
            return None, None  # removed from the index meanwhile: nothing to mark
        if doc.get("notify_at") == start:
            return {**doc, "notify_at": "", "notified": start}, None
        return {**doc, "notified": start}, None  # rescheduled: its new start stays owed

    services.store.transact(COLLECTION, key, change)


def _take_lease(services: Services, now: datetime) -> str | None:
    """The tick lease's holder id, or None while another tick holds it."""
    holder = uuid.uuid4().hex

    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
        if doc is not None and str(doc["until"]) > to_rfc3339(now):  # ours: always set
            return doc, None
        return {"holder": holder, "until": to_rfc3339(now + TICK_LEASE),
                "expire_at": to_rfc3339(now + KEEP)}, holder

    return services.store.transact(names.RATELIMITS, LEASE_KEY, change)


def _give_back(services: Services, holder: str) -> None:
    """End our tick lease early (a failed tick); one a later tick took is left alone."""
    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
        return (None if doc is not None and doc.get("holder") == holder else doc), None

    services.store.transact(names.RATELIMITS, LEASE_KEY, change)
