"""The encrypted meetings index: one record per occurrence in the window, per user.

Key ``meetings/{user_id}|{event_key}`` where ``event_key`` is the occurrence's event id (an
instance id for recurring series). Only what queries need stays clear (user, ids, times,
service, status); title, join URL, SIP URI, organizer flag, attendees, location and the user's
response are sealed with associated data ``meetings|{key}``.

The join link comes from :mod:`shared.joinlinks` (conferenceData, then Location, then
description), except that join details a keyword asked for (our block) beat conference data
Google added on its own, such as an automatic Meet link.

Computing a change and writing it are two steps (:func:`plan_event`, :class:`Pending`): the
sync publishes a page's changes *before* it writes them, so a crash in between leaves the
records as they were and the replayed sync (its token was not committed) finds and publishes
the same changes again. Written first, a replay would find nothing changed and the app would
never hear of it. :func:`upsert` and :func:`index_event` do both steps, for callers that
publish nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import joinlinks
from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.keyword import joinblock
from shared.keyword.event_patch import KEY_HASH, markers
from shared.store import names
from shared.store.base import Filter

if TYPE_CHECKING:
    from shared.changes.sync import CalendarGateway
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

COLLECTION = names.MEETINGS


@dataclass(frozen=True)
class Change:
    """One index change, for the ``meetings-updated`` payload."""

    key: str
    op: str  # "upsert" | "delete"
    record: dict[str, Any] | None = None
    # What :meth:`Pending.write` merges into the stored record (an upsert's clear fields, the
    # notifier's ``notify_at`` and the sealed blob); not part of the published change.
    stored: dict[str, Any] | None = field(default=None, repr=False, compare=False)


# "Read the stored record yourself" (as opposed to None: known to be absent).
_READ: Any = object()


@dataclass
class Pending:
    """Index changes computed against the stored records, not yet written: publish
    ``changes``, then :meth:`write` (module docstring)."""

    changes: list[Change] = field(default_factory=list)
    # The recurring masters to remember (their id) or forget (None), written with the changes.
    series: dict[str, str | None] = field(default_factory=dict)

    def add(self, change: Change | None) -> None:
        if change is not None:
            self.changes.append(change)

    def extend(self, other: Pending) -> None:
        self.changes += other.changes
        self.series.update(other.series)

    def write(self, services: Services) -> None:
        """Write every change (upserts merged, deletes deleted), then the series records."""
        store = services.store
        for change in self.changes:
            if change.op == "delete":
                store.delete(COLLECTION, change.key)
            else:
                store.merge(COLLECTION, change.key, change.stored or {})
        for key, event_id in self.series.items():
            if event_id is None:
                store.delete(names.SERIES, key)
            else:
                store.merge(names.SERIES, key, {"user_id": key.split("|", 1)[0],
                                                "event_id": event_id})


def window(services: Services) -> tuple[datetime, datetime]:
    now = services.clock.now()
    config = services.config
    return (now - timedelta(days=config.index_past_days),
            now + timedelta(days=config.index_future_days))


def record_key(user_id: str, event_id: str) -> str:
    return f"{user_id}|{event_id}"


def _when(part: Mapping[str, Any] | None) -> tuple[datetime | None, bool]:
    part = part or {}
    if part.get("dateTime"):
        return datetime.fromisoformat(part["dateTime"].replace("Z", "+00:00")), False
    if part.get("date"):
        return datetime.fromisoformat(part["date"]).replace(tzinfo=UTC), True
    return None, False


def join_details(event: Mapping[str, Any], org_domains: tuple[str, ...] = ()
                 ) -> tuple[str | None, str | None, str | None]:
    """``(url, service, sip_uri)`` for an event: our keyword block first, then joinlinks
    (self-hosted services count on ``org_domains`` only: ``HYBRIDCAL_ORG_DOMAINS``)."""
    description = event.get("description") or ""
    location = event.get("location") or ""
    block = joinblock.find(description) if markers(event).get(KEY_HASH) else None
    link = None
    if block is not None:
        url = joinblock.url_in(block)
        if url:
            link = joinlinks.find_join_link(conference_data=None, location=url, description=None,
                                            org_domains=org_domains)
            service = link.service if link else "custom"
            sips = joinlinks.find_sip_uris(block)
            return url, service, (sips[0] if sips else None)
    link = joinlinks.find_join_link(conference_data=event.get("conferenceData"),
                                    location=location, description=description,
                                    org_domains=org_domains)
    sips = joinlinks.find_sip_uris(location) or joinlinks.find_sip_uris(description)
    return (link.url if link else None, link.service if link else None,
            sips[0] if sips else None)


def _sealed_record(event: Mapping[str, Any], email: str, url: str | None,
                   sip: str | None) -> dict[str, Any]:
    attendees = event.get("attendees") or []
    me: Mapping[str, Any] = next((a for a in attendees if a.get("self")
                                  or str(a.get("email", "")).lower() == email.lower()), {})
    organizer = event.get("organizer") or {}
    return {
        "title": event.get("summary") or "",
        "join_url": url,
        "sip_uri": sip,
        "organizer": bool(organizer.get("self"))
        or str(organizer.get("email", "")).lower() == email.lower(),
        "organizer_email": organizer.get("email"),
        "attendees": [{"email": a.get("email"), "response": a.get("responseStatus")}
                      for a in attendees],
        "location": event.get("location") or "",
        "response_status": me.get("responseStatus") or ("accepted" if organizer.get("self")
                                                        else None),
    }


def upsert(services: Services, user_id: str, email: str, occurrence: Mapping[str, Any],
           series_id: str | None) -> Change | None:
    """Index one occurrence now (None when unchanged; outside the window it is removed)."""
    pending = Pending()
    pending.add(plan_upsert(services, user_id, email, occurrence, series_id))
    pending.write(services)
    return pending.changes[0] if pending.changes else None


def plan_upsert(services: Services, user_id: str, email: str, occurrence: Mapping[str, Any],
                series_id: str | None, existing: Any = _READ) -> Change | None:
    """The change one occurrence makes to its stored record (``existing``, read here unless
    given; None: known to be absent), not written: None when unchanged; a delete when it is
    outside the window and was indexed."""
    start, all_day = _when(occurrence.get("start"))
    end, _ = _when(occurrence.get("end"))
    lo, hi = window(services)
    key = record_key(user_id, occurrence["id"])
    if start is None or end is None or end <= lo or start >= hi:
        return plan_delete(services, key, existing)
    url, service, sip = join_details(occurrence, services.config.org_domains)
    doc: dict[str, Any] = {
        "user_id": user_id, "event_id": occurrence["id"], "series_id": series_id or "",
        # UTC, whatever offset Google answered in: queries compare these strings as times
        # (notifications due, the window), which only holds when every one is in UTC.
        "start": to_rfc3339(start.astimezone(UTC)), "end": to_rfc3339(end.astimezone(UTC)),
        "all_day": all_day,
        "service": service or "", "status": occurrence.get("status") or "confirmed",
        "updated": occurrence.get("updated") or "", "etag": occurrence.get("etag") or "",
    }
    doc["blob_hash"] = _h(doc)
    if existing is _READ:
        existing = services.store.get(COLLECTION, key)
    record = _sealed_record(occurrence, email, url, sip)
    notify = notify_fields(doc, record, existing)
    if existing is not None and all(existing.get(k) == v for k, v in {**doc, **notify}.items()):
        return None  # unchanged: no write, no seal, nothing to publish
    # Merged when written, not put: ``notified`` is the notifier's, and a put of a stale copy
    # could undo its mark between our read and our write (the meeting would be notified twice).
    stored = {**doc, **notify,
              "blob": services.sealer.seal(user_id, f"{COLLECTION}|{key}", record),
              "notice": _notice(services, user_id, doc, record, notify)}
    # The published change carries the record in the clear *inside* the sealed payload.
    return Change(key, "upsert", {**{k: v for k, v in doc.items() if k != "blob_hash"},
                                  **record}, stored)


def _notice(services: Services, user_id: str, doc: Mapping[str, Any],
            record: Mapping[str, Any], notify: Mapping[str, str]) -> str:
    """The join notification an owed occurrence will get, sealed now with the user's
    publishing key (:meth:`~shared.crypto.sealer.Sealer.seal_notice`): this instance holds the
    user's keys already, the notifier's tick then publishes it without any KMS call. "" when
    nothing is owed (a merge then clears an older notice)."""
    if not notify["notify_at"]:
        return ""
    return services.sealer.seal_notice(
        user_id, notice_place(user_id, str(doc["event_id"]), str(doc["start"])),
        notice_of(record))


def notice_place(user_id: str, event_id: str, start: str) -> str:
    """Where a join notification is sealed for: its topic and occurrence (the consumer checks
    the associated data ``user_id|place``)."""
    return f"{Topics.JOIN_NOTIFICATIONS}|{user_id}|{event_id}|{start}"


def notice_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a join notification carries of a meeting record (sealed, never in the clear)."""
    return {"title": record.get("title") or "", "join_url": record.get("join_url"),
            "sip_uri": record.get("sip_uri")}


