"""The LocalStack harness contract other issues build on."""

from __future__ import annotations

from datetime import timedelta

import pytest

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


def test_a_modelled_delivery_time_moves_the_clock_by_it_for_each_delivery(tmp_path):
    """bench_processing models Google's latency this way: a sync covers the pushes received
    before it listed only if time passes between deliveries (the default keeps it still)."""
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "d", scheduler=False, delivery_seconds=0.25) as stack:
        stack.add_user("alice@example.com")
        assert stack.activate("alice@example.com") == "active"
        before, delivered = stack.now(), stack.billing()["pubsub.deliveries"]
        start = before + timedelta(hours=2)
        stack.calendar("alice@example.com").events().insert(calendarId="primary", body={
            "summary": "Review", "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
        stack.settle()
        deliveries = stack.billing()["pubsub.deliveries"] - delivered
        assert deliveries >= 1  # the push's calendar-changes (meetings-updated: no subscriber)
        assert stack.now() - before == timedelta(seconds=0.25 * deliveries)


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


# -- make run (issue #21 item 4) ----------------------------------------------------------------
def test_a_second_stack_on_the_same_data_dir_is_refused_and_names_the_holder(tmp_path):
    import os

    import pytest

    from local import LocalStack
    from local.stack import DataDirInUse

    data = tmp_path / "data"
    with LocalStack(data_dir=data) as first:
        first.add_user("ann@example.com")
        assert first.activate("ann@example.com") == "active"
        with pytest.raises(DataDirInUse) as refused:
            LocalStack(data_dir=data, fresh=True)
        # the running stack's data is untouched and it goes on serving
        assert (data / "hybridcal.sqlite3").exists()
        assert first.user_status("ann@example.com")["status"] == "active"
    assert f"process {os.getpid()}" in str(refused.value) and "--data-dir" in str(refused.value)
    with LocalStack(data_dir=data, fresh=True) as second:  # free again once the first is closed
        assert not (data / "hybridcal.sqlite3").exists() or second.user_status(
            "ann@example.com")["status"] != "active"


def test_make_run_on_a_directory_in_use_exits_non_zero_naming_the_process(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    from local import LocalStack

    data = tmp_path / "data"
    with LocalStack(data_dir=data) as running:
        running.add_user("ann@example.com")
        assert running.activate("ann@example.com") == "active"
        second = subprocess.run([sys.executable, "-m", "local", "--once", "--data-dir", str(data)],
                                capture_output=True, text=True, timeout=120,
                                cwd=Path(__file__).resolve().parents[2])
        assert running.user_status("ann@example.com")["status"] == "active"
    assert second.returncode == 2
    assert second.stdout == ""
    assert second.stderr.count("\n") == 1 and f"process {os.getpid()}" in second.stderr


def test_make_run_refuses_a_setting_a_deployment_would_refuse(tmp_path, capsys):
    from local.__main__ import main

    code = main(["--once", "--data-dir", str(tmp_path / "data")],
                environ={"HYBRIDCAL_VACATION_INTERVAL_SECONDS": "abc"})

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "HYBRIDCAL_VACATION_INTERVAL_SECONDS" in err
    assert "invalid literal" not in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()  # refused before anything was created


@pytest.fixture
def demo(tmp_path):
    from local.__main__ import start_demo

    running = start_demo(tmp_path / "data", {
        "HYBRIDCAL_ADMIN_TOKEN": "an-admin-token-chosen-by-me",
        "HYBRIDCAL_API_TOKENS": "a-device-token-of-my-own=device:room-1@example.com",
        "HYBRIDCAL_VACATION_INTERVAL_SECONDS": "120"}, real_time=False)
    yield running
    running.close()


def test_make_run_honours_the_environment_and_prints_working_credentials(demo):
    import requests

    stack = demo.stack
    text = "\n".join(demo.lines)
    assert demo.healthy
    assert stack.config.vacation_interval_seconds == 120
    assert "an-admin-token-chosen-by-me" in text
    users = requests.get(f"{stack.url('provision_users')}/users", timeout=30, headers={
        "Authorization": "Bearer an-admin-token-chosen-by-me"})
    assert users.status_code == 200
    api_token = next(line.split()[3] for line in demo.lines if "meetings API token" in line)
    assert requests.get(f"{stack.url('meetings_api')}/users/bob@example.com/meetings",
                        timeout=30, headers={"Authorization": f"Bearer {api_token}"}
                        ).status_code == 200
    device = requests.get(f"{stack.url('meetings_api')}/users/room-1@example.com/meetings",
                          timeout=30, headers={"Authorization": "Bearer a-device-token-of-my-own"})
    assert device.status_code == 200


def test_the_printed_links_open_alices_page_and_the_rooms_board(demo):
    import requests

    from local.__main__ import run_command

    stack = demo.stack
    assert run_command(stack, "create alice 30 'Design review' @webex").startswith("created")
    assert run_command(stack, "book room-1 15").startswith("booked room-1")
    links = [line.split()[-1] for line in demo.lines if "/page?access_token=" in line]
    assert len(links) == 2

    pages = [requests.Session().get(link, timeout=30) for link in links]  # a browser: cookies

    assert [p.status_code for p in pages] == [200, 200]
    assert "Design review" in pages[0].text
    assert "Booked on the room device" in pages[1].text


def test_console_errors_are_one_plain_sentence_and_its_promises_hold(demo):
    from local.__main__ import run_command

    stack = demo.stack
    bad = [run_command(stack, line) for line in (
        "create alice abc Lunch", "create alice", "create nobody 5 Lunch", "book room-1 lots",
        "book alice 30", "vacation alice maybe", "frobnicate", "create alice 5 'Lunch")]
    plain = run_command(stack, "create carol 5 Lunch")
    keyword = run_command(stack, "create carol 50 Standup @webex")

    for answer in bad:
        assert answer.startswith("error: ") and "\n" not in answer, answer
        assert "Error" not in answer and "Traceback" not in answer, answer
    assert "whole number" in bad[0] and "no user" in bad[2] and "no room" in bad[4]
    # without a keyword nothing is promised, and indeed nothing changes
    assert "leaves it as it is" in plain
    shown = run_command(stack, "show carol")
    assert "location: \n" in shown.split("'Standup'")[0]
    # with one, the join details are there when the console says so
    assert "added join details: https://example.webex.com/meet/carol" in keyword
    assert "location: https://example.webex.com/meet/carol" in shown


def test_console_shows_presence_notifications_and_books_rooms(demo):
    from local.__main__ import run_command

    stack = demo.stack
    run_command(stack, "create bob 3 'Budget call' @webex")
    run_command(stack, "vacation alice on")
    assert run_command(stack, "notifications") .startswith("(no join notifications yet")
    stack.advance(minutes=4)

    presence = run_command(stack, "presence alice")
    notifications = run_command(stack, "notifications bob")
    nothing_for_carol = run_command(stack, "notifications carol")
    booked = run_command(stack, "book room-1 30")
    busy = run_command(stack, "book room-1 30")

    assert presence.startswith("alice@example.com: out of office since")
    assert run_command(stack, "presence bob") == "bob@example.com: available"
    assert "bob@example.com: 'Budget call' join=https://example.webex.com/meet/bob" in notifications
    assert nothing_for_carol.startswith("(no join notifications yet")
    assert booked.startswith("booked room-1@example.com from ")
    assert "join: https://example.webex.com/meet/room-1" in booked
    assert busy.startswith("error: The room is busy until ") and "\n" not in busy
    assert "Booked on the room device" in run_command(stack, "meetings room-1")


def test_logs_go_to_the_file_named_at_start_up(demo, capfd):
    from local.__main__ import run_command

    assert str(demo.log_file) in "\n".join(demo.lines)
    capfd.readouterr()
    run_command(demo.stack, "create alice 20 Sync @webex")

    out, err = capfd.readouterr()
    assert '"severity"' not in out + err
    assert "join details written" in demo.log_file.read_text()
