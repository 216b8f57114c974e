"""Calendar sync engine: sync tokens, paging, 410 recovery, and the per-user lease.

Like gcal_sync, the engine sees only two narrow things: a :class:`CalendarGateway` (one user's
calendar, Google behind it) and the ``sync/{user_id}`` document in the store. Processing decides
what to do with the changed events.

List parameters. Google refuses ``timeMin``, ``timeMax``, ``orderBy``, ``q``, ``updatedMin``
and ``iCalUID`` together with ``syncToken``, and a token is only valid with the parameters of
the full sync that produced it, so the full sync uses none of them: it lists the whole calendar
(past events included) once, at activation and after a 410, and the index window is applied by
the caller. ``singleEvents`` stays false in both, so a recurring series arrives as one master
(patched once; expanded with ``events.instances`` for the index) and modified or cancelled
occurrences as exceptions. ``showDeleted`` is left at its default: the full sync does not need
old tombstones (the index is rebuilt from scratch), and incremental syncs return deletions as
``status: cancelled`` whatever it says.

Coalescing. Pushes only mark the user ``pending``; one sync message is queued per burst
(:func:`request_sync`), and the worker holding the lease syncs again while ``pending`` was set
during its run (:func:`finish_round`). Fifty pushes therefore cost one or two incremental lists.
The sync token is saved only after the last page *and* after the caller processed the changes
(:meth:`SyncResult.commit`), so a crash mid-way replays the same changes instead of losing them;
a round that died after writing the index but before publishing is caught by ``round_open``
(:func:`_open_round`) and the next one publishes the whole index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import TransientError
from shared.google.errors import SyncTokenExpired
from shared.logs import fields
from shared.store import names
from shared.store.base import Store

_LOGGER = logging.getLogger(__name__)

COLLECTION = names.SYNC
LEASE_SECONDS = 120
QUEUED_SECONDS = 600  # a queued sync message that never ran is forgotten after this


class SyncTokenMissing(TransientError):
    """The last page of a listing carried no ``nextSyncToken`` (Google has been seen to do
    so: googleapis/google-api-php-client#2637). Nothing is committed; the round is retried."""


class CalendarGateway(Protocol):
    """The calendar operations sync and processing need, for one calendar
    (:class:`shared.google.calendar.Calendar` in production)."""

    def list_page(self, *, sync_token: str | None, page_token: str | None) -> dict[str, Any]: ...

    def instances(self, event_id: str, time_min: datetime, time_max: datetime
                  ) -> list[dict[str, Any]]: ...

    def get(self, event_id: str) -> dict[str, Any]: ...

    def patch(self, event_id: str, body: dict[str, Any], *, etag: str | None,
              send_updates: str = "none",
              conference_data_version: int | None = None) -> dict[str, Any]: ...

    def stop_channel(self, channel_id: str, resource_id: str) -> None: ...


@dataclass
class SyncResult:
    """Changed events of one sync; call :meth:`commit` once they are processed."""

    events: list[dict[str, Any]]
    full: bool
    next_sync_token: str | None
    list_calls: int
    _commit: Callable[[], None] = field(repr=False, default=lambda: None)
    # A round before this one indexed changes and died before it published them: the app
    # must get the whole index again (see ``take_lease``).
    recover: bool = False

    def commit(self) -> None:
        self._commit()


def run_sync(gateway: CalendarGateway, store: Store, user_id: str, now: datetime,
             *, force_full: bool = False) -> SyncResult:
    """Incremental sync from the stored token (all pages), or a full one without a token or
    after a 410 (``fullSyncRequired``)."""
    state = store.get(COLLECTION, user_id) or {}
    token = None if force_full else state.get("sync_token")
    recover = bool(state.get("recover"))
    signature = str(getattr(gateway, "list_signature", ""))
    if token and state.get("sync_params", "") != signature:
        # Google's token is valid only for the listing that produced it (Calendar "Synchronize
        # resources efficiently"): another parameter set, or a token from before this record
        # existed, means a full sync.
        _LOGGER.info("list parameters changed since the sync token was made, full resync",
                     extra=fields(user=user_id))
        token = None
    calls = 0
    if token:
        try:
            events, next_token, calls = _list_all(gateway, token)
            return _result(store, user_id, now, events, False, next_token, calls, recover,
                           signature)
        except SyncTokenExpired:
            _LOGGER.info("sync token expired, full resync", extra=fields(user=user_id))
            store.merge(COLLECTION, user_id, {"sync_token": None})
            calls += 1
    events, next_token, more = _list_all(gateway, None)
    return _result(store, user_id, now, events, True, next_token, calls + more, recover,
                   signature)


def _list_all(gateway: CalendarGateway, token: str | None
              ) -> tuple[list[dict[str, Any]], str | None, int]:
    events: list[dict[str, Any]] = []
    page_token: str | None = None
    calls = 0
    while True:
        page = gateway.list_page(sync_token=token, page_token=page_token)
        calls += 1
        events.extend(page.get("items") or [])
        page_token = page.get("nextPageToken")
        if not page_token:
            next_sync = page.get("nextSyncToken")
            if not next_sync:
                # Storing None would make every later push a silent full sync. The round
                # fails instead (redelivered, then dead-lettered where someone looks).
                raise SyncTokenMissing("events.list ended without a nextSyncToken")
            return events, str(next_sync), calls


def _result(store: Store, user_id: str, now: datetime, events: list[dict[str, Any]],
            full: bool, next_token: str | None, calls: int, recover: bool,
            signature: str) -> SyncResult:
    def commit() -> None:
        # The round is over (processed and published): close it in the same write.
        update: dict[str, Any] = {"sync_token": next_token, "last_sync": to_rfc3339(now),
                                  "round_open": False, "recover": False,
                                  "sync_params": signature}
        if full:
            update["last_full_sync"] = to_rfc3339(now)
        store.merge(COLLECTION, user_id, update)

    return SyncResult(events, full, next_token, calls, commit, recover)


def forget_token(store: Store, user_id: str) -> None:
    """Force the next sync to be a full one (used by an explicit resync request)."""
    store.merge(COLLECTION, user_id, {"sync_token": None})


# -- lease and coalescing -------------------------------------------------------------------
def _active(doc: dict[str, Any], key: str, now: datetime) -> bool:
    value: str | None = doc.get(key)
    if not value:
        return False
    return from_rfc3339(value) > now


def request_sync(store: Store, user_id: str, now: datetime, push: str = "") -> bool:
    """A push arrived: mark the user pending. True when the caller must queue a sync message
    (no sync running and none queued); False when a running or queued sync will cover it.

    ``push`` names the push (channel and message number). The push that queued the sync is
    recorded, so its redelivery queues again: an instance that died between this write and
    the publish would otherwise leave a queued mark with no message behind it.
    """

    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        doc = dict(doc or {})
        doc["pending"] = True
        if _active(doc, "lease_until", now):
            return doc, False
        if _active(doc, "queued_until", now) and not (push and doc.get("queued_by") == push):
            return doc, False
        doc["queued_until"] = to_rfc3339(now + timedelta(seconds=QUEUED_SECONDS))
        doc["queued_by"] = push or None
        return doc, True

    return store.transact(COLLECTION, user_id, change)


def unqueue(store: Store, user_id: str) -> None:
    """Publishing the queued sync message failed: let the next push queue one again."""
    store.merge(COLLECTION, user_id, {"queued_until": None})


def take_lease(store: Store, user_id: str, holder: str, now: datetime,
               seconds: int = LEASE_SECONDS) -> bool:
    """Become the user's only syncing worker; otherwise leave ``pending`` set for the holder
    (whose ``finish_round`` sees it, or, if it died, the caller's retry after the lease)."""

    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        doc = dict(doc or {})
        if _active(doc, "lease_until", now) and doc.get("lease_holder") != holder:
            doc["pending"] = True
            return doc, False
        doc.update(lease_holder=holder, pending=False, queued_until=None, queued_by=None,
                   lease_until=to_rfc3339(now + timedelta(seconds=seconds)))
        _open_round(doc)
        return doc, True

    return store.transact(COLLECTION, user_id, change)


def _open_round(doc: dict[str, Any]) -> None:
    """Mark a round as started, in the lease write it already makes (no write of its own).

    A round indexes changes, publishes them, then commits the token, which closes it. One
    still open when the next round starts died between its index writes and its publish:
    re-listing from the old token finds the index already up to date and would publish
    nothing, so the next round publishes the user's whole index instead (``recover``).
    """
    if doc.get("round_open"):
        doc["recover"] = True
    doc["round_open"] = True


def finish_round(store: Store, user_id: str, holder: str, now: datetime, *, last: bool = False,
                 seconds: int = LEASE_SECONDS) -> bool:
    """After a sync round: True (lease kept and extended, ``pending`` cleared) when pushes
    arrived meanwhile and ``last`` is false; otherwise the lease is released, False."""

    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
        doc = dict(doc or {})
        if doc.get("lease_holder") != holder:
            return doc, False  # lease lost (expired and taken): the new holder covers pending
        if doc.get("pending") and not last:
            doc.update(pending=False, lease_until=to_rfc3339(now + timedelta(seconds=seconds)))
            _open_round(doc)
            return doc, True
        doc.update(lease_holder=None, lease_until=None)
        return doc, False

    return store.transact(COLLECTION, user_id, change)


def release(store: Store, user_id: str, holder: str, *, pending: bool) -> None:
    """Give the lease up after a failure; ``pending`` keeps the work owed for the retry."""

    def change(doc: dict[str, Any] | None) -> tuple[dict[str, Any], None]:
        doc = dict(doc or {})
        if doc.get("lease_holder") == holder:
            doc.update(lease_holder=None, lease_until=None)
            if pending:
                doc["pending"] = True
        return doc, None

    store.transact(COLLECTION, user_id, change)


def still_pending(store: Store, user_id: str) -> bool:
    return bool((store.get(COLLECTION, user_id) or {}).get("pending"))
