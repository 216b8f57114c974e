"""The LocalStack harness contract other issues build on."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import to_rfc3339


def test_stack_runs_a_keyword_change_end_to_end_on_the_fake_clock(stack):
    stack.add_user("alice@example.com", locale="de", timezone="Europe/Berlin")
    assert stack.activate("alice@example.com") == "active"
    assert stack.user_status("alice@example.com")["status"] == "active"
    start = stack.now() + timedelta(hours=1)
    stack.calendar("alice@example.com").events().insert(calendarId="primary", body={
        "summary": "Review", "location": "@webex",
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()
    assert stack.published("calendar-changes")
    assert stack.published("meetings-updated")
    assert stack.api_calls()["calendar.events.patch"] == 1
    assert (stack.data_dir / "hybridcal.sqlite3").exists()


def test_advance_publishes_each_due_scheduler_tick_in_time_order(stack):
    start = stack.now()
    stack.advance(seconds=600)
    ticks = [t["scheduled_at"] for t in stack.published("join-notifications-tick")]
    assert ticks[0] == (start + timedelta(seconds=60)).isoformat()
    assert ticks == sorted(set(ticks))
    assert len(stack.published("poll-vacations-tick")) == 1


def test_advance_moves_the_clock_exactly_when_nothing_backs_off(tmp_path):
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "d", scheduler=False) as quiet:
        before = quiet.now()
        quiet.advance(seconds=600)
        assert quiet.now() - before == timedelta(seconds=600)


def test_faults_apply_to_the_harness_clients_too(stack):
    import pytest
    from googleapiclient.errors import HttpError

    stack.add_user("bob@example.com")
    stack.faults.set(server_error=1.0, seed=1)
    with pytest.raises(HttpError):
        stack.calendar("bob@example.com").settings().get(setting="locale").execute()
    stack.faults.set()
    assert stack.calendar("bob@example.com").settings().get(
        setting="locale").execute()["value"] == "en"


def test_failed_validation_gives_an_actionable_reason(stack):
    stack.add_user("carol@example.com", suspended=True)
    assert stack.activate("carol@example.com") == "error"
    status = stack.user_status("carol@example.com")
    assert status["reason_code"] == "user_suspended"
    assert "Admin console" in status["reason"]
