"""``calendar-changes`` handler: sync, write join details, update the index, in one pass.

Messages come in two shapes (see contracts): a push ``{"user_id", "channel_id",
"message_number", "received"}`` and a sync request ``{"user_id", "reason": ...}`` ("initial",
"reconcile", ...; "resync" forces a full sync). Pub/Sub hands one user's messages over in order,
one at a time (ordering key: the user id), so each message syncs by itself: no lease, no
pending flag, no second message (:mod:`shared.changes.sync`). A push received before the last
committed listing began is covered by it and acknowledged after one read.

The sync streams: page by page, each changed event gets keyword handling (organizer's copy
only) and its index changes computed against the stored records; the page's changes go out as
sealed ``meetings-updated`` messages (chunks of :data:`PAYLOAD_CHUNK`) and only then are they
written; the token is committed after the last page. Memory is bounded by a page, not by the
calendar, and a crash anywhere replays from the old token and publishes again what the app may
have missed (duplicates are harmless: the app applies changes by key).

Errors: Google's transient failures are retried inside the Google gateway, then raised for
redelivery (nothing was committed, so the redelivery lists the same changes); a delegation
refusal puts the user in the error state and the message is acknowledged; Google's daily limit
acknowledges too (the token is not committed: the next push or the periodic reconciliation
runs the sync); messages for users who are not active are acknowledged and their channel
stopped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.changes import sync
from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import BadRequest
from shared.google.calendar import Calendar
from shared.google.errors import (
    DailyLimitExceeded,
    DelegationRefused,
    GoneOrMissing,
    GooglePermanentError,
)
from shared.keyword.event_patch import apply_keyword, is_organizer_copy
from shared.keyword.providers import keyword_map
from shared.logs import fields
from shared.meetings import index as meetings_index
from shared.store.base import Filter
from shared.users import watch
from shared.users.status import COLLECTION as USERS
from shared.users.status import calendar_target, mark_error

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

PAYLOAD_CHUNK = 100
WINDOW_REFRESH = timedelta(days=1)


def handle_calendar_change(services: Services, data: dict[str, Any]) -> None:
    """Entry from ``process_changes``; raising asks for redelivery."""
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("calendar-changes message without user_id")
    state = sync.load(services.store, user_id)
    reason = data.get("reason")
    if not reason and sync.covered(state, data.get("received")):
        _LOGGER.info("push covered by the last sync acknowledged", extra=fields(user=user_id))
        return
    user = services.store.get(USERS, user_id)
    if not user or user.get("status") != "active":
        _LOGGER.info("change for a user who is not active acknowledged",
                     extra=fields(user=user_id, status=(user or {}).get("status")))
        _stop_channel(services, user, data.get("channel_id"))
        return
    try:
        _sync(services, user_id, user, state, force_full=reason == "resync")
    except DelegationRefused as exc:
        _delegation_refused(services, user_id, exc)
    except DailyLimitExceeded as exc:
        # Hours, not seconds (Calendar "usage limits exceeded"): redelivery within minutes
        # would fail again and dead-letter. The token was not committed, so the user's next
        # push or the periodic reconciliation runs the work. The user did nothing wrong.
        _LOGGER.warning("Google's daily limit reached: sync deferred", extra=fields(
            user=user_id, status=exc.status, reason=exc.reason))


def _gateway(services: Services, user: dict[str, Any]) -> sync.CalendarGateway:
    """A user's primary calendar as the user; a workspace's room calendar as the room reader,
    with private meetings' titles and people hidden (:class:`PrivateMeetingsHidden`)."""
    acts_as, calendar_id = calendar_target(user)
    calendar = services.workspace.calendar(acts_as, calendar_id)
    if user.get("kind") == "workspace":
        return PrivateMeetingsHidden(calendar)
    return calendar


# What a room's devices get of a meeting its organizer marked private: when it is and how to
# join it (the room was invited, so people in the room may join), not what it is or who comes.
HIDDEN_OF_PRIVATE = ("summary", "attendees", "organizer", "creator")


def hide_private(event: dict[str, Any]) -> dict[str, Any]:
    """A private (or confidential) event without its title and people; others unchanged."""
    if event.get("visibility") not in ("private", "confidential"):
        return event
    return {k: v for k, v in event.items() if k not in HIDDEN_OF_PRIVATE}


