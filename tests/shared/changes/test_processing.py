"""Keyword → join details, end to end through the embedded stack, acting as users."""

from __future__ import annotations

import pytest

from shared.keyword import joinblock
from tests.shared.changes.processing_helpers import (
    activate,
    create,
    edit,
    event_body,
    get,
    meetings,
    push,
)

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"  # German organizer
KEN = "ken@example.com"  # Japanese organizer
BOB = "bob@example.com"  # attendee, also an active user


@pytest.fixture
def users(stack):
    stack.add_user(ANNA, locale="de", timezone="Europe/Berlin")
    stack.add_user(KEN, locale="ja", timezone="Asia/Tokyo")
    stack.add_user(BOB, locale="en", timezone="UTC")
    for email in (ANNA, KEN, BOB):
        assert activate(stack, email) == "active"
    return stack


def test_webex_keyword_patched_for_german_user_and_attendee_sees_it(users) -> None:
    stack = users
    event, calls = create(stack, ANNA, event_body(
        "Quartalsplanung", "Raum 4, @webex", attendees=[BOB], stack=stack,
        description="Agenda: Budget"))
    assert calls["calendar.events.patch"] == 1
    mine = get(stack, ANNA, event["id"])
    url = "https://example.webex.com/meet/anna"
    assert mine["location"] == f"Raum 4, {url}"
    assert mine["description"].startswith("Agenda: Budget\n\n" + joinblock.BEGIN)
    assert "An der Webex-Besprechung teilnehmen:" in mine["description"]
    assert "anna@example.webex.com" in mine["description"]
    private = mine["extendedProperties"]["private"]
    assert private["hybridcal_keyword"] == "@webex"
    assert private["hybridcal_provider"] == "webex-personal-room"
    assert private["hybridcal_hash"]

    theirs = get(stack, BOB, event["id"])
    assert url in theirs["location"] and url in theirs["description"]
    assert meetings(stack, ANNA)[event["id"]]["sealed"]["join_url"] == url
    assert meetings(stack, BOB)[event["id"]]["sealed"]["join_url"] == url
    assert meetings(stack, ANNA)[event["id"]]["service"] == "webex"


def test_meet_keyword_creates_a_space_meeting_for_japanese_user(users) -> None:
    stack = users
    event, calls = create(stack, KEN, event_body("週次定例", "@meet", attendees=[BOB],
                                                 stack=stack))
    assert calls["calendar.events.patch"] == 1
    mine = get(stack, KEN, event["id"])
    meeting = next(iter(stack.webex.meetings.values()))
    assert mine["location"] == meeting["webLink"]
    assert "Webex 会議に参加:" in mine["description"]
    assert f"ミーティング番号: {meeting['meetingNumber']}" in mine["description"]
    assert meeting["sipAddress"] in mine["description"]
    assert "年" in mine["description"]  # date formatted for Japanese
    assert [room["title"] for room in stack.webex.rooms.values()] == ["週次定例"]


def test_modifier_overrides_the_admins_choice(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("1:1", "@meet:myroom", stack=stack))
    assert get(stack, ANNA, event["id"])["location"] == "https://example.webex.com/meet/anna"
    assert not stack.webex.meetings


def test_reprocessing_and_unrelated_edits_cost_no_patch(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("Plan", "@webex", attendees=[BOB], stack=stack))
    assert push(stack, ANNA)["calendar.events.patch"] == 0  # our own change notification
    start = stack.now().replace(microsecond=0)
    for change in ({"summary": "Plan v2"},
                   {"attendees": [{"email": BOB}, {"email": KEN}]},
                   {"start": {"dateTime": (start.isoformat())},
                    "end": {"dateTime": start.replace(hour=(start.hour + 1) % 24).isoformat()}}):
        calls = edit(stack, ANNA, event["id"], change)
        assert calls["calendar.events.patch"] == 0, change
        assert calls["calendar.events.list"] >= 1


def test_keyword_switch_replaces_url_and_block(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("Plan", "Raum 4, @webex", stack=stack))
    old_url = "https://example.webex.com/meet/anna"
    calls = edit(stack, ANNA, event["id"], {"location": f"Raum 4, {old_url} @webex:space"})
    assert calls["calendar.events.patch"] == 1
    mine = get(stack, ANNA, event["id"])
    new_url = next(iter(stack.webex.meetings.values()))["webLink"]
    assert mine["location"] == f"Raum 4, {new_url}"
    assert mine["description"].count(joinblock.BEGIN) == 1
    assert new_url in mine["description"] and old_url not in mine["description"]
    assert mine["extendedProperties"]["private"]["hybridcal_keyword"] == "@webex:space"


def test_removing_the_link_removes_block_and_markers(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("Plan", "Raum 4, @webex", stack=stack,
                                              description="Agenda"))
    calls = edit(stack, ANNA, event["id"], {"location": "Raum 4"})
    assert calls["calendar.events.patch"] == 1
    mine = get(stack, ANNA, event["id"])
    assert mine["description"] == "Agenda"
    assert not {"hybridcal_keyword", "hybridcal_hash"} & set(
        (mine.get("extendedProperties") or {}).get("private") or {})
    assert push(stack, ANNA)["calendar.events.patch"] == 0


def test_email_address_in_location_is_not_a_keyword(users) -> None:
    stack = users
    event, calls = create(stack, ANNA, event_body("Ops", "ask ops@webex.com", stack=stack))
    assert calls["calendar.events.patch"] == 0
    assert get(stack, ANNA, event["id"])["location"] == "ask ops@webex.com"
    assert event["id"] in meetings(stack, ANNA)


def test_video_address_typed_in_location_is_indexed_without_patch(users) -> None:
    stack = users
    url = "https://acme.webex.com/meet/room42"
    event, calls = create(stack, ANNA, event_body("Board", url, stack=stack))
    assert calls["calendar.events.patch"] == 0
    assert meetings(stack, ANNA)[event["id"]]["sealed"]["join_url"] == url


def test_cancelled_event_leaves_the_index(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("Plan", "@webex", stack=stack))
    stack.calendar(ANNA).events().delete(calendarId="primary", eventId=event["id"]).execute()
    push(stack, ANNA)
    assert event["id"] not in meetings(stack, ANNA)


def test_inactive_users_are_never_touched(stack) -> None:
    stack.add_user("eve@example.com")
    event, calls = create(stack, "eve@example.com",
                          event_body("Secret", "@webex", stack=stack))
    assert sum(calls.values()) == 0
    assert get(stack, "eve@example.com", event["id"])["location"] == "@webex"


def test_duplicate_and_stale_messages_change_nothing(users) -> None:
    stack = users
    from shared.bus.base import Topics

    event, _ = create(stack, ANNA, event_body("Plan", "@webex", stack=stack))
    user_id = stack.services.pseudonym(ANNA)
    before = stack.api_calls()
    for data in ({"user_id": user_id, "channel_id": "test-channel", "message_number": 1},
                 {"user_id": user_id, "reason": "push"},
                 {"user_id": user_id, "reason": "reconcile"}):
        stack.services.bus.publish(Topics.CALENDAR_CHANGES, data, ordering_key=user_id)
    stack.settle()
    assert (stack.api_calls() - before)["calendar.events.patch"] == 0
    assert get(stack, ANNA, event["id"])["description"].count(joinblock.BEGIN) == 1