def notify_fields(doc: Mapping[str, Any], record: Mapping[str, Any],
                  existing: Mapping[str, Any] | None) -> dict[str, str]:
    """The record's clear ``notify_at``: its start while a join notification is still owed,
    else "" (what :mod:`shared.meetings.notifications`' tick queries, so it reads each due
    occurrence once rather than every meeting near now on every tick).

    Owed when the occurrence can be joined (not all-day, not cancelled, a join URL or SIP
    URI, not declined) and ``existing``'s ``notified`` (the start the notifier last sent, which
    only it writes) is not this start: a title-only edit is not owed again, a new start is.
    """
    owed = (not doc["all_day"] and doc["status"] != "cancelled"
            and bool(record.get("join_url") or record.get("sip_uri"))
            and record.get("response_status") != "declined"
            and (existing or {}).get("notified") != doc["start"])
    return {"notify_at": str(doc["start"]) if owed else ""}


def _h(doc: Mapping[str, Any]) -> str:
    # The sealed blob is randomised, so "unchanged" is judged on the event's updated stamp and
    # etag (Google changes both on every change, sealed fields such as a response included).
    import hashlib

    return hashlib.sha256(f"{doc['event_id']}|{doc['updated']}|{doc['etag']}|{doc['start']}"
                          f"|{doc['end']}|{doc['service']}".encode()).hexdigest()[:16]


