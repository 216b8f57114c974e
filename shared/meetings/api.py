"""The JSON API behind ``meetings_api``: meetings list, RSVP, scheduling, free/busy, presence.

Routes (relative to the function URL; ``{email}`` is a user's or a workspace room's address):

- ``GET  /users/{email}/meetings?from=&to=&page_size=&page_token=``: meetings that have not
  ended and start before ``to`` (default: within 7 days), soonest first, paged
- ``GET  /users/{email}/meetings/{id}``: one meeting
- ``POST /users/{email}/meetings/{id}:rsvp`` ``{"response": "accepted|declined|tentative"}``
- ``POST /users/{email}/meetings`` ``{"text": "Design review tomorrow 3pm @webex"}`` (quick add)
  or ``{"title", "start", "end", "attendees": [...], "keyword": "@webex"}``
- ``DELETE /users/{email}/meetings/{id}``: cancel a meeting the user organizes
- ``POST /freebusy`` ``{"users": [...], "from", "to", "duration_minutes"}``
- ``GET  /users/{email}/presence``
- ``GET  /users/{email}/page``: the HTML meetings page (see :mod:`shared.meetings.page`)
- ``POST /users/{room}/bookings``, ``.../bookings/{id}:extend``, ``.../bookings/{id}:release``:
  room booking from the room's device (see :mod:`shared.meetings.booking`)

Records are opened from the sealed index only after the caller is authorised for that user,
so an unauthorised call never causes a decryption. Times are RFC 3339 with the offset of the
user's Calendar time zone.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import BadRequest, Forbidden, NotFound
from shared.google.calendar import Calendar
from shared.google.errors import EtagMismatch, GoneOrMissing, GooglePermanentError
from shared.http.messages import ApiRequest, ApiResponse
from shared.http.routing import Router
from shared.logs import fields
from shared.meetings import index as meetings_index
from shared.meetings.auth import Principal, authenticate
from shared.store import names
from shared.store.base import Filter

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)
DEFAULT_DAYS = 7
MAX_RANGE_DAYS = 62
PAGE_SIZE, MAX_PAGE_SIZE = 50, 250
FREEBUSY_CHUNK = 50  # calendars per freebusy.query (Google's documented maximum)
MAX_FREEBUSY_USERS = 1000
RESPONSES = ("accepted", "declined", "tentative")
YEARS = range(1970, 9000)  # accepted years of any time given to the API
_EMAIL = re.compile(r"^[^@\s/]{1,64}@[A-Za-z0-9.-]{1,255}$")
_NO_ROUTE = "no such route; see the meetings API section of the README"
_PAGE = re.compile(r"^/users/[^/]+/page/?$")
ROUTES = Router([
    ("POST", "/freebusy", "freebusy"),
    ("GET", "/users/<email>/meetings", "list"),
    ("POST", "/users/<email>/meetings", "schedule"),
    ("GET", "/users/<email>/meetings/<event_id:event_id>", "get"),
    ("DELETE", "/users/<email>/meetings/<event_id:event_id>", "cancel"),
    ("POST", "/users/<email>/meetings/<event_id:event_id>:rsvp", "rsvp"),
    ("GET", "/users/<email>/presence", "presence"),
    ("GET", "/users/<email>/page", "page"),
    ("POST", "/users/<email>/bookings", "book"),
    ("POST", "/users/<email>/bookings/<event_id:event_id>:extend", "extend"),
    ("POST", "/users/<email>/bookings/<event_id:event_id>:release", "release"),
], not_found=_NO_ROUTE, converters={"event_id": r"[A-Za-z0-9_-]{1,1024}"})


def handle(services: Services, request: ApiRequest) -> ApiResponse:
    headers = request.headers
    if request.method == "GET" and _PAGE.match(request.path):
        # HTML all the way, errors included, and its own credential (shared.meetings.page).
        from shared.meetings import page as meetings_page

        return meetings_page.handle(services, request, request.path.split("/")[2],
                                    meetings_page.Api(email=_email, meetings=list_meetings))
    from shared.meetings import page_session

    caller = page_session.booking_caller(services, request) or authenticate(services, headers)
    endpoint, values = _route(request)
    if endpoint == "freebusy":
        return _freebusy(services, caller, request)
    email = _email(values["email"])
    if not caller.may_read(email):
        raise Forbidden("this caller may not see this user's meetings")
    user_id = services.pseudonym(email)
    user = services.store.get(names.USERS, user_id) or {}
    if user.get("status") != "active":
        raise NotFound("no active user or workspace with this address")
    if endpoint in ("book", "extend", "release"):
        from shared.meetings import booking

        return booking.handle(services, caller, user, endpoint, values, request)
    if endpoint == "list":
        return ApiResponse.json(200, list_meetings(services, user, request.query))
    if endpoint == "schedule":
        _may_act(caller, email)
        with _google_refused_caller(services, email):
            return ApiResponse.json(201, _schedule(services, user, request.json()))
    if endpoint == "presence":
        from shared.presence import vacation as presence

        view = presence.presence_of(user_id, user)  # presence is a field of the user read above
        return ApiResponse.json(200, {k: v for k, v in view.items() if k != "user_id"})
    event_id = values["event_id"]
    if endpoint == "rsvp":
        _may_act(caller, email)
        with _google_refused_caller(services, email):
            return ApiResponse.json(200, _rsvp(services, user, event_id, request.json()))
    if endpoint == "get":
        return ApiResponse.json(200, get_meeting(services, user, event_id))
    if endpoint == "cancel":
        _may_act(caller, email)
        with _google_refused_caller(services, email):
            return ApiResponse.json(200, _cancel(services, user, event_id))
    raise NotFound(_NO_ROUTE)  # a route in ROUTES without its branch here


def _route(request: ApiRequest) -> tuple[str, Mapping[str, Any]]:
    """The endpoint and path values (404, 405 with Allow). Under ``/users/`` a malformed
    address is a 400 even where no route follows it (``/users/..%2Fben@example.com/...``),
    as it was when the address was checked before the rest of the path."""
    try:
        return ROUTES.match(request.method, request.path)
    except NotFound:
        segments = request.path.rstrip("/").split("/")
        if len(segments) > 2 and segments[1] == "users" and segments[2]:
            _email(segments[2])
        raise


def _may_act(caller: Principal, email: str) -> None:
    if not caller.may_act_for(email):
        raise Forbidden("this caller may read but not act for this user")


def _email(text: str) -> str:
    from urllib.parse import unquote

    email = unquote(text).strip().lower()
    if not _EMAIL.match(email):
        raise BadRequest("not an email address")
    return email


def _time(query: dict[str, Any], name: str, default: datetime | None) -> datetime:
    """An aware date-time, or ``default``; ``None`` makes it required. Years outside
    :data:`YEARS` are refused: a window or time zone shift from year 1 or 9999 overflows."""
    value = query.get(name)
    if value is None:
        if default is None:
            raise BadRequest(f"{name} is required (an RFC 3339 date-time)")
        return default
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest(f"{name} must be an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{name} needs a UTC offset")
    if parsed.year not in YEARS:
        raise BadRequest(f"{name} must be in the years {YEARS.start} to {YEARS.stop - 1}")
    return parsed


def _zone(user: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(user.get("timezone") or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


# -- reading the index -----------------------------------------------------------------------
def list_meetings(services: Services, user: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """Meetings not yet ended (after ``from``) and starting before ``to``, soonest first."""
    now = services.clock.now()
    start = _time(query, "from", now)
    end = _time(query, "to", now + timedelta(days=DEFAULT_DAYS))
    if end <= start or end - start > timedelta(days=MAX_RANGE_DAYS):
        raise BadRequest(f"to must be after from, at most {MAX_RANGE_DAYS} days later")
    try:
        size = int(query.get("page_size", PAGE_SIZE))
        offset = int(base64.urlsafe_b64decode(query["page_token"]).decode()) \
            if query.get("page_token") else 0
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("page_size or page_token is malformed") from None
    if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
        raise BadRequest(f"page_size must be 1..{MAX_PAGE_SIZE}")
    user_id = user["user_id"]
    # Meetings that began up to the index's past window ago may still be running.
    earliest = start - timedelta(days=services.config.index_past_days)
    rows = services.store.query(meetings_index.COLLECTION, [
        Filter("user_id", "==", user_id), Filter("start", ">=", to_rfc3339(earliest)),
        Filter("start", "<", to_rfc3339(end))], order_by="start")
    rows = [(k, d) for k, d in rows if d["end"] > to_rfc3339(start)
            and d.get("status") != "cancelled"]
    page = rows[offset:offset + size]
    body: dict[str, Any] = {"meetings": [_view(services, user, k, d) for k, d in page]}
    if offset + size < len(rows):
        body["next_page_token"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return body


def get_meeting(services: Services, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    key = meetings_index.record_key(user["user_id"], event_id)
    doc = services.store.get(meetings_index.COLLECTION, key)
    if doc is None:
        raise NotFound("no such meeting in this user's upcoming meetings")
    return _view(services, user, key, doc)


def _view(services: Services, user: dict[str, Any], key: str, doc: dict[str, Any]) -> dict[str, Any]:
    record = services.sealer.open(user["user_id"], f"{meetings_index.COLLECTION}|{key}",
                                  doc["blob"])
    zone = _zone(user)

    def local(text: str) -> str:
        if doc.get("all_day"):
            return text[:10]
        return from_rfc3339(text).astimezone(zone).isoformat()

    return {"id": doc["event_id"], "title": record.get("title") or "",
            "start": local(doc["start"]), "end": local(doc["end"]),
            "all_day": bool(doc.get("all_day")), "join_url": record.get("join_url"),
            "service": doc.get("service") or None, "sip_uri": record.get("sip_uri"),
            "organizer": bool(record.get("organizer")),
            "response_status": record.get("response_status")}


# -- acting on Calendar ----------------------------------------------------------------------
def _calendar(services: Services, user: dict[str, Any]) -> Calendar:
    if user.get("kind") == "workspace":
        raise Forbidden("a workspace's calendar is read-only for this API")
    return services.workspace.calendar(user["email"])


@contextmanager
def _event_not_found() -> Iterator[None]:
    """A 404/410 from Calendar is the caller's unknown event, not our failure."""
    try:
        yield
    except GoneOrMissing:
        raise NotFound("no such event in this user's calendar") from None


