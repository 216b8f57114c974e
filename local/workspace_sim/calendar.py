"""Calendar v3 resources over the simulator's state: events (with sync tokens, etags,
organizer and attendee copies, recurrence), watch channels, settings, ACLs and free/busy."""

from __future__ import annotations

import copy
import hashlib
import itertools
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local.workspace_sim import recurrence
from local.workspace_sim.errors import ApiError, not_found

SHARED_FIELDS = ("summary", "description", "location", "start", "end", "recurrence",
                 "attendees", "conferenceData", "status", "transparency", "visibility",
                 "colorId", "guestsCanModify")
ATTENDEE_EDITABLE = ("attendees", "extendedProperties", "reminders", "colorId")
# Events created from Gmail (eventType "fromGmail") accept changes only to these (Google
# Workspace Updates, 30 May 2024, "The Calendar API now distinguishes events created from
# Gmail"); other fields answer 403 disallowedFieldMutation (the answer Google gives for a
# field the caller may not change, e.g. kewisch/gdata-provider#437).
FROM_GMAIL_EDITABLE = ("reminders", "colorId", "visibility", "status", "extendedProperties")
# What a calendar's "reader" still sees of a private event (the rest is hidden).
READER_SEES_OF_PRIVATE = frozenset({
    "kind", "etag", "id", "status", "htmlLink", "created", "updated", "start", "end",
    "endTimeUnspecified", "recurrence", "recurringEventId", "originalStartTime",
    "transparency", "visibility", "iCalUID", "sequence", "eventType"})
SYNC_FORBIDDEN = ("timeMin", "timeMax", "q", "orderBy", "updatedMin", "iCalUID",
                  "privateExtendedProperty", "sharedExtendedProperty")
_ID_ALPHABET = string.ascii_lowercase[:22] + string.digits  # base32hex, as Google uses


def new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar: str
    address: str
    token: str | None
    expiration: datetime
    message_number: int = 0
    stopped: bool = False


@dataclass
class Calendar:
    id: str
    owner: str
    resource_id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    generation: str = field(default_factory=lambda: secrets.token_hex(4))
    seq: int = 0
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    acl: dict[str, dict[str, Any]] = field(default_factory=dict)
    writable: bool = True
    room: bool = False