def delete(services: Services, key: str) -> Change | None:
    """Remove one record now (None when there was none)."""
    return Change(key, "delete") if services.store.delete(COLLECTION, key) else None


def plan_delete(services: Services, key: str, existing: Any = _READ) -> Change | None:
    """The delete of one record if it is stored (read here unless ``existing`` is given)."""
    if existing is _READ:
        existing = services.store.get(COLLECTION, key)
    return Change(key, "delete") if existing is not None else None


def delete_series(services: Services, user_id: str, series_id: str,
                  keep: set[str] | None = None) -> list[Change]:
    """Remove a series' occurrences (all, or those not in ``keep``) now."""
    changes = []
    for key in _series_records(services, user_id, series_id):
        if keep is None or key not in keep:
            change = delete(services, key)
            if change:
                changes.append(change)
    return changes


def _series_records(services: Services, user_id: str, series_id: str
                    ) -> dict[str, dict[str, Any]]:
    rows = services.store.query(COLLECTION, [Filter("user_id", "==", user_id),
                                             Filter("series_id", "==", series_id)])
    return dict(rows)


def snapshot(services: Services, user_id: str) -> list[Change]:
    """Every record of the user's index as an upsert (shaped as :func:`upsert` shapes it),
    for a consumer that starts over."""
    return [Change(key, "upsert", {
        **{k: v for k, v in doc.items()
           if k not in ("blob_hash", "blob", "notify_at", "notified", "notice")},  # the notifier's
        **services.sealer.open(user_id, f"{COLLECTION}|{key}", doc["blob"])})
        for key, doc in services.store.query(COLLECTION, [Filter("user_id", "==", user_id)])]


def clear_user(services: Services, user_id: str) -> int:
    """Drop the user's whole index (before a full resync rebuilds it)."""
    services.store.delete_where(names.SERIES, [Filter("user_id", "==", user_id)])
    return services.store.delete_where(COLLECTION, [Filter("user_id", "==", user_id)])


def series_ids(services: Services, user_id: str) -> list[str]:
    """Recurring masters indexed for the user (re-expanded daily as the window moves)."""
    return [doc["event_id"] for _key, doc in
            services.store.query(names.SERIES, [Filter("user_id", "==", user_id)])]


def index_event(services: Services, gateway: CalendarGateway, user_id: str, email: str,
                event: Mapping[str, Any]) -> list[Change]:
    """Bring the index in line with one changed event now."""
    pending = plan_event(services, gateway, user_id, email, event)
    pending.write(services)
    return pending.changes


def plan_event(services: Services, gateway: CalendarGateway, user_id: str, email: str,
               event: Mapping[str, Any], *, fresh: bool = False) -> Pending:
    """The index changes one changed event from the sync makes, not yet written.

    ``fresh``: the user's index was cleared in this sync (a full one), so a record not
    written by this sync is known to be absent and is not read. A series is compared
    with its stored occurrences in one query rather than one read per occurrence."""
    event_id = event["id"]
    pending = Pending()
    if event.get("status") == "cancelled":
        pending.add(plan_delete(services, record_key(user_id, event_id)))
        if not event.get("recurringEventId"):
            for key in _series_records(services, user_id, event_id):
                pending.add(Change(key, "delete"))
            pending.series[record_key(user_id, event_id)] = None
        return pending
    if event.get("recurrence"):
        lo, hi = window(services)
        occurrences = gateway.instances(event_id, lo, hi)
        stored = {} if fresh else _series_records(services, user_id, event_id)
        for occurrence in occurrences:
            if occurrence.get("status") == "cancelled":
                continue
            # Every record of this series carries its id (instances and exceptions alike), so
            # one not in the query is not stored.
            existing = stored.pop(record_key(user_id, occurrence["id"]), None)
            pending.add(plan_upsert(services, user_id, email, occurrence, event_id, existing))
        for key in stored:  # what the series no longer has
            pending.add(Change(key, "delete"))
        pending.series[record_key(user_id, event_id)] = event_id
        return pending
    pending.add(plan_upsert(services, user_id, email, event, event.get("recurringEventId"),
                            None if fresh else _READ))
    return pending
