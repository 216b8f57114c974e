"""Workspaces (rooms with video devices) through the embedded stack and the real APIs."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from shared.bus.base import Topics
from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN, ROOM = "ann@example.com", "room-1@example.com"


def _admin(stack, path, emails):
    return requests.post(stack.url("provision_users") + path, json={"emails": emails},
                         headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30)


def _device_list(stack, token):
    return requests.get(f"{stack.url('meetings_api')}/users/{ROOM}/meetings", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def test_workspace_lifecycle_acl_meetings_and_notifications(stack):
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.add_room(ROOM, "Room 1")
    reader = stack.services.config.room_reader

    answer = _admin(stack, "/workspaces:activate", [ROOM])
    stack.settle()

    assert answer.json() == {"results": {ROOM: "active"}}
    acl = stack.sim.calendar_state.calendars[ROOM].acl
    assert acl[f"user:{reader}"]["role"] == "writer"  # a reader sees no private details
    assert stack.api_calls()["calendar.acl.insert"] == 1

    start = stack.now() + timedelta(minutes=20)
    stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "Board review", "location": "@webex",
        "attendees": [{"email": ROOM}],
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()

    device = stack.api_token(f"device:{ROOM}")
    [meeting] = _device_list(stack, device).json()["meetings"]
    assert meeting["title"] == "Board review" and "webex.com" in meeting["join_url"]
    assert meeting["response_status"] == "accepted"  # the room accepted, being free
    assert stack.meetings(ROOM) == [meeting]
    room_copy = next(e for e in stack.sim.events_of(ROOM) if e["summary"] == "Board review")
    assert "hybridcal" not in str(room_copy.get("extendedProperties"))  # never patched

    stack.advance(minutes=17)
    room_id = stack.services.pseudonym(ROOM)
    assert [m["user_id"] for m in stack.published(Topics.JOIN_NOTIFICATIONS)
            ].count(room_id) == 1

    gone = _admin(stack, "/workspaces:deactivate", [ROOM])
    stack.settle()

    assert gone.json() == {"results": {ROOM: "deactivated"}}
    assert f"user:{reader}" not in stack.sim.calendar_state.calendars[ROOM].acl
    assert stack.api_calls()["calendar.acl.delete"] == 1
    assert not [c for c in stack.sim.channels() if c["calendar"] == ROOM and not c["stopped"]]
    assert _device_list(stack, device).status_code == 404


def test_unknown_room_and_missing_admin_rights_get_actionable_reasons(stack):
    assert stack.activate_workspace("no-such-room@example.com") == "error"
    assert stack.user_status("no-such-room@example.com")["reason_code"] == "room_not_found"

    stack.add_room(ROOM)
    stack.sim.users[stack.services.config.workspace_admin]["admin"] = False
    assert stack.activate_workspace(ROOM) == "error"
    status = stack.user_status(ROOM)
    assert status["reason_code"] in ("room_not_shareable", "room_not_found")
    assert "admin" in status["reason"].lower() or "resource" in status["reason"].lower()

    stack.sim.users[stack.services.config.workspace_admin]["admin"] = True
    assert requests.post(stack.url("provision_users") + "/workspaces:activate",
                         json={"emails": [ROOM]}, timeout=30,
                         headers={"Authorization": f"Bearer {stack.admin_token}"}
                         ).json()["results"][ROOM] == "active"


def test_a_rooms_board_shows_the_rooms_own_time_zone(stack):
    # A room has no user settings; its calendar has a zone (calendars.get). The board used to
    # show every room in UTC.
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.add_room(ROOM, "Room 1", timezone="Asia/Tokyo")
    assert _admin(stack, "/workspaces:activate", [ROOM]).json() == {"results": {ROOM: "active"}}
    start = stack.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "Board review", "attendees": [{"email": ROOM}],
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()
    device = stack.api_token(f"device:{ROOM}")

    board = requests.get(f"{stack.url('meetings_api')}/users/{ROOM}/page", timeout=30,
                         headers={"Authorization": f"Bearer {device}"})

    assert board.status_code == 200
    tokyo = start.astimezone(ZoneInfo("Asia/Tokyo"))
    assert "Japan" in board.text  # the zone's name, shown on the board
    assert f"{tokyo:%-I:%M}" in board.text and f"{start:%-I:%M} " not in board.text