class CalendarState:
    """All calendars of the domain; every method runs under the simulator's lock."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.calendars: dict[str, Calendar] = {}
        self.channels: dict[str, Channel] = {}
        self._etags = itertools.count(1)
        # (calendar, event id) whose content patches Google refused (refused_patch fault)
        self.refused: set[tuple[str, str]] = set()

    # -- helpers ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.sim.clock.now()

    def _admin_of(self, cal: Calendar, caller: str) -> bool:
        """Workspace admins manage resource (room) calendars, as in the Admin console."""
        return cal.room and bool(self.sim.users.get(caller, {}).get("admin"))

    def calendar_for(self, caller: str, calendar_id: str, write: bool) -> Calendar:
        cal_id = caller if calendar_id == "primary" else calendar_id.lower()
        cal = self.calendars.get(cal_id)
        if cal is None:
            raise not_found()
        if cal.owner != caller and not self._admin_of(cal, caller):
            rule = cal.acl.get(f"user:{caller}")
            role = (rule or {}).get("role")
            if role not in ("reader", "writer", "owner") or (write and role == "reader"):
                if role is None:
                    raise not_found()
                raise ApiError(403, "requiredAccessLevel",
                               "You need to have writer access to this calendar.")
        if write and not cal.writable:
            raise ApiError(403, "requiredAccessLevel",
                           "You need to have writer access to this calendar.")
        return cal

    def _stamp(self, cal: Calendar, event: dict[str, Any]) -> None:
        cal.seq += 1
        event["_seq"] = cal.seq
        event["etag"] = f'"{3000000000000000 + next(self._etags)}"'
        event["updated"] = self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._notify(cal)

    def _notify(self, cal: Calendar) -> None:
        for channel in self.channels.values():
            if channel.calendar == cal.id and not channel.stopped:
                self.sim.queue_push(channel, "exists")

    @staticmethod
    def public(event: dict[str, Any]) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in event.items() if not k.startswith("_")}
        out["kind"] = "calendar#event"
        return out

    def tz(self, cal: Calendar) -> str:
        return self.sim.users.get(cal.owner, {}).get("timezone", "UTC")

    # -- events ----------------------------------------------------------------------------
    def insert(self, caller: str, calendar_id: str, body: dict[str, Any],
               conference_version: int = 0) -> dict[str, Any]:
        cal = self.calendar_for(caller, calendar_id, write=True)
        if "start" not in body or "end" not in body:
            raise ApiError(400, "required", "Missing end time." if "start" in body
                           else "Missing start time.")
        event = {k: copy.deepcopy(v) for k, v in body.items() if not k.startswith("_")}
        event.setdefault("id", new_id())
        if event["id"] in cal.events and cal.events[event["id"]].get("status") != "cancelled":
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        event.setdefault("status", "confirmed")
        event.setdefault("eventType", "default")
        event["iCalUID"] = event.get("iCalUID") or f"{event['id']}@google.com"
        event["created"] = self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event["sequence"] = 0
        event["organizer"] = {"email": cal.id, "self": True}
        event["creator"] = {"email": caller, **({"self": True} if caller == cal.id else {})}
        event["htmlLink"] = f"https://www.google.com/calendar/event?eid={event['id']}"
        self._conference(event, body, conference_version)
        if "attendees" in event:
            event["attendees"] = self._normalise_attendees(event["attendees"], cal.id, None)
        cal.events[event["id"]] = event
        self._stamp(cal, event)
        self._propagate(cal, event)
        return self._view(cal, event)

    def role(self, cal: Calendar, caller: str) -> str:
        if cal.owner == caller or self._admin_of(cal, caller):
            return "owner"
        return str((cal.acl.get(f"user:{caller}") or {}).get("role") or "none")

    def _view(self, cal: Calendar, event: dict[str, Any],
              caller: str | None = None) -> dict[str, Any]:
        out = self.public(event)
        if caller is not None and out.get("visibility") in ("private", "confidential") \
                and self.role(cal, caller) == "reader":
            # ACL reference, role "reader": "Private events will appear to users with reader
            # access, but event details will be hidden." A busy block: when, not what or who.
            return {k: v for k, v in out.items() if k in READER_SEES_OF_PRIVATE}
        for attendee in out.get("attendees", []):
            if attendee.get("email") == cal.id:
                attendee["self"] = True
            else:
                attendee.pop("self", None)
        org = out.get("organizer", {})
        if org.get("email") == cal.id:
            org["self"] = True
        else:
            org.pop("self", None)
        return out

    @staticmethod
    def _normalise_attendees(attendees: list[dict[str, Any]], organizer: str,
                             previous: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        before = {a.get("email", "").lower(): a for a in previous or []}
        result = []
        for attendee in attendees:
            email = str(attendee.get("email", "")).lower()
            if not email:
                raise ApiError(400, "invalid", "Invalid attendee email.")
            merged = {**before.get(email, {}), **attendee, "email": email}
            merged.setdefault("responseStatus", "accepted" if email == organizer
                              else "needsAction")
            if email == organizer:
                merged["organizer"] = True
            merged.pop("self", None)
            result.append(merged)
        return result

    def _conference(self, event: dict[str, Any], body: dict[str, Any], version: int) -> None:
        request = (body.get("conferenceData") or {}).get("createRequest")
        if version < 1:
            if "conferenceData" in body:
                event.pop("conferenceData", None)
            return
        if not request:
            return
        kind = (request.get("conferenceSolutionKey") or {}).get("type")
        if kind != "hangoutsMeet":
            raise ApiError(400, "invalid", "Invalid conference type value.")
        # "If an ID provided is the same as for the previous request, the request is ignored"
        # (Events reference, conferenceData.createRequest.requestId).
        used = event.setdefault("_meet_request_ids", [])
        if request.get("requestId") in used:
            return
        used.append(request.get("requestId"))
        if not self.sim.meet_allowed:
            event["conferenceData"] = {"createRequest": {**request,
                                                         "status": {"statusCode": "failure"}}}
            return
        if self.sim.meet_pending:
            # Creation is asynchronous: the answer may say "pending" and the conference
            # arrives in a later change of the event (complete_meet_requests).
            event["conferenceData"] = {"createRequest": {**request,
                                                         "status": {"statusCode": "pending"}}}
            return
        self._meet_success(event, request)

    def complete_pending_meet(self) -> int:
        """Google finishes every pending Meet creation: each event changes (and is pushed)."""
        done = 0
        for cal in list(self.calendars.values()):
            for event in list(cal.events.values()):
                request = (event.get("conferenceData") or {}).get("createRequest") or {}
                organizer = (event.get("organizer") or {}).get("email") == cal.id
                if organizer and (request.get("status") or {}).get("statusCode") == "pending":
                    self._meet_success(event, request)
                    self._stamp(cal, event)
                    self._propagate(cal, event, event.get("attendees"))
                    done += 1
        return done

    def _meet_success(self, event: dict[str, Any], request: dict[str, Any]) -> None:
        code = "-".join("".join(secrets.choice(string.ascii_lowercase) for _ in range(n))
                        for n in (3, 4, 3))
        event["conferenceData"] = {
            "createRequest": {**{k: v for k, v in request.items() if k != "status"},
                              "status": {"statusCode": "success"}},
            "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{code}",
                             "label": f"meet.google.com/{code}"}],
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "conferenceId": code,
        }

    def get(self, caller: str, calendar_id: str, event_id: str) -> dict[str, Any]:
        cal = self.calendar_for(caller, calendar_id, write=False)
        event = self._find(cal, event_id)
        if event is None:
            raise not_found()
        return self._view(cal, event, caller)

    def _find(self, cal: Calendar, event_id: str) -> dict[str, Any] | None:
        event = cal.events.get(event_id)
        if event is not None:
            return event
        master_id, _, suffix = event_id.rpartition("_")
        master = cal.events.get(master_id)
        if master and master.get("recurrence") and suffix:
            for inst in recurrence.expand(master, None, None, self._exceptions(cal, master_id),
                                          self.tz(cal)):
                if inst["id"] == event_id:
                    return inst
        return None

    def _exceptions(self, cal: Calendar, master_id: str) -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in cal.events.values()
                if e.get("recurringEventId") == master_id}

    def patch(self, caller: str, calendar_id: str, event_id: str, body: dict[str, Any],
              if_match: str | None, conference_version: int = 0,
              may_lock: Callable[[], bool] | None = None) -> dict[str, Any]:
        """``may_lock`` (the service's HTTP calls only): draws whether Google refuses this
        event's content changes from now on (the ``refused_patch`` fault)."""
        cal = self.calendar_for(caller, calendar_id, write=True)
        current = self._find(cal, event_id)
        if current is None or current.get("status") == "cancelled":
            raise not_found()
        if if_match and if_match != current.get("etag"):
            raise ApiError(412, "conditionNotMet", "Precondition Failed")
        content = [k for k in body if k not in FROM_GMAIL_EDITABLE]
        if content and current.get("eventType") == "fromGmail":
            raise disallowed_mutation()
        if content and may_lock is not None:
            stored_event = cal.events.get(event_id, current)
            if stored_event.get("_locked") or may_lock():
                stored_event["_locked"] = True
                self.refused.add((cal.id, event_id))
                raise disallowed_mutation()
        is_organizer = current.get("organizer", {}).get("email") == cal.id
        if not is_organizer:
            self._check_attendee_patch(cal, current, body)
        stored = cal.events.get(event_id)
        if stored is None:  # first change to one instance: it becomes an exception
            stored = copy.deepcopy(current)
            cal.events[event_id] = stored
        previous_attendees = stored.get("attendees")
        for key, value in body.items():
            if key == "extendedProperties":
                props = stored.setdefault("extendedProperties", {})
                for scope in ("private", "shared"):
                    if scope in (value or {}):
                        bag = props.setdefault(scope, {})
                        for k, v in (value[scope] or {}).items():
                            if v is None:
                                bag.pop(k, None)
                            else:
                                bag[k] = str(v)
            elif key == "conferenceData":
                self._conference(stored, body, conference_version)
            elif key in ("id", "etag", "organizer", "creator", "iCalUID", "kind") or \
                    key.startswith("_"):
                continue
            elif value is None:
                stored.pop(key, None)
            else:
                stored[key] = copy.deepcopy(value)
        if "attendees" in body and body["attendees"] is not None:
            if is_organizer:
                stored["attendees"] = self._normalise_attendees(
                    body["attendees"], cal.id, previous_attendees)
            else:
                stored["attendees"] = self._merge_own_response(cal.id, previous_attendees,
                                                               body["attendees"])
        if is_organizer and any(k in body for k in ("start", "end", "summary", "location",
                                                    "description")):
            stored["sequence"] = int(stored.get("sequence", 0)) + 1
        self._stamp(cal, stored)
        if is_organizer:
            self._propagate(cal, stored, previous_attendees)
        else:
            self._response_to_organizer(cal, stored)
        return self._view(cal, stored)

    def _check_attendee_patch(self, cal: Calendar, current: dict[str, Any],
                              body: dict[str, Any]) -> None:
        for key, value in body.items():
            if key not in ATTENDEE_EDITABLE and current.get(key) != value:
                raise ApiError(403, "forbiddenForNonOrganizer",
                               "Shared properties can only be changed by the organizer of the "
                               "event.")
        if "extendedProperties" in body and "shared" in (body["extendedProperties"] or {}):
            raise ApiError(403, "forbiddenForNonOrganizer",
                           "Shared properties can only be changed by the organizer of the event.")

    @staticmethod
    def _merge_own_response(me: str, before: list[dict[str, Any]] | None,
                            given: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result = copy.deepcopy(before or [])
        mine = next((a for a in given if a.get("self") or a.get("email", "").lower() == me), None)
        for attendee in result:
            if attendee.get("email") == me and mine and "responseStatus" in mine:
                attendee["responseStatus"] = mine["responseStatus"]
        return result

    def _response_to_organizer(self, cal: Calendar, copy_event: dict[str, Any]) -> None:
        mine = next((a for a in copy_event.get("attendees", []) if a.get("email") == cal.id),
                    None)
        organizer_cal = self.calendars.get(copy_event.get("organizer", {}).get("email", ""))
        if not mine or organizer_cal is None:
            return
        original = organizer_cal.events.get(copy_event["id"])
        if original is None:
            return
        for attendee in original.get("attendees", []):
            if attendee.get("email") == cal.id:
                attendee["responseStatus"] = mine["responseStatus"]
        self._stamp(organizer_cal, original)
        self._propagate(organizer_cal, original, original.get("attendees"), skip=cal.id)

    def _propagate(self, cal: Calendar, event: dict[str, Any],
                   previous: list[dict[str, Any]] | None = None, skip: str | None = None) -> None:
        """Organizer changes reach every attendee copy in the domain (rooms included)."""
        now_emails = {a["email"] for a in event.get("attendees", [])} - {cal.id}
        before = {a.get("email") for a in previous or []} - {cal.id}
        for email in now_emails | before:
            target = self.calendars.get(email)
            if target is None or email == skip:
                continue
            existing = target.events.get(event["id"])
            if email not in now_emails or event.get("status") == "cancelled":
                if existing is not None and existing.get("status") != "cancelled":
                    existing["status"] = "cancelled"
                    self._stamp(target, existing)
                continue
            if target.room and existing is None:  # the room answers first: its copy shows it
                self._room_reply(target, event)
            private = ((existing or {}).get("extendedProperties") or {}).get("private")
            replica = {k: copy.deepcopy(v) for k, v in event.items()
                       if k in SHARED_FIELDS or k in ("id", "iCalUID", "organizer", "creator",
                                                      "sequence", "created", "htmlLink",
                                                      "recurringEventId", "originalStartTime")}
            shared = (event.get("extendedProperties") or {}).get("shared")
            props = {**({"private": private} if private else {}),
                     **({"shared": copy.deepcopy(shared)} if shared else {})}
            if props:
                replica["extendedProperties"] = props
            target.events[event["id"]] = replica
            self._stamp(target, replica)

    def _room_reply(self, room: Calendar, event: dict[str, Any]) -> None:
        start, end = recurrence.bounds(event, self.tz(room))
        busy = any(
            e.get("status") != "cancelled" and e["id"] != event["id"]
            and recurrence.overlaps(e, start, end, self.tz(room))
            for e in room.events.values() if not e.get("recurrence")
        )
        for attendee in event.get("attendees", []):
            if attendee.get("email") == room.id:
                attendee["responseStatus"] = "declined" if busy else "accepted"

    def delete(self, caller: str, calendar_id: str, event_id: str) -> None:
        cal = self.calendar_for(caller, calendar_id, write=True)
        event = self._find(cal, event_id)
        if event is None:
            raise not_found()
        if event.get("status") == "cancelled":
            raise ApiError(410, "deleted", "Resource has been deleted")
        stored = cal.events.setdefault(event_id, copy.deepcopy(event))
        previous = stored.get("attendees")
        stored["status"] = "cancelled"
        self._stamp(cal, stored)
        if stored.get("organizer", {}).get("email") == cal.id:
            self._propagate(cal, stored, previous)
            for exc in self._exceptions(cal, event_id).values():
                if exc.get("status") != "cancelled":
                    exc["status"] = "cancelled"
                    self._stamp(cal, exc)

    # -- listing ---------------------------------------------------------------------------
    def list(self, caller: str, calendar_id: str, params: dict[str, str],
             instances_of: str | None = None) -> dict[str, Any]:
        cal = self.calendar_for(caller, calendar_id, write=False)
        max_results = min(int(params.get("maxResults", 250) or 250), 2500)
        if max_results < 1:
            raise ApiError(400, "invalid", "Invalid value for maxResults")
        sync_token = params.get("syncToken")
        if sync_token and instances_of is None:
            bad = [p for p in SYNC_FORBIDDEN if params.get(p)]
            if bad:
                raise ApiError(400, "invalid",
                               f"Sync token cannot be used with {bad[0]}.")
        page_token = params.get("pageToken")
        if page_token:
            try:
                gen, hi_text, offset_text = page_token.split(".", 2)
                hi, offset = int(hi_text), int(offset_text)
            except ValueError:
                raise ApiError(400, "invalid", "Invalid page token value.") from None
        else:
            gen, hi, offset = cal.generation, cal.seq, 0
        if sync_token and instances_of is None:
            low = self._parse_sync_token(cal, sync_token, params)
            items = sorted((e for e in cal.events.values() if low < e["_seq"] <= hi),
                           key=lambda e: e["_seq"])
            items = [e if e.get("status") != "cancelled" else
                     {"id": e["id"], "status": "cancelled",
                      **({"recurringEventId": e["recurringEventId"]}
                         if e.get("recurringEventId") else {}),
                      "_seq": e["_seq"]} for e in items]
        else:
            items = self._window(cal, params, hi, instances_of)
        page = items[offset:offset + max_results]
        response: dict[str, Any] = {
            "kind": "calendar#events", "summary": cal.id, "timeZone": self.tz(cal),
            "updated": self.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "accessRole": self.role(cal, caller),
            "items": [self._view(cal, e, caller) for e in page],
        }
        if offset + max_results < len(items):
            response["nextPageToken"] = f"{gen}.{hi}.{offset + max_results}"
        elif instances_of is None and not self.sim.faults.draw_omit_sync_token():
            response["nextSyncToken"] = f"sync.{cal.generation}.{hi}.{_shape(params)}"
        return response

    def _parse_sync_token(self, cal: Calendar, token: str, params: dict[str, str]) -> int:
        try:
            kind, generation, seq, shape = token.split(".")
            if kind != "sync" or generation != cal.generation:
                raise ValueError
            low = int(seq)
        except ValueError:
            raise ApiError(410, "fullSyncRequired", "Sync token is no longer valid, a full "
                           "sync is required.", domain="calendar") from None
        if shape != _shape(params):
            # A token is only meaningful for the listing that made it (singleEvents,
            # showDeleted, eventTypes decide which items exist). Google's reference does not
            # say what it answers to a mix, so the simulator refuses it loudly.
            raise ApiError(400, "invalid", "Sync token was made with other list parameters.")
        return low

    def _window(self, cal: Calendar, params: dict[str, str], hi: int,
                instances_of: str | None) -> list[dict[str, Any]]:
        tz = self.tz(cal)
        lo_t = _parse_param_time(params.get("timeMin"))
        hi_t = _parse_param_time(params.get("timeMax"))
        show_deleted = params.get("showDeleted") == "true"
        single = params.get("singleEvents") == "true" or instances_of is not None
        if params.get("orderBy") == "startTime" and not single:
            raise ApiError(400, "invalid", "The requested ordering is not available for the "
                           "particular query.")
        events = [e for e in cal.events.values() if e["_seq"] <= hi]
        if instances_of is not None:
            master = cal.events.get(instances_of)
            if master is None or not master.get("recurrence"):
                raise not_found()
            events = [master]
        result: list[dict[str, Any]] = []
        for event in events:
            if event.get("status") == "cancelled" and not show_deleted:
                continue
            if single and event.get("recurringEventId") and instances_of is None:
                continue  # emitted through its master's expansion
            if single and event.get("recurrence"):
                exceptions = self._exceptions(cal, event["id"])
                for inst in recurrence.expand(event, lo_t, hi_t, exceptions, tz):
                    if inst.get("status") != "cancelled" or show_deleted:
                        inst.setdefault("_seq", event["_seq"])
                        result.append(inst)
                continue
            if (lo_t or hi_t) and not recurrence.overlaps(event, lo_t, hi_t, tz) and \
                    not event.get("recurrence"):
                continue
            result.append(event)
        if params.get("q"):
            needle = params["q"].lower()
            result = [e for e in result if needle in " ".join(
                str(e.get(k, "")) for k in ("summary", "description", "location")).lower()]
        if params.get("iCalUID"):
            result = [e for e in result if e.get("iCalUID") == params["iCalUID"]]
        for prop in params.get("_privateExtendedProperty", []):
            key, _, value = prop.partition("=")
            result = [e for e in result if ((e.get("extendedProperties") or {}).get("private")
                                            or {}).get(key) == value]
        if params.get("orderBy") == "startTime":
            result.sort(key=lambda e: recurrence.bounds(e, tz)[0])
        elif params.get("orderBy") == "updated":
            result.sort(key=lambda e: e.get("updated", ""))
        return result

    # -- channels --------------------------------------------------------------------------
    def watch(self, caller: str, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        cal = self.calendar_for(caller, calendar_id, write=False)
        channel_id = str(body.get("id") or "")
        if not channel_id:
            raise ApiError(400, "required", "Required channel id")
        if channel_id in self.channels:
            raise ApiError(400, "channelIdNotUnique", "Channel id not unique")
        if body.get("type") not in ("web_hook", "webhook"):
            raise ApiError(400, "invalid", "Invalid channel type")
        address = str(body.get("address") or "")
        if not (address.startswith("https://") or address.startswith(
                ("http://127.0.0.1", "http://localhost"))):
            raise ApiError(400, "push.webhookUrlNotHttps", "WebHook callback must be HTTPS")
        try:
            ttl = int((body.get("params") or {}).get("ttl", 604800))
        except ValueError:
            raise ApiError(400, "invalid", "Invalid ttl") from None
        ttl = max(1, min(ttl, 604800))
        channel = Channel(channel_id, cal.resource_id, cal.id, address, body.get("token"),
                          self.now() + timedelta(seconds=ttl))
        self.channels[channel_id] = channel
        self.sim.queue_push(channel, "sync")
        return {"kind": "api#channel", "id": channel_id, "resourceId": cal.resource_id,
                "resourceUri": resource_uri(cal.id), "token": channel.token,
                "expiration": str(int(channel.expiration.timestamp() * 1000))}

    def stop(self, body: dict[str, Any]) -> None:
        channel = self.channels.get(str(body.get("id", "")))
        if channel is None or channel.resource_id != body.get("resourceId") or channel.stopped:
            raise not_found(f"Channel '{body.get('id')}' not found for project '1'")
        channel.stopped = True

    # -- acl and free/busy -----------------------------------------------------------------
    def calendar_resource(self, caller: str, calendar_id: str) -> dict[str, Any]:
        """``calendars.get``: the calendar's metadata, its time zone among them (anyone who
        may read the calendar may read this)."""
        cal = self.calendar_for(caller, calendar_id, write=False)
        name = self.sim.users.get(cal.owner, {}).get("name") or cal.id
        return {"kind": "calendar#calendar", "etag": f'"{abs(hash(cal.id)) % 10**12}"',
                "id": cal.id, "summary": name, "timeZone": self.tz(cal)}

    def acl_insert(self, caller: str, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        cal = self.calendar_for(caller, calendar_id, write=True)
        if cal.owner != caller and not self._admin_of(cal, caller) and (
                cal.acl.get(f"user:{caller}") or {}).get("role") != "owner":
            raise ApiError(403, "forbidden", "Forbidden")
        scope = body.get("scope") or {}
        role = body.get("role")
        if role not in ("none", "freeBusyReader", "reader", "writer", "owner") or \
                scope.get("type") not in ("user", "group", "domain", "default"):
            raise ApiError(400, "invalid", "Invalid rule")
        rule_id = f"{scope['type']}:{str(scope.get('value', '')).lower()}"
        rule = {"kind": "calendar#aclRule", "id": rule_id, "role": role,
                "scope": {"type": scope["type"], "value": str(scope.get("value", "")).lower()},
                "etag": f'"{secrets.token_hex(8)}"'}
        cal.acl[rule_id] = rule
        return rule

    def acl_delete(self, caller: str, calendar_id: str, rule_id: str) -> None:
        cal = self.calendar_for(caller, calendar_id, write=True)
        if cal.owner != caller and not self._admin_of(cal, caller) and (
                cal.acl.get(f"user:{caller}") or {}).get("role") != "owner":
            raise ApiError(403, "forbidden", "Forbidden")
        if cal.acl.pop(rule_id, None) is None:
            raise not_found()

    def freebusy(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("items") or []
        lo, hi = _parse_param_time(body.get("timeMin")), _parse_param_time(body.get("timeMax"))
        if lo is None or hi is None or hi <= lo:
            raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
        if len(items) > 50:
            raise ApiError(400, "tooManyCalendarsRequested",
                           "The number of calendars requested exceeds the limit (50).")
        calendars: dict[str, Any] = {}
        for item in items:
            cal_id = str(item.get("id", "")).lower()
            cal = self.calendars.get(cal_id)
            if cal is None:
                calendars[cal_id] = {"errors": [{"domain": "global", "reason": "notFound"}],
                                     "busy": []}
                continue
            spans = []
            for event in self._window(cal, {"singleEvents": "true"}, cal.seq, None):
                if event.get("status") == "cancelled" or event.get("transparency") == \
                        "transparent":
                    continue
                mine = next((a for a in event.get("attendees", []) if a.get("email") == cal_id),
                            None)
                if mine and mine.get("responseStatus") == "declined":
                    continue
                start, end = recurrence.bounds(event, self.tz(cal))
                if end > lo and start < hi:
                    spans.append((max(start, lo), min(end, hi)))
            spans.sort()
            merged: list[list[datetime]] = []
            for start, end in spans:
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            calendars[cal_id] = {"busy": [{"start": _z(s), "end": _z(e)} for s, e in merged]}
        return {"kind": "calendar#freeBusy", "timeMin": _z(lo), "timeMax": _z(hi),
                "calendars": calendars}


def _shape(params: dict[str, Any]) -> str:
    """The list parameters a sync token depends on, as a short token-safe fingerprint."""
    shape = "|".join([*(f"{k}={params.get(k) == 'true'}" for k in ("singleEvents",
                                                                      "showDeleted")),
                      f"eventTypes={params.get('eventTypes', '')}"])
    return hashlib.sha1(shape.encode(), usedforsecurity=False).hexdigest()[:8]


def disallowed_mutation() -> ApiError:
    return ApiError(403, "disallowedFieldMutation",
                    "Insufficient permissions to modify a field on the resource.", "calendar")


def resource_uri(calendar_id: str) -> str:
    return (f"https://www.googleapis.com/calendar/v3/calendars/{calendar_id}/events"
            "?alt=json")


def _parse_param_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid", f"Bad Request: {text!r} is not a valid time") from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid", "Bad Request: time needs an offset")
    return value


def _z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def etag_of(text: str) -> str:
    return '"' + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16] + '"'