class PrivateMeetingsHidden:
    """A room calendar's gateway whose private events lose title and people before the index
    sees them (every read path: sync pages, a series' instances, single reads). The room
    reader's ``writer`` role (:mod:`shared.users.workspaces`) shows Google's full event so the
    join link is found; this is where a device's view is narrowed again."""

    def __init__(self, inner: Calendar) -> None:
        self._inner = inner

    @property
    def list_signature(self) -> str:
        return self._inner.list_signature

    def list_page(self, *, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        page = self._inner.list_page(sync_token=sync_token, page_token=page_token)
        page["items"] = [hide_private(e) for e in page.get("items") or []]
        return page

    def instances(self, event_id: str, time_min: Any, time_max: Any) -> list[dict[str, Any]]:
        return [hide_private(e) for e in self._inner.instances(event_id, time_min, time_max)]

    def get(self, event_id: str) -> dict[str, Any]:
        return hide_private(self._inner.get(event_id))

    def patch(self, event_id: str, body: dict[str, Any], *, etag: str | None,
              send_updates: str = "none",
              conference_data_version: int | None = None) -> dict[str, Any]:
        return self._inner.patch(event_id, body, etag=etag, send_updates=send_updates,
                                 conference_data_version=conference_data_version)

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        self._inner.stop_channel(channel_id, resource_id)


def _sync(services: Services, user_id: str, user: dict[str, Any], state: dict[str, Any], *,
          force_full: bool) -> None:
    """List page by page; per page: keywords, index changes, publish, write; then commit."""
    email = str(user["email"])
    gateway = _gateway(services, user)
    listing = sync.start(gateway, services.store, user_id, state, services.clock.now(),
                         force_full=force_full)
    reset = False
    if listing.full:
        # The app replaces this user's list when the index is rebuilt over records it may hold:
        # some were cleared, or a sync was committed before (a crash right after an earlier
        # clear left nothing to clear). It goes out with the first page, before its writes.
        cleared = meetings_index.clear_user(services, user_id)
        reset = cleared > 0 or bool(state.get("last_sync"))
    owed = reset  # the first page always comes (Listing.pages), empty or not
    keywords = keyword_map(services, user)
    events = patches = published = 0
    for page in listing.pages():
        sent, changes = _sync_page(services, gateway, user_id, user, keywords, page,
                                   fresh=listing.full, reset=owed)
        events, patches, published = events + len(page), patches + sent, published + changes
        owed = False
        # Dropped before the next page is fetched: one page and its changes in memory, not two.
        del page
    refreshed = _refresh_due(services, state, listing.full)
    if refreshed and not listing.full:  # a full sync just indexed the current window
        published += _publish_then_write(
            services, user_id, _refresh_window(services, gateway, user_id, email))
    # Only now: a crash before this replays the sync from the old token (sync.py docstring).
    sync.commit(services.store, user_id, listing, services.clock.now(),
                window_refreshed=refreshed)
    _LOGGER.info("sync done", extra=fields(user=user_id, full=listing.full, events=events,
                                           patches=patches, index_changes=published,
                                           reset=reset, list_calls=listing.list_calls))


def _sync_page(services: Services, gateway: sync.CalendarGateway, user_id: str,
               user: dict[str, Any], keywords: dict[str, str], page: list[dict[str, Any]], *,
               fresh: bool, reset: bool) -> tuple[int, int]:
    """One page: keywords (organizer's copy), index changes, publish, write; returns (patches
    sent, index changes published). Its events and changes are gone when it returns."""
    email = str(user["email"])
    pending = meetings_index.Pending()
    patches = 0
    for event in page:
        if _should_patch(services, event, email):
            event, sent = apply_keyword(services, gateway, user_id, user, event, keywords)
            patches += sent
        pending.extend(meetings_index.plan_event(services, gateway, user_id, email, event,
                                                 fresh=fresh))
    return patches, _publish_then_write(services, user_id, pending, reset=reset)


def _publish_then_write(services: Services, user_id: str, pending: meetings_index.Pending,
                        *, reset: bool = False) -> int:
    """Tell the app, then write: never the other way round (module docstring)."""
    _publish(services, user_id, pending.changes, reset=reset)
    pending.write(services)
    return len(pending.changes)


def _should_patch(services: Services, event: dict[str, Any], email: str) -> bool:
    """Organizer's copy, not cancelled, not over (masters always: the series may go on)."""
    if event.get("status") == "cancelled" or not is_organizer_copy(event, email):
        return False
    if event.get("recurrence"):
        return True
    end = (event.get("end") or {}).get("dateTime") or (event.get("end") or {}).get("date")
    if not end:
        return True
    when = from_rfc3339(end) if "T" in end else from_rfc3339(end + "T00:00:00Z")
    return when > services.clock.now()


def _refresh_due(services: Services, state: dict[str, Any], full: bool) -> bool:
    """A full sync, or a day since the last window refresh (read from the sync document
    already in hand: no read of its own)."""
    last = state.get("last_window_refresh")
    return full or not last or from_rfc3339(str(last)) + WINDOW_REFRESH <= services.clock.now()


def _refresh_window(services: Services, gateway: sync.CalendarGateway, user_id: str,
                    email: str) -> meetings_index.Pending:
    """Once a day re-expand recurring series over the moved window and drop past records."""
    pending = meetings_index.Pending()
    for series_id in meetings_index.series_ids(services, user_id):
        try:
            master = gateway.get(series_id)
        except GoneOrMissing:
            master = {"id": series_id, "status": "cancelled"}
        pending.extend(meetings_index.plan_event(services, gateway, user_id, email, master))
    lo, _hi = meetings_index.window(services)
    planned = {c.key for c in pending.changes}
    for key, _doc in services.store.query(meetings_index.COLLECTION, [
            Filter("user_id", "==", user_id), Filter("end", "<=", to_rfc3339(lo))]):
        if key not in planned:  # a series' past occurrence is already a delete
            pending.add(meetings_index.Change(key, "delete"))
    return pending


def _publish(services: Services, user_id: str, changes: list[meetings_index.Change], *,
             reset: bool = False) -> None:
    """Sealed ``meetings-updated`` messages (chunks of at most ``PAYLOAD_CHUNK`` changes).

    With ``reset`` the first message says ``"reset": true``: the consumer drops everything it
    holds for the user before applying the changes (sent even with no changes)."""
    starts = range(0, len(changes), PAYLOAD_CHUNK) if changes else range(1 if reset else 0)
    for start in starts:
        chunk = changes[start:start + PAYLOAD_CHUNK]
        place = f"{Topics.MEETINGS_UPDATED}|{user_id}|{uuid.uuid4().hex}"
        payload: dict[str, Any] = {
            "changes": [{"key": c.key, "op": c.op, "record": c.record} for c in chunk]}
        if reset and start == 0:
            payload["reset"] = True
        services.bus.publish(Topics.MEETINGS_UPDATED, {
            "user_id": user_id, "place": place, "count": len(chunk),
            **services.sealer.seal_for_publish(user_id, place, payload)}, ordering_key=user_id)


def _stop_channel(services: Services, user: dict[str, Any] | None,
                  channel_id: object) -> None:
    """Best effort: a channel of an inactive user keeps costing pushes until stopped."""
    if not isinstance(channel_id, str) or not channel_id:
        return
    channel = services.store.get(watch.COLLECTION, channel_id)
    if not channel or channel.get("state") == watch.STOPPED:
        return
    if not user or not user.get("email") or not channel.get("resource_id"):
        services.store.merge(watch.COLLECTION, channel_id, {"state": watch.STOPPED})
        return
    try:
        watch.stop_channel(services, calendar_target(user)[0], channel_id,
                           str(channel["resource_id"]))
    except (GooglePermanentError, DelegationRefused) as exc:
        _LOGGER.info("channel stop refused; it expires on its own",
                     extra=fields(user=channel.get("user_id"), error=type(exc).__name__))


def _delegation_refused(services: Services, user_id: str, exc: DelegationRefused) -> None:
    _LOGGER.warning("delegation refused while syncing", extra=fields(user=user_id,
                                                                     error=exc.error))
    mark_error(services, user_id, exc)
