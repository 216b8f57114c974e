"""Activation syncs the whole calendar, history included: a keyword in an event that is over
is left as the user wrote it (their history is not rewritten), a future one gets its link."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import to_rfc3339
from tests.shared.changes.processing_helpers import get
from tests.shared.changes.simulator_watch import record

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"


def _insert(stack, summary: str, start, description: str) -> dict:
    return stack.calendar(ANNA).events().insert(calendarId="primary", body={
        "summary": summary, "location": "@webex", "description": description,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(hours=1))}}).execute()


def test_activation_patches_the_future_keyword_event_but_not_yesterdays(stack,
                                                                        monkeypatch) -> None:
    stack.add_user(ANNA)
    yesterday = _insert(stack, "Retro", stack.now() - timedelta(days=1, hours=1),
                        "Notes from the retro")  # ended yesterday
    tomorrow = _insert(stack, "Planning", stack.now() + timedelta(days=1), "Agenda")
    patches = record(monkeypatch, stack, "patch")

    assert stack.activate(ANNA) == "active"
    stack.settle()

    assert [call.args[1] for call in patches] == [tomorrow["id"]]  # (calendar, event id, ...)
    past = get(stack, ANNA, yesterday["id"])
    assert (past["location"], past["description"]) == ("@webex", "Notes from the retro")
    assert past["etag"] == yesterday["etag"]  # not written at all
    assert "webex.com" in get(stack, ANNA, tomorrow["id"])["location"]
