"""Join notifications ("one button to push"): a message with a Join button just before each
meeting, exactly once per occurrence.

Every minute a Scheduler tick looks at the meetings index for occurrences starting within the
lead time (or that started less than :data:`GRACE` ago, so a late or missed tick still
notifies) and publishes one ``join-notifications`` message per occurrence::

    {"user_id", "event_id", "start",
     "sealed": {"sealed", "data_key", "kek", "aad", "place"}}

``sealed`` is :meth:`shared.crypto.sealer.Sealer.seal_for_publish`'s envelope plus the ``place`` it
was sealed for, so a consumer can check ``aad == user_id|place``
(:func:`shared.crypto.sealer.open_published` does when given both) and open the title, join URL and
SIP URI, which never travel in the clear.

"Exactly once" is a claim per ``(user, event, start)`` taken in a transaction *before*
publishing and marked ``sent`` after: duplicate or overlapping ticks find it taken; a
rescheduled meeting has a new start, hence a new claim, and notifies again. If publishing fails
the claim is released and the error re-raised, so the redelivered tick (or the next minute's)
retries. If the instance dies between claiming and marking sent, the claim's lease
(:data:`CLAIM_LEASE`) runs out and a later tick publishes again, within :data:`GRACE`: a
notification is never lost to a crash. It may then be published twice (the crash came after the
publish), which is why every message carries ``notification_id``, the same for every publish of
one occurrence: subscribers deduplicate on it, as Pub/Sub's at-least-once delivery requires of
them anyway.

Never notified: all-day events, cancelled meetings, meetings the user declined, meetings
without a join URL or SIP URI, meetings already over, users who are not active.
"""

from __future__ import annotations

import hashlib
import logging
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

COLLECTION = names.NOTIFICATIONS
GRACE = timedelta(minutes=5)  # a late tick still notifies until the meeting is this far in
KEEP = timedelta(days=3)  # idempotency keys expire (Firestore TTL) well after the meeting
CLAIM_LEASE = timedelta(seconds=90)  # longer than a tick's work, well inside GRACE


def on_tick(services: Services) -> int:
    """Publish the notifications that are due; returns how many this tick published.

    Safe to run any number of times per minute (Scheduler retries, Pub/Sub redelivery, a
    manual tick): each occurrence is claimed before it is published. Raises when publishing
    fails, after releasing that occurrence's claim, so the tick is redelivered and retried.
    """
    now = services.clock.now()
    lead = timedelta(seconds=services.config.notify_lead_seconds)
    # Index starts are RFC 3339 UTC strings (to_rfc3339), so string order is time order.
    rows = services.store.query(meetings_index.COLLECTION, [
        Filter("start", ">=", to_rfc3339(now - GRACE)),
        Filter("start", "<=", to_rfc3339(now + lead))], order_by="start")
    now_text = to_rfc3339(now)
    active: dict[str, bool] = {}  # one users read per user per tick
    sent = skipped = 0
    for key, doc in rows:
        if doc.get("all_day") or doc.get("status") == "cancelled":
            continue
        if doc.get("end") and str(doc["end"]) <= now_text:
            continue  # over already (a meeting shorter than the grace): nothing to join
        user_id = str(doc["user_id"])
        if user_id not in active:
            user = services.store.get(names.USERS, user_id) or {}
            active[user_id] = user.get("status") == "active"
        if not active[user_id]:
            continue
        if _notify(services, key, doc, now):
            sent += 1
        else:
            skipped += 1
    if sent or skipped:
        _LOGGER.info("join notifications dispatched", extra=fields(
            sent=sent, skipped=skipped, users=sum(active.values())))
    return sent


def _notify(services: Services, key: str, doc: dict[str, Any], now: datetime) -> bool:
    """Claim then publish one occurrence; False when it is not to be (or was already) sent."""
    user_id, event_id, start = str(doc["user_id"]), str(doc["event_id"]), str(doc["start"])
    try:
        record = services.sealer.open(user_id, f"{meetings_index.COLLECTION}|{key}",
                                      doc["blob"])
    except (SealedDataError, KeyError) as exc:
        # One unreadable record (shredded key, damaged document) must not hold back the rest.
        _LOGGER.error("meeting record does not open; not notified",
                      extra=fields(user=user_id, error=type(exc).__name__))
        return False
    if not (record.get("join_url") or record.get("sip_uri")):
        return False
    if record.get("response_status") == "declined":
        return False
    claim = f"{user_id}|{event_id}|{start}"
    if not _take_claim(services, claim, user_id, event_id, start, now):
        return False  # notified already, or being notified by another tick right now
    place = f"{Topics.JOIN_NOTIFICATIONS}|{claim}"
    try:
        sealed = services.sealer.seal_for_publish(user_id, place, {
            "title": record.get("title") or "", "join_url": record.get("join_url"),
            "sip_uri": record.get("sip_uri")})
        services.bus.publish(Topics.JOIN_NOTIFICATIONS, {
            "user_id": user_id, "event_id": event_id, "start": start,
            "sealed": {**sealed, "place": place}}, ordering_key=user_id,
            attributes={"notification_id": notification_id(claim)})
    except Exception:
        services.store.delete(COLLECTION, claim)  # let the redelivered tick try again
        _LOGGER.warning("join notification not published; claim released",
                        extra=fields(user=user_id, start=start))
        raise
    services.store.merge(COLLECTION, claim, {"state": "sent"})
    _LOGGER.info("join notification published", extra=fields(user=user_id, start=start))
    return True


def notification_id(claim: str) -> str:
    """The occurrence's stable id (no user text, no pseudonym needed by the subscriber)."""
    return hashlib.sha256(claim.encode()).hexdigest()[:32]


def _take_claim(services: Services, claim: str, user_id: str, event_id: str, start: str,
                now: datetime) -> bool:
    """Claim an occurrence: free, or claimed by an instance that died before marking it sent
    (its lease ran out). False when it was sent, or another tick is sending it now."""
    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
        if doc is not None and (doc.get("state", "sent") == "sent"
                                or str(doc.get("lease_until", "")) > to_rfc3339(now)):
            return doc, False
        return {"user_id": user_id, "event_id": event_id, "start": start, "state": "sending",
                "notified_at": to_rfc3339(now),
                "lease_until": to_rfc3339(now + CLAIM_LEASE),
                "expire_at": to_rfc3339(now + KEEP)}, True

    return services.store.transact(COLLECTION, claim, change)
