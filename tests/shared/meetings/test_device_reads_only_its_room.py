"""A meeting-room device reads its own workspace's meetings and nothing of another room:
neither the list, one meeting, nor the HTML page of the room next door."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN = "ann@example.com"
ROOM_A, ROOM_B = "room-a@example.com", "room-b@example.com"
TITLE_A, TITLE_B = "Sprint review", "Acquisition board QX-7731"  # B's title is a marker


def _get(stack, path: str, token: str | None = None, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(stack.url("meetings_api") + path, headers=headers, params=params,
                        timeout=30)


def _book(stack, room: str, title: str) -> str:
    start = stack.now() + timedelta(hours=2)
    return stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": title, "location": "@webex", "attendees": [{"email": room}],
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()["id"]


@pytest.fixture
def rooms(stack):
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    for room, name in ((ROOM_A, "Room A"), (ROOM_B, "Room B")):
        stack.add_room(room, name)
        assert stack.activate_workspace(room) == "active"
    ids = {ROOM_A: _book(stack, ROOM_A, TITLE_A), ROOM_B: _book(stack, ROOM_B, TITLE_B)}
    stack.settle()
    return stack, ids


def test_device_reads_its_own_room(rooms) -> None:
    stack, ids = rooms
    device_a = stack.api_token(f"device:{ROOM_A}")

    listed = _get(stack, f"/users/{ROOM_A}/meetings", device_a)
    one = _get(stack, f"/users/{ROOM_A}/meetings/{ids[ROOM_A]}", device_a)
    page = _get(stack, f"/users/{ROOM_A}/page", access_token=device_a)

    assert listed.status_code == 200
    assert [m["title"] for m in listed.json()["meetings"]] == [TITLE_A]
    assert "webex.com" in listed.json()["meetings"][0]["join_url"]
    assert one.status_code == 200 and one.json()["title"] == TITLE_A
    assert page.status_code == 200 and TITLE_A in page.text


def test_device_is_refused_another_rooms_meetings_and_page(rooms) -> None:
    stack, ids = rooms
    device_a = stack.api_token(f"device:{ROOM_A}")

    refused = {
        "list": _get(stack, f"/users/{ROOM_B}/meetings", device_a),
        "one": _get(stack, f"/users/{ROOM_B}/meetings/{ids[ROOM_B]}", device_a),
        "page": _get(stack, f"/users/{ROOM_B}/page", access_token=device_a),
        "page-header": _get(stack, f"/users/{ROOM_B}/page", device_a),
    }

    assert {name: answer.status_code for name, answer in refused.items()} == dict.fromkeys(
        refused, 403)
    for answer in refused.values():
        assert TITLE_B not in answer.text and "webex.com" not in answer.text
    # Room B's own device still sees it: the refusal is about who asks, not about the room.
    device_b = stack.api_token(f"device:{ROOM_B}")
    assert [m["title"] for m in _get(stack, f"/users/{ROOM_B}/meetings", device_b
                                     ).json()["meetings"]] == [TITLE_B]
