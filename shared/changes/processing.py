"""``calendar-changes`` handler: coalesce pushes, sync, write join details, update the index.

Messages come in two shapes (see contracts): a push ``{"user_id", "channel_id",
"message_number"}`` and a sync request ``{"user_id", "reason": ...}``. A push only marks the
user pending and queues *one* sync request per burst (on the same ordering key, so it runs
after the pushes already queued); a sync request takes the user's lease and syncs, again while
pushes arrived during the run (bounded rounds). For each changed event: keyword handling
(organizer's copy only) then indexing; the index changes go out as one sealed
``meetings-updated`` message.

Errors: Google's transient failures are retried inside the Google gateway, then raised for
redelivery (the lease is released with ``pending`` kept); a delegation refusal puts the user in
the error state and the message is acknowledged; messages for users who are not active are
acknowledged and their channel stopped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.changes import sync
from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import BadRequest, TransientError
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
from shared.users import watch
from shared.users.status import COLLECTION as USERS
from shared.users.status import calendar_target, mark_error

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

MAX_ROUNDS = 5
PAYLOAD_CHUNK = 100
WINDOW_REFRESH = timedelta(days=1)


class LeaseHeld(TransientError):
    """The user's sync lease is taken; redelivery (with backoff) retries after it expires."""


def handle_calendar_change(services: Services, data: dict[str, Any]) -> None:
    """Entry from ``process_changes``; raising asks for redelivery."""
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("calendar-changes message without user_id")
    user = services.store.get(USERS, user_id)
    if not user or user.get("status") != "active":
        _LOGGER.info("change for a user who is not active acknowledged",
                     extra=fields(user=user_id, status=(user or {}).get("status")))
        _stop_channel(services, user, data.get("channel_id"))
        return
    now = services.clock.now()
    if not data.get("reason"):
        push = f"{data.get('channel_id')}:{data.get('message_number')}"
        if sync.request_sync(services.store, user_id, now, push):
            _queue_sync(services, user_id)
        return
    if data.get("reason") == "resync":
        sync.forget_token(services.store, user_id)
    holder = uuid.uuid4().hex
    if not sync.take_lease(services.store, user_id, holder, now):
        # Messages of one user arrive in order, one at a time, so a lease held now is almost
        # always one a dead instance left behind: retry once it has run out, rather than trust
        # the holder to see ``pending`` (a live holder does, and the retry then costs one list).
        raise LeaseHeld("another worker holds this user's sync lease")
    try:
        for round_number in range(MAX_ROUNDS):
            _sync_round(services, user_id, user)
            last = round_number == MAX_ROUNDS - 1
            if not sync.finish_round(services.store, user_id, holder, services.clock.now(),
                                     last=last):
                break
        if sync.still_pending(services.store, user_id) and sync.request_sync(
                services.store, user_id, services.clock.now()):
            _queue_sync(services, user_id)  # changes kept coming: continue in a new message
    except DelegationRefused as exc:
        sync.release(services.store, user_id, holder, pending=False)
        _delegation_refused(services, user_id, exc)
    except DailyLimitExceeded as exc:
        # Hours, not seconds (Calendar "usage limits exceeded"): redelivery within minutes
        # would fail again and dead-letter. The work stays owed (``pending``); the user's next
        # push or the periodic reconciliation runs it. The user did nothing wrong: no status.
        sync.release(services.store, user_id, holder, pending=True)
        _LOGGER.warning("Google's daily limit reached: sync deferred", extra=fields(
            user=user_id, status=exc.status, reason=exc.reason))
    except Exception:  # a crashed instance releases nothing: its lease runs out instead
        sync.release(services.store, user_id, holder, pending=True)
        raise


def _queue_sync(services: Services, user_id: str) -> None:
    try:
        services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id, "reason": "push"},
                             ordering_key=user_id)
    except Exception:
        sync.unqueue(services.store, user_id)
        raise


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


def _sync_round(services: Services, user_id: str, user: dict[str, Any]) -> None:
    email = str(user["email"])
    gateway = _gateway(services, user)
    result = sync.run_sync(gateway, services.store, user_id, services.clock.now())
    changes: list[meetings_index.Change] = []
    cleared = meetings_index.clear_user(services, user_id) if result.full else 0
    keywords = keyword_map(services, user)
    patches = 0
    for event in result.events:
        if _should_patch(services, event, email):
            event, sent = apply_keyword(services, gateway, user_id, user, event, keywords)
            patches += sent
        changes += meetings_index.index_event(services, gateway, user_id, email, event)
    changes += _refresh_window(services, gateway, user_id, email, full=result.full)
    # The app replaces this user's list when the index was rebuilt (a full sync that
    # dropped records) or a crashed round's changes may never have reached it.
    reset = result.recover or (result.full and cleared > 0)
    if result.recover and not result.full:
        changes = meetings_index.snapshot(services, user_id)
    _publish(services, user_id, changes, reset=reset)
    result.commit()  # only now: a crash before this replays the round (sync.py docstring)
    _LOGGER.info("sync round done", extra=fields(user=user_id, full=result.full,
                                                 events=len(result.events), patches=patches,
                                                 index_changes=len(changes), reset=reset))


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


def _refresh_window(services: Services, gateway: sync.CalendarGateway, user_id: str,
                    email: str, *, full: bool) -> list[meetings_index.Change]:
    """Once a day re-expand recurring series over the moved window and drop past records."""
    now = services.clock.now()
    state = services.store.get(sync.COLLECTION, user_id) or {}
    last = state.get("last_window_refresh")
    if not full and last and from_rfc3339(last) + WINDOW_REFRESH > now:
        return []
    services.store.merge(sync.COLLECTION, user_id, {"last_window_refresh": to_rfc3339(now)})
    if full:
        return []  # the full sync just indexed everything over the current window
    changes: list[meetings_index.Change] = []
    for series_id in meetings_index.series_ids(services, user_id):
        try:
            master = gateway.get(series_id)
        except GoneOrMissing:
            master = {"id": series_id, "status": "cancelled"}
        changes += meetings_index.index_event(services, gateway, user_id, email, master)
    lo, _hi = meetings_index.window(services)
    from shared.store.base import Filter

    for key, _doc in services.store.query(meetings_index.COLLECTION, [
            Filter("user_id", "==", user_id), Filter("end", "<=", to_rfc3339(lo))]):
        change = meetings_index.delete(services, key)
        if change:
            changes.append(change)
    return changes


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
