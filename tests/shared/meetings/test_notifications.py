"""Join notifications through the embedded stack: the Scheduler tick every minute, users'
meetings created through the Calendar API, the clock advanced minute by minute."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from shared.bus.base import Topics
from shared.clock import from_rfc3339, to_rfc3339
from shared.store.base import Filter

pytestmark = pytest.mark.integration

ANN, BEN, CAT = "ann@example.com", "ben@example.com", "cat@example.com"
WEBEX = "https://example.webex.com/meet/ann"
SIP = "ann.room@example.webex.com"


@pytest.fixture
def unscheduled(tmp_path) -> Iterator[Any]:
    """A stack whose scheduler never ticks by itself: the test decides when ticks happen."""
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data", scheduler=False) as running:
        yield running


def _users(stack: Any) -> None:
    for email in (ANN, BEN):
        stack.add_user(email)
        assert stack.activate(email) == "active"


def _insert(stack: Any, summary: str, location: str, start: Any, *, minutes: int = 30,
            **extra: Any) -> str:
    return stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=minutes))},
        **extra}).execute()["id"]


def _move(stack: Any, event_id: str, start: Any) -> None:
    stack.calendar(ANN).events().patch(calendarId="primary", eventId=event_id, body={
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()


def _sent(stack: Any) -> list[dict[str, Any]]:
    return stack.published(Topics.JOIN_NOTIFICATIONS)


def _kek(stack: Any) -> Any:
    from shared.keys.local import LocalKeysetKek

    return LocalKeysetKek(stack.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")


def test_one_notification_per_occurrence_across_a_day_minute_by_minute(stack):
    _users(stack)
    t0 = stack.now()
    _insert(stack, "Standup", WEBEX, t0 + timedelta(hours=1),
            attendees=[{"email": BEN}], recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    _insert(stack, "Team sync", "@webex", t0 + timedelta(hours=6, minutes=30),
            recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    _insert(stack, "Office hours", WEBEX, t0 + timedelta(hours=2, minutes=15),
            recurrence=["RRULE:FREQ=HOURLY;COUNT=4"])
    _insert(stack, "No link", "Room 4", t0 + timedelta(hours=3))
    cancelled = _insert(stack, "Cancelled", WEBEX, t0 + timedelta(hours=4))
    declined = _insert(stack, "Declined by Ben", WEBEX, t0 + timedelta(hours=5),
                       attendees=[{"email": BEN}])
    tomorrow = (t0 + timedelta(days=1)).date()
    stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "All day", "location": WEBEX, "start": {"date": tomorrow.isoformat()},
        "end": {"date": (tomorrow + timedelta(days=1)).isoformat()}}).execute()
    stack.settle()
    stack.calendar(ANN).events().delete(calendarId="primary", eventId=cancelled).execute()
    stack.calendar(BEN).events().patch(calendarId="primary", eventId=declined, body={
        "attendees": [{"email": BEN, "responseStatus": "declined"}]}).execute()
    stack.settle()
    uid = {stack.services.pseudonym(e): e for e in (ANN, BEN)}
    lead = timedelta(seconds=stack.services.config.notify_lead_seconds)

    seen = 0
    for minute in range(26 * 60):  # a day, and the next morning's standup
        stack.advance(seconds=60)
        for message in _sent(stack)[seen:]:  # each one went out inside its lead time
            start = from_rfc3339(message["start"])
            assert start - lead <= stack.now() <= start, message
        seen = len(_sent(stack))
        if minute % 240 == 0:
            stack.tick(Topics.NOTIFY_TICK)  # a duplicate tick now and then

    per_occurrence = Counter((uid[m["user_id"]], m["event_id"], m["start"])
                             for m in _sent(stack))
    assert set(per_occurrence.values()) == {1}
    starts = sorted((email, m_start) for email, _e, m_start in per_occurrence)
    office_hours = [(ANN, to_rfc3339(t0 + timedelta(hours=2 + n, minutes=15)))
                    for n in range(4)]
    assert starts == sorted([
        (ANN, to_rfc3339(t0 + timedelta(hours=1))), (BEN, to_rfc3339(t0 + timedelta(hours=1))),
        *office_hours,
        (ANN, to_rfc3339(t0 + timedelta(hours=5))),
        (ANN, to_rfc3339(t0 + timedelta(hours=6, minutes=30))),
        (ANN, to_rfc3339(t0 + timedelta(days=1, hours=1))),
        (BEN, to_rfc3339(t0 + timedelta(days=1, hours=1)))])


def test_rescheduled_meeting_notifies_again_for_its_new_start(stack):
    _users(stack)
    t0 = stack.now()
    notified_then_moved = _insert(stack, "Review", WEBEX, t0 + timedelta(minutes=4))
    moved_before = _insert(stack, "Planning", WEBEX, t0 + timedelta(minutes=20))
    stack.settle()
    for _ in range(10):
        stack.advance(seconds=60)
    assert [m["event_id"] for m in _sent(stack)] == [notified_then_moved]

    _move(stack, notified_then_moved, t0 + timedelta(hours=2))
    _move(stack, moved_before, t0 + timedelta(hours=1))
    stack.settle()
    for _ in range(170):
        stack.advance(seconds=60)

    assert [(m["event_id"], m["start"]) for m in _sent(stack)] == [
        (notified_then_moved, to_rfc3339(t0 + timedelta(minutes=4))),
        (moved_before, to_rfc3339(t0 + timedelta(hours=1))),
        (notified_then_moved, to_rfc3339(t0 + timedelta(hours=2)))]


def test_declined_attendee_gets_none_while_the_organizer_still_does(unscheduled):
    stack = unscheduled
    _users(stack)
    event_id = _insert(stack, "Sync", WEBEX, stack.now() + timedelta(minutes=4),
                       attendees=[{"email": BEN}])
    stack.settle()
    stack.calendar(BEN).events().patch(calendarId="primary", eventId=event_id, body={
        "attendees": [{"email": BEN, "responseStatus": "declined"}]}).execute()
    stack.settle()

    stack.tick(Topics.NOTIFY_TICK)

    assert [m["user_id"] for m in _sent(stack)] == [stack.services.pseudonym(ANN)]


def test_duplicate_ticks_still_notify_once(stack):
    _users(stack)
    _insert(stack, "Standup", WEBEX, stack.now() + timedelta(minutes=3))
    stack.settle()

    for _ in range(5):
        stack.tick(Topics.NOTIFY_TICK)
    for _ in range(15):  # the scheduled ticks keep coming, through and past the start
        stack.advance(seconds=60)
        stack.tick(Topics.NOTIFY_TICK)

    assert len(_sent(stack)) == 1


def test_a_late_tick_notifies_until_five_minutes_in_but_not_after(unscheduled):
    stack = unscheduled
    _users(stack)
    three_in = _insert(stack, "Three minutes in", WEBEX, stack.now() + timedelta(minutes=10))
    _insert(stack, "Six minutes in", WEBEX, stack.now() + timedelta(minutes=7))
    _insert(stack, "Over already", WEBEX, stack.now() + timedelta(minutes=10, seconds=30),
            minutes=2)
    stack.settle()

    stack.clock.advance(13 * 60)  # the scheduler missed every tick until now
    stack.tick(Topics.NOTIFY_TICK)

    assert [m["event_id"] for m in _sent(stack)] == [three_in]


def test_meetings_without_a_join_path_never_notify_but_a_sip_uri_is_enough(unscheduled):
    stack = unscheduled
    _users(stack)
    _insert(stack, "Corridor chat", "Room 4", stack.now() + timedelta(minutes=2))
    sip_only = _insert(stack, "Room call", SIP, stack.now() + timedelta(minutes=3))
    stack.settle()

    stack.tick(Topics.NOTIFY_TICK)

    [message] = _sent(stack)
    assert message["event_id"] == sip_only
    from shared.crypto.sealer import open_published

    assert open_published(message["sealed"], _kek(stack))["sip_uri"] == SIP


def test_payload_is_sealed_and_opens_for_the_consumer(unscheduled, caplog):
    from shared.crypto.sealer import TamperedOrMisplaced, open_published

    caplog.set_level(logging.DEBUG)
    stack = unscheduled
    _users(stack)
    event_id = _insert(stack, "Budget ZX81", WEBEX, stack.now() + timedelta(minutes=3))
    stack.settle()
    stack.tick(Topics.NOTIFY_TICK)

    [message] = _sent(stack)
    user_id = stack.services.pseudonym(ANN)
    assert set(message) == {"user_id", "event_id", "start", "sealed"}
    assert (message["user_id"], message["event_id"]) == (user_id, event_id)
    assert set(message["sealed"]) == {"sealed", "data_key", "kek", "aad", "place"}
    assert message["sealed"]["aad"] == f"{user_id}|{message['sealed']['place']}"
    text = json.dumps(message)
    assert "ZX81" not in text and WEBEX not in text
    opened = open_published({**message["sealed"], "user_id": user_id}, _kek(stack))
    assert opened == {"title": "Budget ZX81", "join_url": WEBEX, "sip_uri": None}
    with pytest.raises(TamperedOrMisplaced):  # another user's name on it does not open
        open_published({**message["sealed"], "user_id": stack.services.pseudonym(BEN)},
                       _kek(stack))

    logged = [r for r in caplog.records if r.name == "shared.meetings.notifications"]
    assert logged, "the dispatch is logged"
    for record in caplog.records:
        line = record.getMessage() + json.dumps(getattr(record, "json_fields", {}), default=str)
        assert "ZX81" not in line and WEBEX not in line


def test_a_failed_publish_leaves_the_meeting_owed_and_the_redelivered_tick_notifies(
        unscheduled, monkeypatch):
    from shared.meetings import notifications

    stack = unscheduled
    _users(stack)
    _insert(stack, "Standup", WEBEX, stack.now() + timedelta(minutes=3))
    stack.settle()
    real_publish = stack.services.bus.publish
    failures = [RuntimeError("pubsub unavailable")] * 2

    def flaky_publish(topic: str, data: dict[str, Any], **kwargs: Any) -> str:
        if topic == Topics.JOIN_NOTIFICATIONS and failures:
            raise failures.pop()
        return real_publish(topic, data, **kwargs)

    monkeypatch.setattr(stack.services.bus, "publish", flaky_publish)

    with pytest.raises(RuntimeError):
        notifications.on_tick(stack.services)
    [(_key, record)] = stack.services.store.query("meetings")
    assert record["notify_at"] and "notified" not in record  # still owed

    stack.tick(Topics.NOTIFY_TICK)  # fails once more, then the redelivery publishes

    assert not failures and len(_sent(stack)) == 1
    [(_key, record)] = stack.services.store.query("meetings")
    assert record["user_id"] == stack.services.pseudonym(ANN)
    assert record["notify_at"] == "" and record["notified"] == _sent(stack)[0]["start"]
    assert notifications.on_tick(stack.services) == 0


def test_users_who_are_not_active_are_never_notified(unscheduled):
    from shared.users.provisioning import deactivate
    from shared.users.status import mark_error

    stack = unscheduled
    _users(stack)
    stack.add_user(CAT)
    assert stack.activate(CAT) == "active"
    _insert(stack, "Soon", WEBEX, stack.now() + timedelta(minutes=3),
            attendees=[{"email": BEN}, {"email": CAT}])
    stack.settle()
    deactivate(stack.services, BEN)  # index and keys gone
    mark_error(stack.services, stack.services.pseudonym(CAT), RuntimeError("broken"))
    assert stack.services.store.query("meetings", [  # Cat's index is kept while in error
        Filter("user_id", "==", stack.services.pseudonym(CAT))])

    stack.tick(Topics.NOTIFY_TICK)

    assert [m["user_id"] for m in _sent(stack)] == [stack.services.pseudonym(ANN)]


def test_an_unreadable_record_is_skipped_and_the_others_still_notify(unscheduled):
    from shared.meetings import notifications

    stack = unscheduled
    _users(stack)
    _insert(stack, "Soon", WEBEX, stack.now() + timedelta(minutes=3),
            attendees=[{"email": BEN}])
    stack.settle()
    [(key, _doc)] = stack.services.store.query("meetings", [
        Filter("user_id", "==", stack.services.pseudonym(ANN))])
    stack.services.store.merge("meetings", key, {"blob": "v1.damaged", "notice": "v1.damaged"})

    stack.tick(Topics.NOTIFY_TICK)

    assert [m["user_id"] for m in _sent(stack)] == [stack.services.pseudonym(BEN)]
    assert stack.published(Topics.dead_letter(Topics.NOTIFY_TICK)) == []
    assert notifications.on_tick(stack.services) == 0  # skipped again, without raising