def _rsvp(services: Services, user: dict[str, Any], event_id: str,
          body: object) -> dict[str, Any]:
    response = body.get("response") if isinstance(body, dict) else None
    if response not in RESPONSES:
        raise BadRequest(f"response must be one of {', '.join(RESPONSES)}")
    calendar = _calendar(services, user)
    with _event_not_found():
        event = calendar.get(event_id)
    attendees = event.get("attendees") or []
    email = user["email"]
    mine = [a for a in attendees if a.get("self") or str(a.get("email", "")).lower() == email]
    if not mine:
        raise BadRequest("the user is not an attendee of this meeting")
    for attendee in mine:
        attendee["responseStatus"] = response
    try:
        with _event_not_found():
            calendar.patch(event_id, {"attendees": attendees}, etag=event.get("etag", "*"),
                           send_updates="all")
    except EtagMismatch:
        raise BadRequest("the meeting changed meanwhile; try again") from None
    return {"id": event_id, "response_status": response}


def _schedule(services: Services, user: dict[str, Any], body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    calendar = _calendar(services, user)
    text = body.get("text")
    if text is not None:
        if not isinstance(text, str) or not text.strip() or len(text) > 1000:
            raise BadRequest("text must be a non-empty string of at most 1000 characters")
        try:
            event = calendar.quick_add(text, send_updates="all")
        except GooglePermanentError as exc:
            if exc.status != 400:
                raise
            # Google's own parser refused the text (e.g. a duration past the calendar's
            # range): the caller's input, said so, and never retried.
            _LOGGER.info("quick add text refused by Google", extra=fields(
                user_id=user["user_id"], reason=exc.reason))
            raise BadRequest("Google Calendar could not make an event of this text; give "
                             "title, start and end instead") from None
        _keyword_to_location(services, calendar, event)
        return {"id": event["id"]}
    title, attendees = body.get("title"), body.get("attendees", [])
    if not isinstance(title, str) or not title.strip() or len(title) > 1000:
        raise BadRequest("title must be a non-empty string of at most 1000 characters")
    start, end = _time(body, "start", None), _time(body, "end", None)
    if end <= start or end - start > timedelta(days=14):
        raise BadRequest("end must be after start, at most 14 days later")
    if not isinstance(attendees, list) or len(attendees) > 200 or not all(
            isinstance(a, str) and _EMAIL.match(a) for a in attendees):
        raise BadRequest("attendees must be a list of at most 200 email addresses")
    keyword = body.get("keyword") or ""
    if keyword and (not isinstance(keyword, str)
                    or keyword.split(":")[0].lower() not in services.config.keywords):
        raise BadRequest("keyword must be one of " + ", ".join(services.config.keywords))
    event = calendar.insert({
        "summary": title, "location": keyword,
        "start": {"dateTime": to_rfc3339(start)}, "end": {"dateTime": to_rfc3339(end)},
        "attendees": [{"email": a} for a in attendees]}, send_updates="all")
    return {"id": event["id"]}


def _keyword_to_location(services: Services, calendar: Calendar, event: dict[str, Any]) -> None:
    """Quick add leaves ``@webex`` in the title (as Google does); keywords are read from the
    Location, so move it there and let keyword processing add the join details as usual."""
    from shared.keyword.keywords import find_keyword, remove_span

    summary = event.get("summary") or ""
    found = find_keyword(summary, services.config.keywords)
    if found is None or find_keyword(event.get("location"), services.config.keywords):
        return
    keyword = summary[found.start:found.end]
    location = " ".join(filter(None, [event.get("location") or "", keyword]))
    with _event_not_found():
        calendar.patch(event["id"], {
            "summary": remove_span(summary, found.start, found.end).strip() or summary,
            "location": location}, etag=event.get("etag", "*"))


def _cancel(services: Services, user: dict[str, Any], event_id: str) -> dict[str, Any]:
    calendar = _calendar(services, user)
    with _event_not_found():
        event = calendar.get(event_id)
        if not (event.get("organizer") or {}).get("self"):
            raise Forbidden("only the organizer can cancel a meeting")
        calendar.delete(event_id, send_updates="all")
    return {"id": event_id, "status": "cancelled"}


# -- free/busy -------------------------------------------------------------------------------
def _freebusy(services: Services, caller: Principal, request: ApiRequest) -> ApiResponse:
    body = request.json()
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    users = body.get("users")
    if not isinstance(users, list) or not users or len(users) > MAX_FREEBUSY_USERS or not all(
            isinstance(u, str) and _EMAIL.match(u) for u in users):
        raise BadRequest(f"users must be a list of 1..{MAX_FREEBUSY_USERS} email addresses")
    users = list(dict.fromkeys(u.lower() for u in users))
    start, end = _time(body, "from", None), _time(body, "to", None)
    if end <= start or end - start > timedelta(days=MAX_RANGE_DAYS):
        raise BadRequest(f"to must be after from, at most {MAX_RANGE_DAYS} days apart")
    duration = body.get("duration_minutes", 30)
    if not isinstance(duration, int) or not 5 <= duration <= 24 * 60:
        raise BadRequest("duration_minutes must be an integer from 5 to 1440")
    # Free/busy is asked as the caller (a user sees what their domain shares with them).
    if caller.kind != "user":
        raise Forbidden("free/busy is asked on behalf of a user: use a user's credentials")
    caller_doc = services.store.get(names.USERS, services.pseudonym(caller.email)) or {}
    if caller_doc.get("status") != "active" or caller_doc.get("kind") == "workspace":
        raise Forbidden("free/busy is only for active hybridcal users; ask an admin to "
                        "activate this account")
    calendar = services.workspace.calendar(caller.email)
    busy: dict[str, list[dict[str, str]]] = {}
    errors: dict[str, str] = {}
    for chunk_start in range(0, len(users), FREEBUSY_CHUNK):
        chunk = users[chunk_start:chunk_start + FREEBUSY_CHUNK]
        with _google_refused_caller(services, caller.email):
            answer = calendar.freebusy(start, end, chunk)
        for email, info in (answer.get("calendars") or {}).items():
            if info.get("errors"):
                errors[email] = str(info["errors"][0].get("reason", "unknown"))
            else:
                busy[email] = [{"start": b["start"], "end": b["end"]}
                               for b in info.get("busy") or []]
    slots = common_free_slots(busy.values(), start, end, timedelta(minutes=duration))
    return ApiResponse.json(200, {"busy": busy, "errors": errors, "free_slots": [
        {"start": to_rfc3339(a), "end": to_rfc3339(b)} for a, b in slots[:10]],
        "queries": (len(users) + FREEBUSY_CHUNK - 1) // FREEBUSY_CHUNK})


@contextmanager
def _google_refused_caller(services: Services, email: str) -> Iterator[None]:
    """Google refusing to act as the user (delegation revoked, account suspended or deleted
    since activation) is that account's problem, not a failure of ours: a 403 naming it, and
    a log line an admin can act on. Free/busy, scheduling, RSVP and cancelling act as them."""
    from shared.google.errors import DelegationRefused

    try:
        yield
    except DelegationRefused as exc:
        _LOGGER.warning("Google refused to act as the user", extra=fields(
            user_id=services.pseudonym(email), error=exc.error))
        raise Forbidden("Google refused access to this account's calendar "
                        f"({exc.error}); ask an admin to check the account") from None


def common_free_slots(busy_lists: Iterable[Iterable[Mapping[str, str]]], start: datetime,
                      end: datetime, length: timedelta) -> list[tuple[datetime, datetime]]:
    """Gaps of at least ``length`` in the union of everyone's busy intervals (sweep, O(n log n))."""
    intervals = sorted((max(from_rfc3339(b["start"]), start), min(from_rfc3339(b["end"]), end))
                       for busy in busy_lists for b in busy)
    slots, cursor = [], start
    for busy_start, busy_end in intervals:
        if busy_start - cursor >= length:
            slots.append((cursor, busy_start))
        cursor = max(cursor, busy_end)
    if end - cursor >= length:
        slots.append((cursor, end))
    return slots

