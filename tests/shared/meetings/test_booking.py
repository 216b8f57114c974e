"""Room booking from a room's device, as the device and the people in the room see it:
book now, extend, end early; refused when the room is taken or the caller is not the room."""

from __future__ import annotations

import io
import logging
import secrets
from datetime import timedelta

import pytest
import requests

from local import LocalStack
from local.leakcheck import leaks, persisted_bytes, published_bytes
from shared import logs
from shared.clock import from_rfc3339, to_rfc3339

pytestmark = pytest.mark.integration

ANN = "ann@example.com"
ROOM, OTHER_ROOM = "room-1@example.com", "room-2@example.com"


@pytest.fixture
def booking_stack(tmp_path):
    with LocalStack(data_dir=tmp_path / "data",
                    env={"HYBRIDCAL_DEVICE_BOOKING_PROVIDER": "webex-personal-room"}) as stack:
        stack.add_user(ANN)
        assert stack.activate(ANN) == "active"
        for room, name in ((ROOM, "Room 1"), (OTHER_ROOM, "Room 2")):
            stack.add_room(room, name)
            assert stack.activate_workspace(room) == "active"
        yield stack


def _post(stack, path: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.post(stack.url("meetings_api") + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})


def _book(stack, token: str, minutes: int = 30, room: str = ROOM, **extra) -> requests.Response:
    return _post(stack, f"/users/{room}/bookings", token, {"minutes": minutes, **extra})


def _meeting(stack, room: str, minutes_from_now: float, length: int, title: str) -> str:
    start = stack.now() + timedelta(minutes=minutes_from_now)
    event = stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": title, "attendees": [{"email": room}],
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=length))}}).execute()
    stack.settle()
    return event["id"]


def _room_events(stack, room: str) -> list[dict]:
    """The room's calendar as Google holds it (read as the room reader)."""
    items = stack.calendar(stack.config.room_reader).events().list(
        calendarId=room, singleEvents=True, timeMin=to_rfc3339(stack.now() - timedelta(hours=1)),
    ).execute().get("items", [])
    return [e for e in items if e.get("status") != "cancelled"]


def test_a_free_room_is_booked_from_now_and_shows_in_its_meetings_list(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    now = stack.now()

    answer = _book(stack, device, 30)
    stack.settle()

    assert answer.status_code == 201
    booked = answer.json()
    assert set(booked) >= {"id", "start", "end"}
    assert abs(from_rfc3339(booked["start"]) - now) < timedelta(seconds=2)
    assert from_rfc3339(booked["end"]) - from_rfc3339(booked["start"]) == timedelta(minutes=30)
    listed = stack.meetings(ROOM)
    assert [m["id"] for m in listed] == [booked["id"]]
    # the admin's provider for device bookings gives it a join link, on the board too
    assert listed[0]["join_url"] == booked["join_url"] == "https://example.webex.com/meet/room-1"
    # organised by the scheduling account, the room invited (and accepting, as Google's rooms do)
    [event] = _room_events(stack, ROOM)
    assert event["organizer"]["email"] == stack.config.scheduling_account
    assert [(a["email"], a["responseStatus"]) for a in event["attendees"]] == [(ROOM, "accepted")]
    # the device's own page shows it
    page = requests.get(f"{stack.url('meetings_api')}/users/{ROOM}/page",
                        params={"access_token": device}, timeout=30)
    assert page.status_code == 200 and "Booked on the room device" in page.text


def test_a_busy_room_answers_409_with_the_time_it_is_busy_until(booking_stack) -> None:
    stack = booking_stack
    _meeting(stack, ROOM, -10, 40, "Planning")  # running, ends in 30 minutes
    _meeting(stack, ROOM, 30, 15, "Back to back")  # then one more right after it
    device = stack.api_token(f"device:{ROOM}")

    answer = _book(stack, device, 15)

    assert answer.status_code == 409
    until = from_rfc3339(answer.json()["busy_until"])
    assert until == (stack.now() + timedelta(minutes=45)).replace(microsecond=0)
    assert "busy until" in answer.json()["error"]["message"]
    assert [m["title"] for m in stack.meetings(ROOM)] == ["Planning", "Back to back"]


def test_a_booking_that_would_run_into_the_next_meeting_is_refused(booking_stack) -> None:
    stack = booking_stack
    _meeting(stack, ROOM, 20, 30, "Interview")
    device = stack.api_token(f"device:{ROOM}")

    too_long = _book(stack, device, 30)
    short = _book(stack, device, 15)

    assert too_long.status_code == 409
    assert from_rfc3339(too_long.json()["busy_from"]) - stack.now() <= timedelta(minutes=20)
    assert short.status_code == 201


def test_extend_moves_the_end_unless_it_runs_into_the_next_meeting(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    booked = _book(stack, device, 30).json()
    _meeting(stack, ROOM, 60, 30, "Board meeting")  # 30 minutes after the booking ends

    longer = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:extend", device,
                   {"minutes": 15})
    into_next = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:extend", device,
                      {"minutes": 30})
    stack.settle()

    assert longer.status_code == 200
    assert from_rfc3339(longer.json()["end"]) == from_rfc3339(booked["end"]) + timedelta(
        minutes=15)
    assert into_next.status_code == 409
    assert from_rfc3339(into_next.json()["busy_from"]) == from_rfc3339(booked["end"]) + \
        timedelta(minutes=30)
    mine = next(m for m in stack.meetings(ROOM) if m["id"] == booked["id"])
    assert from_rfc3339(mine["end"]) == from_rfc3339(longer.json()["end"])


