"""An attendee's copy of a keyword event reaching us before the organizer's copy.

Every other scenario happens to sync the organizer first (the organizer's push is queued
first), so this one arranges the opposite order: the attendee is active and synced while the
organizer is not yet activated, then the organizer is activated. Google refuses patches of
shared fields by attendees (403 ``forbiddenForNonOrganizer``, which the simulator answers too),
so the attendee's copy must never be patched; it gets the join link through the organizer's
patch, like any guest would.
"""

from __future__ import annotations

import pytest

from tests.shared.changes.processing_helpers import event_body, get, meetings
from tests.shared.changes.simulator_watch import record

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"  # organizer, activated second
BOB = "bob@example.com"  # attendee, activated and synced first
URL = "https://example.webex.com/meet/anna"


def test_simulator_refuses_an_attendees_patch_of_shared_fields(stack) -> None:
    """The premise: a patch of Location by an attendee is refused, as Google refuses it."""
    from googleapiclient.errors import HttpError

    stack.add_user(ANNA)
    stack.add_user(BOB)
    event = stack.calendar(ANNA).events().insert(calendarId="primary", body=event_body(
        "Planning", "@webex", attendees=[BOB], stack=stack)).execute()

    with pytest.raises(HttpError) as refused:
        stack.calendar(BOB).events().patch(calendarId="primary", eventId=event["id"],
                                           body={"location": URL}).execute()

    assert refused.value.resp.status == 403
    assert "forbiddenForNonOrganizer" in refused.value.content.decode()


def test_attendee_synced_before_the_organizer_is_never_patched(stack, monkeypatch) -> None:
    for email in (ANNA, BOB):
        stack.add_user(email)
    assert stack.activate(BOB) == "active"
    patches = record(monkeypatch, stack, "patch")
    event = stack.calendar(ANNA).events().insert(calendarId="primary", body=event_body(
        "Planning", "Room 4, @webex", attendees=[BOB], stack=stack,
        description="Agenda: budget")).execute()
    stack.settle()  # Bob's copy is synced now; Anna is not active yet

    assert [(c.caller, c.error) for c in patches] == []  # Bob's copy is not ours to patch
    assert get(stack, BOB, event["id"])["location"] == "Room 4, @webex"
    assert [m["title"] for m in stack.meetings(BOB)] == ["Planning"]  # indexed, no link yet
    assert stack.meetings(BOB)[0]["join_url"] is None

    assert stack.activate(ANNA) == "active"  # Anna's full sync patches her copy
    stack.settle()

    assert [(c.caller, c.error) for c in patches] == [(ANNA, "")]  # Anna's copy, once, accepted
    assert get(stack, ANNA, event["id"])["location"] == f"Room 4, {URL}"
    bobs_copy = get(stack, BOB, event["id"])
    assert bobs_copy["location"] == f"Room 4, {URL}"
    assert URL in bobs_copy["description"]
    assert "hybridcal_hash" not in str(bobs_copy.get("extendedProperties"))  # not ours to mark
    assert meetings(stack, BOB)[event["id"]]["sealed"]["join_url"] == URL
    assert [(m["title"], m["join_url"]) for m in stack.meetings(BOB)] == [("Planning", URL)]
