"""A handler instance that dies mid-work loses nothing: the redelivered message finishes it.

Crashes come from :mod:`shared.failpoints` (what the chaos run injects at random), placed
here at the exact write where a dying instance used to strand the work: the change must still
reach the user's calendar without another push or a reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared import failpoints
from shared.clock import to_rfc3339
from shared.keyword.event_patch import KEY_HASH, markers
from tests.shared.changes.processing_helpers import event_body

pytestmark = pytest.mark.integration

ANN = "ann@example.com"


class CrashAt:
    """Kill the first ``target`` invocation that reaches ``point`` while ``when()`` holds."""

    def __init__(self, stack, target: str, point: str, when: Callable[[], bool]) -> None:
        self.stack, self.target, self.point, self.when = stack, target, point, when
        self.crashed = False

    def __call__(self, point: str) -> None:
        if self.crashed or point != self.point:
            return
        if self.stack.crash_injector.current == self.target and self.when():
            self.crashed = True
            raise failpoints.SimulatedCrash(point)


@pytest.fixture
def ann(stack) -> Iterator:
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.crash_handlers(0.0)  # deliveries are watched; nothing crashes at random
    yield stack


def _sync_state(stack) -> dict:
    return stack.services.store.get("sync", stack.services.pseudonym(ANN)) or {}


def _create_keyword_event_and_settle(stack) -> str:
    event = stack.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "@webex", stack=stack, start_in_hours=5)).execute()
    stack.settle()
    return event["id"]


def _patched(stack, event_id: str) -> bool:
    event = stack.calendar(ANN).events().get(calendarId="primary", eventId=event_id).execute()
    return bool(markers(event).get(KEY_HASH)) and "@webex" not in event.get("location", "")


def test_a_sync_dying_after_telling_the_app_still_gets_the_change_indexed(ann):
    # The sync publishes a page's index changes before writing them: dying right after the
    # publish leaves the record unwritten and the token uncommitted; the redelivery lists the
    # change again and finishes it.
    crash = CrashAt(ann, "process_changes", "bus.after_publish", lambda: True)
    failpoints.install(crash)
    event_id = _create_keyword_event_and_settle(ann)
    assert crash.crashed
    assert _patched(ann, event_id)
    assert [m["title"] for m in ann.meetings(ANN)] == ["Standup"]


def test_a_sync_dying_mid_way_is_finished_by_the_redelivery_without_waiting(ann):
    # No lease: nothing a dead instance held makes the redelivery wait (it used to wait for
    # the dead holder's lease to run out, two minutes).
    crash = CrashAt(ann, "process_changes", "store.after_write", lambda: True)
    failpoints.install(crash)
    started = ann.now()
    event_id = _create_keyword_event_and_settle(ann)
    assert crash.crashed
    assert _patched(ann, event_id)
    assert (ann.now() - started).total_seconds() < 120


def _meeting_in_eight_minutes(stack) -> None:
    from datetime import timedelta

    from shared.clock import to_rfc3339

    start = stack.now() + timedelta(minutes=8)
    stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "Standup", "location": "@webex", "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=15))}}).execute()
    stack.settle()


def _due_under_lease(stack) -> bool:
    """A tick holds the notifier's lease while the meeting is owed and due."""
    from datetime import timedelta

    from shared.meetings import notifications
    from shared.store import names

    owed = [doc for _k, doc in stack.services.store.query("meetings")
            if doc.get("notify_at") and doc["notify_at"] <= to_rfc3339(
                stack.now() + timedelta(seconds=stack.services.config.notify_lead_seconds))]
    return bool(owed) and stack.services.store.get(
        names.RATELIMITS, notifications.LEASE_KEY) is not None


def test_a_notifier_dying_with_the_tick_lease_still_notifies_before_the_meeting(ann):
    # The lease outlives the dead instance; once it lapses a later tick sends the meeting.
    crash = CrashAt(ann, "dispatch_join_notifications", "store.after_write",
                    lambda: _due_under_lease(ann))
    failpoints.install(crash)
    _meeting_in_eight_minutes(ann)
    ann.advance(minutes=8)
    assert crash.crashed
    sent = ann.bus.published("join-notifications")
    assert len(sent) == 1
    [(_key, record)] = ann.services.store.query("meetings")
    assert record["notify_at"] == "" and record["notified"] == sent[0].data["start"]


def test_a_notifier_dying_after_publishing_repeats_it_with_the_same_notification_id(ann):
    crash = CrashAt(ann, "dispatch_join_notifications", "bus.after_publish", lambda: True)
    failpoints.install(crash)
    _meeting_in_eight_minutes(ann)
    ann.advance(minutes=8)
    assert crash.crashed
    sent = ann.bus.published("join-notifications")
    assert len(sent) == 2  # the subscriber drops the copy:
    assert len({m.attributes["notification_id"] for m in sent}) == 1
    assert sent[0].data == {**sent[1].data, "sealed": sent[0].data["sealed"]}


def test_a_queued_activation_dying_before_its_first_sync_still_indexes_the_calendar(stack):
    # The job marked the user active, then died before publishing the first sync: the
    # redelivered job found an active user, took it for done, and the calendar stayed
    # unindexed until a reconciliation hours later (found on CloudStack, issue 18).
    stack.add_user(ANN)
    stack.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "https://example.webex.com/meet/ann", stack=stack, start_in_hours=5)).execute()
    stack.crash_handlers(0.0)
    uid = stack.services.pseudonym(ANN)
    crash = CrashAt(stack, "process_changes", "store.after_write", lambda: (
        stack.services.store.get("users", uid) or {}).get("status") == "active")
    failpoints.install(crash)

    stack.bus.publish("provisioning-jobs", {"emails": [ANN]})
    stack.settle()

    assert crash.crashed
    assert stack.user_status(ANN)["status"] == "active"
    assert [m["title"] for m in stack.meetings(ANN)] == ["Standup"]