def test_release_after_the_start_ends_the_booking_now(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    booked = _book(stack, device, 60).json()
    stack.advance(minutes=20)

    released = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:release", device)
    stack.settle()

    assert released.status_code == 200
    assert released.json()["status"] == "ended"
    assert abs(from_rfc3339(released.json()["end"]) - stack.now()) < timedelta(seconds=2)
    assert [m["id"] for m in stack.meetings(ROOM)] == []  # ended: no longer upcoming
    # the room is free again: a new booking succeeds right away
    assert _book(stack, device, 30).status_code == 201


def test_release_before_the_start_deletes_the_booking(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    booked = _book(stack, device, 30).json()
    stack.settle()
    assert [m["id"] for m in stack.meetings(ROOM)] == [booked["id"]]

    # released within the same second it was made: it had not started yet
    released = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:release", device)
    stack.settle()
    again = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:extend", device,
                  {"minutes": 15})

    assert released.status_code == 200 and released.json()["status"] == "deleted"
    assert stack.meetings(ROOM) == []
    assert _room_events(stack, ROOM) == []
    assert again.status_code == 404


def test_only_the_rooms_own_device_or_an_admin_may_book(booking_stack) -> None:
    stack = booking_stack
    own = stack.api_token(f"device:{ROOM}")
    other_device = stack.api_token(f"device:{OTHER_ROOM}")
    user = stack.api_token(f"user:{ANN}")
    admin = stack.api_token("admin")
    booked = _book(stack, own, 15).json()

    refused = {
        "user token": _book(stack, user, 30),
        "user token, own address": _book(stack, user, 30, room=ANN),
        "other room's device": _book(stack, other_device, 30),
        "other device extends": _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:extend",
                                      other_device, {"minutes": 15}),
        "user releases": _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:release", user),
    }
    # another room's device, through its own room's address, still cannot touch the booking
    by_id = _post(stack, f"/users/{OTHER_ROOM}/bookings/{booked['id']}:release", other_device)
    by_admin = _book(stack, admin, 15, room=OTHER_ROOM)
    stack.settle()

    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 403)
    assert by_id.status_code == 404
    assert by_admin.status_code == 201
    assert [m["id"] for m in stack.meetings(ROOM)] == [booked["id"]]


