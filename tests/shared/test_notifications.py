"""Join notifications through the embedded stack: the Scheduler tick every minute, users'
meetings created through the Calendar API, the clock advanced minute by minute."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.bus.base import Topics
from shared.clock import from_rfc3339, to_rfc3339

pytestmark = pytest.mark.integration

ANN, BEN = "ann@example.com", "ben@example.com"
WEBEX = "https://example.webex.com/meet/ann"


@pytest.fixture
def unscheduled(tmp_path) -> Iterator[Any]:
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data", scheduler=False) as running:
        yield running


def _users(stack: Any) -> None:
    for email in (ANN, BEN):
        stack.add_user(email)
        assert stack.activate(email) == "active"


def _insert(stack: Any, summary: str, location: str, start: Any, **extra: Any) -> str:
    return stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}, **extra}).execute()["id"]


def _sent(stack: Any) -> list[dict[str, Any]]:
    return stack.published(Topics.JOIN_NOTIFICATIONS)


def test_one_notification_per_occurrence_across_a_day_minute_by_minute(stack):
    _users(stack)
    t0 = stack.now()
    _insert(stack, "Standup", WEBEX, t0 + timedelta(hours=1),
            attendees=[{"email": BEN}], recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    _insert(stack, "Team sync", "@webex", t0 + timedelta(hours=6, minutes=30),
            recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    _insert(stack, "No link", "Room 4", t0 + timedelta(hours=3))
    cancelled = _insert(stack, "Cancelled", WEBEX, t0 + timedelta(hours=4))
    declined = _insert(stack, "Declined by Ben", WEBEX, t0 + timedelta(hours=5),
                       attendees=[{"email": BEN}])
    stack.settle()
    stack.calendar(ANN).events().delete(calendarId="primary", eventId=cancelled).execute()
    stack.calendar(BEN).events().patch(calendarId="primary", eventId=declined, body={
        "attendees": [{"email": BEN, "responseStatus": "declined"}]}).execute()
    stack.settle()
    uid = {stack.services.pseudonym(e): e for e in (ANN, BEN)}
    lead = timedelta(seconds=stack.services.config.notify_lead_seconds)

    seen = 0
    for _minute in range(24 * 60):
        stack.advance(seconds=60)
        for message in _sent(stack)[seen:]:  # each one went out inside its lead time
            start = from_rfc3339(message["start"])
            assert start - lead <= stack.now() <= start, message
        seen = len(_sent(stack))
        if _minute % 240 == 0:
            stack.tick(Topics.NOTIFY_TICK)  # a duplicate tick now and then

    per_occurrence = Counter((uid[m["user_id"]], m["event_id"], m["start"])
                             for m in _sent(stack))
    assert set(per_occurrence.values()) == {1}
    starts = sorted((email, m_start) for email, _e, m_start in per_occurrence)
    assert starts == sorted([
        (ANN, to_rfc3339(t0 + timedelta(hours=1))), (BEN, to_rfc3339(t0 + timedelta(hours=1))),
        (ANN, to_rfc3339(t0 + timedelta(hours=5))),
        (ANN, to_rfc3339(t0 + timedelta(hours=6, minutes=30)))])


def test_rescheduled_meeting_notifies_again_for_its_new_start(unscheduled):
    stack = unscheduled
    _users(stack)
    start = stack.now() + timedelta(minutes=4)
    event_id = _insert(stack, "Review", WEBEX, start)
    stack.settle()
    stack.tick(Topics.NOTIFY_TICK)
    assert len(_sent(stack)) == 1

    later = start + timedelta(hours=2)
    stack.calendar(ANN).events().patch(calendarId="primary", eventId=event_id, body={
        "start": {"dateTime": to_rfc3339(later)},
        "end": {"dateTime": to_rfc3339(later + timedelta(minutes=30))}}).execute()
    stack.settle()
    for _ in range(3):
        stack.tick(Topics.NOTIFY_TICK)
    assert len(_sent(stack)) == 1
    stack.clock.advance((later - stack.now()).total_seconds() - 120)
    stack.tick(Topics.NOTIFY_TICK)

    assert [m["start"] for m in _sent(stack)] == [to_rfc3339(start), to_rfc3339(later)]


def test_a_late_tick_notifies_until_five_minutes_in_but_not_after(unscheduled):
    stack = unscheduled
    _users(stack)
    three_in = _insert(stack, "Three minutes in", WEBEX, stack.now() + timedelta(minutes=10))
    _insert(stack, "Six minutes in", WEBEX, stack.now() + timedelta(minutes=7))
    stack.settle()

    stack.clock.advance(13 * 60)  # the scheduler missed every tick until now
    stack.tick(Topics.NOTIFY_TICK)

    assert [m["event_id"] for m in _sent(stack)] == [three_in]


def test_payload_is_sealed_and_opens_for_the_consumer(unscheduled):
    from shared.crypto import open_published
    from shared.keys.local import LocalKeysetKek

    stack = unscheduled
    _users(stack)
    _insert(stack, "Budget ZX81", WEBEX, stack.now() + timedelta(minutes=3))
    stack.settle()
    stack.tick(Topics.NOTIFY_TICK)

    [message] = _sent(stack)
    assert set(message) == {"user_id", "event_id", "start", "sealed"}
    assert "ZX81" not in json.dumps(message) and WEBEX not in json.dumps(message)
    kek = LocalKeysetKek(stack.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    opened = open_published(message["sealed"], kek)
    assert opened["title"] == "Budget ZX81" and opened["join_url"] == WEBEX


def test_inactive_users_are_never_notified(unscheduled):
    from shared.provisioning import deactivate

    stack = unscheduled
    _users(stack)
    _insert(stack, "Soon", WEBEX, stack.now() + timedelta(minutes=3),
            attendees=[{"email": BEN}])
    stack.settle()
    deactivate(stack.services, BEN)

    stack.tick(Topics.NOTIFY_TICK)

    assert [m["user_id"] for m in _sent(stack)] == [stack.services.pseudonym(ANN)]
