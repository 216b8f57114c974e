"""Processing under pressure: concurrent edits (412), recurring series, 410, push bursts."""

from __future__ import annotations

import pytest

from shared.bus.base import Topics
from shared.keyword import joinblock, providers
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

ANNA = "anna@example.com"
BOB = "bob@example.com"


@pytest.fixture
def users(stack):
    stack.add_user(ANNA, locale="de", timezone="Europe/Berlin")
    stack.add_user(BOB)
    for email in (ANNA, BOB):
        assert activate(stack, email) == "active"
    return stack


def test_concurrent_edit_racing_the_patch_is_preserved(users, monkeypatch) -> None:
    """The user edits Location and description while we compute join details: our patch
    answers 412, we re-read, decide again, and keep their text."""
    stack = users
    raced = []
    real_generate = providers.generate

    def generate_while_user_edits(ctx, provider):
        if not raced:
            raced.append(True)
            stack.calendar(ANNA).events().patch(
                calendarId="primary", eventId=ctx.event["id"],
                body={"location": "Raum 5 (neu), @webex", "description": "Agenda v2"}).execute()
        return real_generate(ctx, provider)

    monkeypatch.setattr("shared.keyword.event_patch.generate", generate_while_user_edits)
    event, calls = create(stack, ANNA, event_body("Plan", "Raum 4, @webex", stack=stack,
                                                  description="Agenda v1"))
    assert raced
    mine = get(stack, ANNA, event["id"])
    assert mine["location"] == "Raum 5 (neu), https://example.webex.com/meet/anna"
    assert mine["description"].startswith("Agenda v2\n\n" + joinblock.BEGIN)
    assert calls["calendar.events.get"] >= 1  # the 412 path re-read the event


def test_recurring_series_patched_once_with_all_instances_indexed(users) -> None:
    stack = users
    body = event_body("Daily", "@webex", attendees=[BOB], stack=stack,
                      recurrence=["RRULE:FREQ=DAILY;COUNT=10"])
    body["start"]["timeZone"] = body["end"]["timeZone"] = "Europe/Berlin"
    event, calls = create(stack, ANNA, body)
    assert calls["calendar.events.patch"] == 1
    assert calls["calendar.events.instances"] >= 1
    records = meetings(stack, ANNA)
    series = [r for r in records.values() if r["series_id"] == event["id"]]
    assert len(series) == 10
    assert {r["sealed"]["join_url"] for r in series} == {"https://example.webex.com/meet/anna"}
    assert len([r for r in meetings(stack, BOB).values()
                if r["series_id"] == event["id"]]) == 10


def test_exception_with_its_own_keyword_is_patched_itself(users) -> None:
    stack = users
    body = event_body("Daily", "@webex", stack=stack, recurrence=["RRULE:FREQ=DAILY;COUNT=5"])
    body["start"]["timeZone"] = body["end"]["timeZone"] = "UTC"
    event, _ = create(stack, ANNA, body)
    instances = stack.calendar(ANNA).events().instances(
        calendarId="primary", eventId=event["id"]).execute()["items"]
    third = instances[2]
    calls = edit(stack, ANNA, third["id"], {"location": "@meet"})
    assert calls["calendar.events.patch"] == 1
    exception = get(stack, ANNA, third["id"])
    webex_meeting = next(iter(stack.webex.meetings.values()))
    assert exception["location"] == webex_meeting["webLink"]
    assert get(stack, ANNA, instances[1]["id"])["location"] == \
        "https://example.webex.com/meet/anna"


def test_expired_sync_token_recovers_with_full_resync_and_rebuilt_index(users) -> None:
    stack = users
    event, _ = create(stack, ANNA, event_body("Plan", "@webex", stack=stack))
    user_id = stack.services.pseudonym(ANNA)
    store = stack.services.store
    stale_key = f"{user_id}|ghost-event"
    store.put("meetings", stale_key, {**store.get("meetings", f"{user_id}|{event['id']}"),
                                      "event_id": "ghost-event"})
    store.merge("sync", user_id, {"sync_token": "invalidated-token"})
    calls = push(stack, ANNA)
    assert calls["calendar.events.list"] >= 2  # the 410 answer, then the full list
    assert store.get("meetings", stale_key) is None
    assert event["id"] in meetings(stack, ANNA)
    assert store.get("sync", user_id)["sync_token"] != "invalidated-token"
    assert calls["calendar.events.patch"] == 0


def test_a_burst_of_50_pushes_received_before_a_sync_costs_one_list(users) -> None:
    """Pushes received (stamped by intake) before the sync that answers the first of them
    began listing are covered by it: one list for the burst, no write for the covered ones.
    Our five patches' own pushes come after that listing began: each is listed for (the
    stack's clock stands still while they queue, so none is older than the next listing)."""
    from shared.changes import sync
    from shared.clock import to_rfc3339

    stack = users
    user_id = stack.services.pseudonym(ANNA)
    cal = stack.calendar(ANNA)
    ids = [cal.events().insert(calendarId="primary",
                               body=event_body(f"E{i}", "@webex" if i % 10 == 0 else "Room",
                                               stack=stack)).execute()["id"]
           for i in range(50)]
    stack.settle()  # the simulator's own pushes for the inserts: synced
    received = to_rfc3339(stack.now())
    stack.clock.advance(sync.CLOCK_MARGIN.total_seconds())  # they wait in the queue
    writes = stack.services.store.meter.snapshot()["firestore.writes:sync"]
    for number in range(50):
        stack.services.bus.publish(
            Topics.CALENDAR_CHANGES,
            {"user_id": user_id, "channel_id": "test-channel", "message_number": 100 + number,
             "received": received}, ordering_key=user_id)
    before = stack.api_calls()
    stack.settle()
    calls = stack.api_calls() - before
    assert calls["calendar.events.list"] == 1
    assert stack.services.store.meter.snapshot()["firestore.writes:sync"] - writes == 1
    assert set(ids) <= set(meetings(stack, ANNA))
    assert sum("webex.com" in (get(stack, ANNA, i).get("location") or "") for i in ids) == 5
