"""What a user notices when Google refuses work for reasons that are not theirs to fix (#19):
a used-up daily allowance, and events Google will not let anyone patch."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from shared.bus.base import Topics
from tests.shared.changes.processing_helpers import activate, event_body, meetings

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"


def _as_user(stack: Any, email: str, operation: str, body: dict[str, Any],
             event_id: str | None = None) -> dict[str, Any]:
    """The user's own calendar client: Google's limits on *our* project do not apply to it."""
    params = {"cal": "primary", **({"eid": event_id} if event_id else {})}
    result: dict[str, Any] = stack.sim.user_call(email, operation, params=params, body=body)
    return result


def _location(stack: Any, email: str, event_id: str) -> str:
    [event] = [e for e in stack.sim.events_of(email) if e["id"] == event_id]
    return str(event.get("location", ""))


def _dead_letters(stack: Any) -> list[Any]:
    return stack.bus.published(Topics.dead_letter(Topics.CALENDAR_CHANGES))


def test_calendars_daily_limit_defers_the_sync_without_touching_the_users_status(stack):
    stack.add_user(ANNA)
    assert activate(stack, ANNA) == "active"
    stack.faults.exhaust_daily_limit("calendar", stack.now() + timedelta(hours=3))

    event = _as_user(stack, ANNA, "calendar.events.insert",
                     event_body("Planning", "@webex", stack=stack, start_in_hours=8))
    stack.settle()
    assert stack.faults.injected["daily_limit"] >= 1
    assert stack.user_status(ANNA)["status"] == "active"
    assert _dead_letters(stack) == []  # deferred, not failed hours of redeliveries over
    assert _location(stack, ANNA, event["id"]) == "@webex"

    stack.advance(hours=3)
    _as_user(stack, ANNA, "calendar.events.patch", {"summary": "Planning (v2)"}, event["id"])
    stack.settle()  # the next push after the allowance is back runs the owed sync
    assert "webex.com" in _location(stack, ANNA, event["id"])
    assert event["id"] in meetings(stack, ANNA)
    assert stack.user_status(ANNA)["status"] == "active"


def _sync_state(stack: Any, email: str) -> dict[str, Any]:
    return stack.services.store.get("sync", stack.services.pseudonym(email)) or {}


def test_an_event_created_from_gmail_is_indexed_and_left_alone(stack, caplog):
    caplog.set_level(logging.INFO, logger="shared.keyword.event_patch")
    stack.add_user(ANNA)
    assert activate(stack, ANNA) == "active"
    before = stack.api_calls()["calendar.events.patch"]
    flight = stack.sim.add_gmail_event(ANNA, event_body("Flight LH 123", "@webex",
                                                        stack=stack, start_in_hours=5))
    review = _as_user(stack, ANNA, "calendar.events.insert",
                      event_body("Review", "@webex", stack=stack, start_in_hours=6))
    stack.settle()

    assert _location(stack, ANNA, flight["id"]) == "@webex"
    assert "webex.com" in _location(stack, ANNA, review["id"])
    assert stack.api_calls()["calendar.events.patch"] - before == 1  # no doomed patch sent
    assert {flight["id"], review["id"]} <= set(meetings(stack, ANNA))
    assert _sync_state(stack, ANNA)["listed_from"]  # the sync committed its token
    assert any("created from Gmail" in r.getMessage() for r in caplog.records)


def test_a_refused_patch_skips_that_event_and_the_users_sync_goes_on(stack, caplog):
    """Before: the refusal ended the round before its token was committed and the message
    was redelivered, then dead-lettered, on every push: the user's sync was stuck on it."""
    stack.add_user(ANNA)
    assert activate(stack, ANNA) == "active"
    stack.faults.set(refused_patch=1.0)
    locked = _as_user(stack, ANNA, "calendar.events.insert",
                      event_body("Board", "@webex", stack=stack, start_in_hours=5))
    stack.settle()
    stack.faults.set()
    assert stack.sim.refused_patches() == {(ANNA, locked["id"])}
    assert _location(stack, ANNA, locked["id"]) == "@webex"
    assert locked["id"] in meetings(stack, ANNA)
    assert _sync_state(stack, ANNA)["listed_from"]  # committed past the refusal
    assert any("refused by Google" in r.getMessage() for r in caplog.records)

    later = _as_user(stack, ANNA, "calendar.events.insert",
                     event_body("Standup", "@webex", stack=stack, start_in_hours=7))
    stack.settle()
    assert "webex.com" in _location(stack, ANNA, later["id"])
    assert later["id"] in meetings(stack, ANNA)
    assert stack.user_status(ANNA)["status"] == "active"
    assert _dead_letters(stack) == []