def test_bad_minutes_are_a_clear_400(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")

    answers = [_book(stack, device, minutes) for minutes in (0, 4, 241)] + [
        _post(stack, f"/users/{ROOM}/bookings", device, {"minutes": "30"}),
        _post(stack, f"/users/{ROOM}/bookings", device, {})]

    assert [a.status_code for a in answers] == [400] * 5
    assert "minutes" in answers[0].json()["error"]["message"]
    assert _room_events(stack, ROOM) == []


def test_a_booking_during_a_rate_limit_fault_still_books_once(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    stack.faults.set(rate_limit=0.5, seed=3)
    try:
        answer = _book(stack, device, 30)
    finally:
        stack.faults.set()
    stack.settle()

    assert stack.faults.injected["rate_limit"] + stack.faults.injected["rate_limit_429"] > 0
    assert answer.status_code == 201
    assert [e["id"] for e in _room_events(stack, ROOM)] == [answer.json()["id"]]


def test_without_a_scheduling_account_booking_is_not_offered(tmp_path) -> None:
    with LocalStack(data_dir=tmp_path / "data",
                    env={"HYBRIDCAL_SCHEDULING_ACCOUNT": ""}) as stack:
        stack.add_room(ROOM, "Room 1")
        assert stack.activate_workspace(ROOM) == "active"

        answer = _book(stack, stack.api_token(f"device:{ROOM}"), 30)

    assert answer.status_code == 501
    assert "HYBRIDCAL_SCHEDULING_ACCOUNT" in answer.json()["error"]["message"]


def test_a_booking_without_a_provider_has_no_join_link(stack) -> None:
    stack.add_room(ROOM, "Room 1")
    assert stack.activate_workspace(ROOM) == "active"

    answer = _book(stack, stack.api_token(f"device:{ROOM}"), 30)
    stack.settle()

    assert answer.status_code == 201 and answer.json()["join_url"] is None
    assert [m["join_url"] for m in stack.meetings(ROOM)] == [None]


def test_a_bookings_title_is_never_stored_published_or_logged_in_the_clear(
        booking_stack, capfd) -> None:
    stack = booking_stack
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    logging.getLogger().setLevel(logging.DEBUG)
    marker = {"title": f"BookingTitleMarker{secrets.token_hex(4)}"}
    device = stack.api_token(f"device:{ROOM}")

    booked = _book(stack, device, 30, title=marker["title"])
    stack.settle()
    _post(stack, f"/users/{ROOM}/bookings/{booked.json()['id']}:extend", device, {"minutes": 5})
    stack.settle()

    assert booked.status_code == 201
    assert [m["title"] for m in stack.meetings(ROOM)] == [marker["title"]]  # indexed, sealed
    assert stack.published("meetings-updated")
    assert leaks({"persisted": persisted_bytes(stack), "published": published_bytes(stack),
                  "logs": (stream.getvalue() + "".join(capfd.readouterr())).encode()},
                 marker) == []


def test_a_booking_whose_answer_was_lost_is_not_made_twice(booking_stack) -> None:
    """Timeouts, half of them after Google applied the request: the retried insert meets its
    own booking (same id) instead of booking the room a second time."""
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    outcomes = []
    for seed in range(8):
        stack.faults.set(timeout=0.4, seed=seed)
        try:
            answer = _book(stack, device, 30)
        finally:
            stack.faults.set()
        stack.settle()
        events = _room_events(stack, ROOM)
        outcomes.append(answer.status_code)
        if answer.status_code == 201:
            assert [e["id"] for e in events] == [answer.json()["id"]], seed
            stack.clock.advance(1)  # started: the release ends it now
            assert _post(stack, f"/users/{ROOM}/bookings/{answer.json()['id']}:release",
                         device).status_code == 200
            stack.settle()
        assert len(_room_events(stack, ROOM)) <= 1, seed
        for event in _room_events(stack, ROOM):  # a booking made though the device heard 503
            stack.calendar(stack.config.scheduling_account).events().delete(
                calendarId="primary", eventId=event["id"]).execute()
        stack.settle()
    assert stack.faults.injected["timeout_applied"] > 0
    assert outcomes.count(201) >= 6, outcomes


def test_the_rooms_devices_get_a_join_notification_for_a_booking(booking_stack) -> None:
    stack = booking_stack
    booked = _book(stack, stack.api_token(f"device:{ROOM}"), 30).json()

    stack.advance(minutes=1)  # the next per-minute tick

    assert [(n["email"], n["title"], n["join_url"]) for n in stack.join_notifications(ROOM)] \
        == [(ROOM, "Booked on the room device", booked["join_url"])]


def test_an_extension_whose_answer_was_lost_is_still_an_extension(booking_stack) -> None:
    stack = booking_stack
    device = stack.api_token(f"device:{ROOM}")
    outcomes = []
    for seed in range(6):
        booked = _book(stack, device, 30).json()
        stack.faults.set(timeout=0.4, seed=seed)
        try:
            longer = _post(stack, f"/users/{ROOM}/bookings/{booked['id']}:extend", device,
                           {"minutes": 15})
        finally:
            stack.faults.set()
        stack.settle()
        [event] = _room_events(stack, ROOM)
        outcomes.append(longer.status_code)
        if longer.status_code == 200:
            assert from_rfc3339(event["end"]["dateTime"]) == from_rfc3339(booked["end"]) + \
                timedelta(minutes=15), seed
        stack.calendar(stack.config.scheduling_account).events().delete(
            calendarId="primary", eventId=booked["id"]).execute()
        stack.settle()
    assert stack.faults.injected["timeout_applied"] > 0
    assert outcomes == [200] * 6, outcomes
