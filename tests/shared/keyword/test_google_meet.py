"""``@meet`` through Google Meet's ``conferenceData.createRequest`` (#19 item 6), end to end:
the embedded stack configured with ``@meet=google-meet``, users acting through the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.keyword import joinblock
from tests.shared.changes.processing_helpers import activate, create, edit, event_body, get

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"
MEET = "https://meet.google.com/"


@pytest.fixture
def stack(tmp_path) -> Iterator[Any]:
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data", scheduler=False, env={
            "HYBRIDCAL_KEYWORDS": "@webex=webex-personal-room,@meet=google-meet"}) as running:
        running.add_user(ANNA)
        assert activate(running, ANNA) == "active"
        yield running


def test_a_pending_meet_conference_is_written_once_google_completes_it(stack):
    stack.sim.meet_pending = True
    event, _ = create(stack, ANNA, event_body("Design review", "@meet", stack=stack))
    waiting = get(stack, ANNA, event["id"])
    assert waiting["location"] == "@meet"  # not a Personal Room stand-in, not half-written
    assert joinblock.BEGIN not in (waiting.get("description") or "")

    stack.sim.meet_pending = False
    assert stack.sim.complete_pending_meet() == 1
    stack.settle()  # Google's completion changed the event: its push brings it back
    done = get(stack, ANNA, event["id"])
    link = done["conferenceData"]["entryPoints"][0]["uri"]
    assert link.startswith(MEET) and done["location"] == link
    assert link in done["description"]


def test_typing_meet_again_after_removing_the_conference_gets_a_working_link(stack):
    event, _ = create(stack, ANNA, event_body("1:1", "@meet", stack=stack))
    first = get(stack, ANNA, event["id"])["location"]
    assert first.startswith(MEET)

    # the user deletes the Meet conference, then asks for one again
    stack.calendar(ANNA).events().patch(calendarId="primary", eventId=event["id"],
                                        body={"conferenceData": None}).execute()
    edit(stack, ANNA, event["id"], {"location": "@meet"})

    again = get(stack, ANNA, event["id"])
    assert again["location"].startswith(MEET), again["location"]
    assert again["location"] == again["conferenceData"]["entryPoints"][0]["uri"]
