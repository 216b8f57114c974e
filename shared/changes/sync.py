"""Calendar sync engine: sync tokens, paging one page at a time, 410 recovery, coalescing.

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

One pass, no lease. Pub/Sub delivers one user's ``calendar-changes`` messages in order, one at a
time (``infra/functions.tf``: ordering enabled, the user id as ordering key), so the message in
hand *is* the user's only sync: it reads the sync document once (:func:`load`), lists page by
page (:meth:`Listing.pages`, never the whole calendar at once) and commits the new token with one
blind merge after the last page (:func:`commit`). No lease, no ``pending`` or ``queued`` flag,
no crash-recovery mark: each of those cost a transaction per push.

Coalescing without writes. Intake stamps every push with the time it received it
(``received``); the commit records when its listing began (``listed_from``). A push received
more than :data:`CLOCK_MARGIN` before the last committed listing began is already covered by it
(:func:`covered`) and is acknowledged after that one read: fifty pushes during one sync cost
about one more list. The margin absorbs the skew between the intake's and the processing's
clocks and Google's own delay between a change and its listing; a push inside it is synced again
(one more list), never skipped.

Nothing lost. The token is committed only after every page was processed and published, so a
crash anywhere replays the same changes from the old token (processing publishes each page's
index changes *before* writing them, so a replay that finds the index already written was also
already published). Two syncs of one user can only overlap when Pub/Sub redelivers a message
whose first delivery is still running (an expired ack deadline); both list from the same stored
token and the commit is last-writer-wins, so the stored token is one of two valid tokens: the
older one makes the next sync list changes again (idempotent: the index compares, keyword
patches carry their markers and Google's etag), it never skips a change, because each sync only
commits a token after processing everything its own listing returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
# A push must have been received this long before a listing began to count as covered by it:
# intake and processing run on different instances, whose clocks Google keeps synchronised to
# within milliseconds, so half a second is ample, and short enough that a burst of pushes
# shares a few listings (bench_processing: 13 Calendar calls for a 50-push burst, minimum 9;
# with 2 s it was 21). A push it wrongly covered would wait for the next push or the
# reconciliation, so the margin errs far on the safe side.
CLOCK_MARGIN = timedelta(milliseconds=500)


class SyncTokenMissing(TransientError):
    """The last page of a listing carried no ``nextSyncToken`` (Google has been seen to do
    so: googleapis/google-api-php-client#2637). Nothing is committed; the sync is retried."""


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


def load(store: Store, user_id: str) -> dict[str, Any]:
    """The user's sync document (one read; ``{}`` before the first sync). Callers pass it on
    instead of reading it again."""
    return store.get(COLLECTION, user_id) or {}


def covered(state: dict[str, Any], received: object) -> bool:
    """True when a push received at ``received`` (RFC 3339, stamped by intake) happened more
    than :data:`CLOCK_MARGIN` before the last committed listing began: that listing saw its
    change. A push without a readable stamp is never covered."""
    listed_from = state.get("listed_from")
    if not isinstance(received, str) or not received or not listed_from:
        return False
    try:
        when = from_rfc3339(received)
    except ValueError:
        return False
    return when + CLOCK_MARGIN <= from_rfc3339(str(listed_from))


@dataclass
class Listing:
    """One sync's listing, page by page. ``full`` is known before the first page is handed
    out (a 410 on the stored token is met while starting), so the caller can clear the index
    first; ``next_sync_token`` is set once :meth:`pages` ran to its end."""

    full: bool
    listed_from: datetime
    signature: str
    list_calls: int = 0
    next_sync_token: str | None = None
    _token: str | None = field(default=None, repr=False)
    _first: dict[str, Any] | None = field(default=None, repr=False)
    _gateway: Any = field(default=None, repr=False)

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """The changed events, one page at a time (the earlier pages are not kept).

        The items leave the page before they are handed out, so while the caller fetches the
        next page only the caller's reference keeps them (processing drops its own first):
        one page in memory, not two."""
        page = self._first
        self._first = None
        while page is not None:
            yield list(page.pop("items", None) or [])
            page_token = page.get("nextPageToken")
            if not page_token:
                next_sync = page.get("nextSyncToken")
                if not next_sync:
                    # Storing None would make every later push a silent full sync. The sync
                    # fails instead (redelivered, then dead-lettered where someone looks).
                    raise SyncTokenMissing("events.list ended without a nextSyncToken")
                self.next_sync_token = str(next_sync)
                return
            page = self._gateway.list_page(sync_token=self._token, page_token=page_token)
            self.list_calls += 1


def start(gateway: CalendarGateway, store: Store, user_id: str, state: dict[str, Any],
          now: datetime, *, force_full: bool = False) -> Listing:
    """Begin an incremental listing from the stored token, or a full one without a token, with
    ``force_full`` (an explicit resync), or after a 410 (``fullSyncRequired``). The first page
    is fetched here."""
    token = None if force_full else state.get("sync_token")
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
            first = gateway.list_page(sync_token=token, page_token=None)
            return Listing(False, now, signature, 1, None, token, first, gateway)
        except SyncTokenExpired:
            _LOGGER.info("sync token expired, full resync", extra=fields(user=user_id))
            # Only here is a write spent before the commit: a full listing that then fails
            # must not try the dead token again on the retry.
            store.merge(COLLECTION, user_id, {"sync_token": None})
            calls = 1
    first = gateway.list_page(sync_token=None, page_token=None)
    return Listing(True, now, signature, calls + 1, None, None, first, gateway)


def commit(store: Store, user_id: str, listing: Listing, now: datetime, *,
           window_refreshed: bool = False) -> None:
    """After every page was processed and published: the new token, when the listing began
    (what later pushes are compared with) and, with ``window_refreshed``, the daily window
    refresh, all in one blind merge."""
    if listing.next_sync_token is None:
        raise SyncTokenMissing("commit before the listing ended")
    update: dict[str, Any] = {"sync_token": listing.next_sync_token,
                              "listed_from": to_rfc3339(listing.listed_from, "milliseconds"),
                              "last_sync": to_rfc3339(now), "sync_params": listing.signature}
    if listing.full:
        update["last_full_sync"] = to_rfc3339(now)
    if window_refreshed:
        update["last_window_refresh"] = to_rfc3339(listing.listed_from)
    store.merge(COLLECTION, user_id, update)
