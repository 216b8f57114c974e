"""Room booking from the room's own device: book now, extend, end early (issue #21).

Routes (under ``meetings_api``; ``{room}`` is an active workspace's address):

- ``POST /users/{room}/bookings`` ``{"minutes": 30, "title"?: "..."}`` → ``201 {"id", "start",
  "end", "join_url"}`` when ``freebusy`` shows the room free from now for that long, else
  ``409`` with ``busy_from``/``busy_until``;
- ``POST /users/{room}/bookings/{id}:extend`` ``{"minutes": 15}`` → ``200`` with the new end,
  or ``409`` when the longer booking would run into the next meeting;
- ``POST /users/{room}/bookings/{id}:release`` → ``200``: the booking ends now, or is deleted
  when it had not started yet.

Why a scheduling account: a room's calendar cannot be impersonated, and a booking must look
to Google like any person's booking so that the room's own rules (auto-accept, decline when
busy) apply. So every device booking is an event organised by ``HYBRIDCAL_SCHEDULING_ACCOUNT``
(a delegated Workspace user) that invites the room. Google copies it into the room's calendar,
which is watched and synced like every workspace's, so the booking reaches the room's meetings
list, board and join notifications through the sealed index, as any other meeting does: this
module stores nothing of its own, which keeps the plaintext guarantee as it was.

Only the room's own device credential or an admin may book; users are refused (403), and a
booking is recognised as this room's by a private property holding the room's pseudonym, so
one room's device cannot touch another room's booking even by id. Inserts carry an id chosen
here, so a retried insert (a timeout after Google applied it) finds its own event instead of
booking twice.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import BadRequest, Forbidden, NotFound, PermanentError
from shared.google.errors import (
    AccessDenied,
    DelegationRefused,
    EtagMismatch,
    GoneOrMissing,
    GooglePermanentError,
)
from shared.http.messages import ApiRequest, ApiResponse
from shared.logs import fields

if TYPE_CHECKING:
    from shared.google.calendar import Calendar
    from shared.meetings.auth import Principal
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

ENDPOINTS = ("book", "extend", "release")
ROOM_KEY = "hybridcal_booking_room"  # private extended property: the booked room's pseudonym
MIN_MINUTES, MAX_MINUTES = 5, 240
MAX_TITLE = 200
DEFAULT_TITLE = "Booked on the room device"
# How far past the wanted end busy time is followed, so a 409 can say until when the room is
# taken even when several meetings follow each other.
LOOKAHEAD = timedelta(hours=12)


class BookingUnavailable(PermanentError):
    """This deployment cannot book rooms (not configured, or Google refuses the account)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def handle(services: Services, caller: Principal, room: Mapping[str, Any], endpoint: str,
           values: Mapping[str, Any], request: ApiRequest) -> ApiResponse:
    """One booking call for ``room`` (an active record the API already looked up)."""
    email = str(room.get("email", "")).lower()
    if not (caller.kind == "admin" or (caller.kind == "device" and caller.email == email)):
        raise Forbidden("only the room's own device or an admin may book a room")
    if room.get("kind") != "workspace":
        raise NotFound("no workspace (room) with this address; only rooms can be booked")
    body: object = request.json() if endpoint != "release" or request.body else {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    try:
        if endpoint == "book":
            return book(services, room, body)
        if endpoint == "extend":
            return extend(services, room, str(values["event_id"]), body)
        return release(services, room, str(values["event_id"]))
    except BookingUnavailable as exc:
        return ApiResponse.json(exc.status, {"error": {"code": exc.status,
                                                       "message": str(exc)}})


# -- the three operations --------------------------------------------------------------------
def book(services: Services, room: Mapping[str, Any], body: Mapping[str, Any]) -> ApiResponse:
    minutes = _minutes(body)
    title = _title(body)
    calendar = _calendar(services)
    email, room_id = str(room["email"]), str(room["user_id"])
    start = services.clock.now().replace(microsecond=0)
    end = start + timedelta(minutes=minutes)
    busy = _busy(calendar, email, start, end + LOOKAHEAD)
    taken = _conflict(busy, start, end)
    if taken is not None:
        return _busy_answer(room, taken, start)
    event: dict[str, Any] = {
        "id": _new_event_id(), "summary": title,
        "start": {"dateTime": to_rfc3339(start)}, "end": {"dateTime": to_rfc3339(end)},
        "attendees": [{"email": email, "resource": True}],
        "guestsCanModify": False, "transparency": "opaque",
        "extendedProperties": {"private": {ROOM_KEY: room_id}},
    }
    join_url = _join_details(services, room, event)
    created = _insert(calendar, event)
    if _room_declined(created, email):
        # freebusy said free, but a meeting arrived meanwhile: the room's rules win
        _delete(calendar, created["id"])
        busy = _busy(calendar, email, start, end + LOOKAHEAD)
        return _busy_answer(room, _conflict(busy, start, end) or (start, end), start)
    _LOGGER.info("room booked from its device", extra=fields(user=room_id, minutes=minutes))
    return ApiResponse.json(201, {**_view(room, created), "join_url": join_url})


def extend(services: Services, room: Mapping[str, Any], event_id: str,
           body: Mapping[str, Any]) -> ApiResponse:
    minutes = _minutes(body)
    calendar = _calendar(services)
    event = _booking(calendar, room, event_id)
    now = services.clock.now()
    end = _end(event)
    if end <= now:
        return _error(409, "this booking has already ended; book the room again instead")
    new_end = end + timedelta(minutes=minutes)
    busy = _busy(calendar, str(room["email"]), end, new_end + LOOKAHEAD)
    taken = _conflict(busy, end, new_end)
    if taken is not None:
        return _busy_answer(room, taken, end, verb="extend")
    patched = _patch_end(calendar, event, new_end)
    _LOGGER.info("room booking extended", extra=fields(user=room["user_id"], minutes=minutes))
    return ApiResponse.json(200, _view(room, patched))


def release(services: Services, room: Mapping[str, Any], event_id: str) -> ApiResponse:
    calendar = _calendar(services)
    event = _booking(calendar, room, event_id)
    now = services.clock.now().replace(microsecond=0)
    start, end = _start(event), _end(event)
    if now <= start:
        _delete(calendar, event_id)
        _LOGGER.info("room booking released before it started",
                     extra=fields(user=room["user_id"]))
        return ApiResponse.json(200, {**_view(room, event), "status": "deleted"})
    if now < end:
        event = _patch_end(calendar, event, now)
        _LOGGER.info("room booking ended early", extra=fields(user=room["user_id"]))
    return ApiResponse.json(200, {**_view(room, event), "status": "ended"})


# -- input -----------------------------------------------------------------------------------
def _minutes(body: Mapping[str, Any]) -> int:
    minutes = body.get("minutes")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not (
            MIN_MINUTES <= minutes <= MAX_MINUTES):
        raise BadRequest(f"minutes must be a whole number from {MIN_MINUTES} to {MAX_MINUTES}")
    return minutes


def _title(body: Mapping[str, Any]) -> str:
    title = body.get("title", DEFAULT_TITLE)
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise BadRequest(f"title must be a non-empty string of at most {MAX_TITLE} characters")
    return title.strip()


def _new_event_id() -> str:
    """Google's event ids are base32hex (``0-9a-v``), 5 to 1024 characters."""
    return base64.b32hexencode(secrets.token_bytes(15)).decode().lower()


# -- Google ----------------------------------------------------------------------------------
def _calendar(services: Services) -> Calendar:
    account = services.config.scheduling_account
    if not account:
        raise BookingUnavailable(
            "room booking is not set up here: an admin sets HYBRIDCAL_SCHEDULING_ACCOUNT", 501)
    return services.workspace.calendar(account)


def _google(exc: Exception) -> BookingUnavailable:
    """Google refusing the scheduling account is the deployment's problem, said plainly."""
    _LOGGER.error("room booking refused by Google for the scheduling account",
                  extra=fields(problem=type(exc).__name__))
    return BookingUnavailable(
        "room booking is unavailable: Google refuses the scheduling account (check its "
        "delegation and that it may book this room)", 503)


def _busy(calendar: Calendar, room: str, start: datetime,
          end: datetime) -> list[tuple[datetime, datetime]]:
    """The room's busy intervals in the window, sorted (Google merges overlapping ones)."""
    try:
        answer = calendar.freebusy(start, end, [room])
    except (DelegationRefused, AccessDenied) as exc:
        raise _google(exc) from None
    calendars: dict[str, dict[str, Any]] = answer.get("calendars") or {}
    info = calendars.get(room) or next(iter(calendars.values()), {})
    if info.get("errors"):
        raise _google(PermanentError(str(info["errors"][0].get("reason", ""))))
    return sorted((from_rfc3339(b["start"]), from_rfc3339(b["end"]))
                  for b in info.get("busy") or [])


def _conflict(busy: list[tuple[datetime, datetime]], start: datetime,
              end: datetime) -> tuple[datetime, datetime] | None:
    """The first busy stretch overlapping ``[start, end)``: from its start until the room is
    free again (back-to-back meetings count as one stretch)."""
    for index, (busy_start, busy_end) in enumerate(busy):
        if busy_start < end and busy_end > start:
            until = busy_end
            for next_start, next_end in busy[index + 1:]:
                if next_start > until:
                    break
                until = max(until, next_end)
            return busy_start, until
    return None


def _insert(calendar: Calendar, event: dict[str, Any]) -> dict[str, Any]:
    try:
        return calendar.insert(event, send_updates="none")
    except GooglePermanentError as exc:
        if exc.status == 409:  # our own earlier attempt was applied: it is this booking
            try:
                return calendar.get(event["id"])
            except GoneOrMissing:
                raise _google(exc) from None
        if isinstance(exc, AccessDenied):
            raise _google(exc) from None
        raise
    except DelegationRefused as exc:
        raise _google(exc) from None


def _delete(calendar: Calendar, event_id: str) -> None:
    try:
        calendar.delete(event_id, send_updates="none")
    except GoneOrMissing:
        pass  # already gone: a retried delete, or released twice


def _booking(calendar: Calendar, room: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    """The scheduling account's event ``event_id`` if it is a live booking of this room."""
    try:
        event = calendar.get(event_id)
    except GoneOrMissing:
        event = {}
    except (DelegationRefused, AccessDenied) as exc:
        raise _google(exc) from None
    private = (event.get("extendedProperties") or {}).get("private") or {}
    if event.get("status") == "cancelled" or private.get(ROOM_KEY) != room["user_id"]:
        raise NotFound("no such booking of this room (released, or made elsewhere)")
    return event


def _patch_end(calendar: Calendar, event: dict[str, Any], end: datetime) -> dict[str, Any]:
    """Move the booking's end, only if nobody changed it since we read it (``If-Match``)."""
    try:
        return calendar.patch(event["id"], {"end": {"dateTime": to_rfc3339(end)}},
                              etag=event.get("etag"), send_updates="none")
    except EtagMismatch:
        # A retried patch whose first attempt was applied (the answer was lost) meets its
        # own change: that is success, anything else is someone else's edit.
        try:
            current = calendar.get(event["id"])
        except GoneOrMissing:
            current = {}
        if current.get("status") != "cancelled" and current.get("end") and _end(current) == end:
            return current
        raise BadRequest("the booking changed meanwhile; read the room's meetings and try "
                         "again") from None
    except GoneOrMissing:
        raise NotFound("no such booking of this room (released, or made elsewhere)") from None


def _room_declined(event: Mapping[str, Any], room: str) -> bool:
    return any(str(a.get("email", "")).lower() == room and a.get("responseStatus") == "declined"
               for a in event.get("attendees") or [])


def _join_details(services: Services, room: Mapping[str, Any],
                  event: dict[str, Any]) -> str | None:
    """Join details from the admin's provider for device bookings, written into the event
    the way a keyword would have written them (URL in Location, the room's join block)."""
    provider = services.config.device_booking_provider
    if not provider:
        return None
    from shared.keyword import joinblock
    from shared.keyword.providers import ProviderContext, generate

    details = generate(ProviderContext(services=services, user_id=str(room["user_id"]),
                                       email=str(room["email"]), user=room, event=event),
                       provider)
    event["location"] = details.url
    event["description"] = joinblock.render(
        joinblock.BlockContent(details.url, details.service_name, details.sip_uri,
                               details.meeting_number),
        locale=services.config.org_locale or room.get("locale"), timezone=room.get("timezone"),
        created=services.clock.now())
    return details.url


# -- answers ---------------------------------------------------------------------------------
def _start(event: Mapping[str, Any]) -> datetime:
    return from_rfc3339(str((event.get("start") or {}).get("dateTime")))


def _end(event: Mapping[str, Any]) -> datetime:
    return from_rfc3339(str((event.get("end") or {}).get("dateTime")))


def _local(room: Mapping[str, Any], when: datetime) -> str:
    try:
        zone = ZoneInfo(str(room.get("timezone") or "UTC"))
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).isoformat()


def _view(room: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": event["id"], "start": _local(room, _start(event)),
            "end": _local(room, _end(event))}


def _error(status: int, message: str, **extra: str) -> ApiResponse:
    return ApiResponse.json(status, {"error": {"code": status, "message": message}, **extra})


def _busy_answer(room: Mapping[str, Any], taken: tuple[datetime, datetime], start: datetime,
                 verb: str = "book") -> ApiResponse:
    busy_from, busy_until = taken
    until = _local(room, busy_until)
    if busy_from <= start:
        message = f"the room is busy until {until[11:16]}"
    else:
        message = (f"the room is free only until {_local(room, busy_from)[11:16]}: too short to "
                   f"{verb} for that long")
    return _error(409, message, busy_from=_local(room, busy_from), busy_until=until)
