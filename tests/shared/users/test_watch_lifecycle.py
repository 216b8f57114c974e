"""Provisioning and the watch lifecycle through the embedded stack: validation reasons, the
error → re-validation → active path, renewal past a week of (fake) time, orphans, deactivation.

The stack runs without its built-in scheduler here so a week passes in a few dozen renewal
ticks instead of ten thousand notification ticks; the ticks go through the real
``renew_watches`` entry point all the same.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import requests

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.google.factory import CALENDAR_SCOPE, GMAIL_SETTINGS_SCOPE

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"


def _hourly_renewal_ticks(stack: Any, hours: int) -> None:
    for _ in range(hours):
        stack.clock.advance(3600)
        stack.tick(Topics.RENEW_TICK)


def _event(stack: Any, email: str, summary: str, location: str = "") -> dict[str, Any]:
    start = stack.now() + timedelta(days=1)
    return stack.calendar(email).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()


def _live_channels(stack: Any, email: str) -> list[dict[str, Any]]:
    now = stack.now()
    return [c for c in stack.sim.channels()
            if c["calendar"] == email and not c["stopped"] and c["expiration"] > now]


# -- validation reasons --------------------------------------------------------------------------
def _revoke(stack: Any, scope: str) -> None:
    stack.sim.delegation.revoke(stack.sim.service_account_info["client_id"], scope)


@pytest.mark.parametrize(("setup", "code", "hint"), [
    (lambda s: _revoke(s, CALENDAR_SCOPE), "delegation_not_authorised", CALENDAR_SCOPE),
    (lambda s: s.sim.remove_user(ALICE), "user_not_found", "primary Workspace email"),
    (lambda s: s.sim.set_suspended(ALICE, True), "user_suspended", "restore the user"),
    (lambda s: s.sim.set_calendar_writable(ALICE, False), "calendar_not_writable",
     "cannot write"),
    (lambda s: _revoke(s, GMAIL_SETTINGS_SCOPE), "delegation_not_authorised",
     GMAIL_SETTINGS_SCOPE),
    (lambda s: s.sim.set_api_enabled("calendar", False), "calendar_api_disabled",
     "enable it"),
])
def test_each_validation_failure_has_its_own_actionable_reason(quiet_stack, setup, code, hint):
    stack = quiet_stack
    stack.add_user(ALICE)
    setup(stack)

    assert stack.activate(ALICE) == "error"

    status = stack.user_status(ALICE)
    assert status["reason_code"] == code
    assert hint in status["reason"]
    assert _live_channels(stack, ALICE) == []  # an invalid user is never watched
    if code == "delegation_not_authorised":
        assert stack.sim.service_account_info["client_id"] in status["reason"]


def test_validation_stores_locale_and_time_zone_and_leaves_no_probe_event(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE, locale="de", timezone="Europe/Berlin")

    assert stack.activate(ALICE) == "active"

    status = stack.user_status(ALICE)
    assert (status["locale"], status["timezone"]) == ("de", "Europe/Berlin")
    assert [e for e in stack.sim.events_of(ALICE) if e.get("status") != "cancelled"] == []
    assert len(_live_channels(stack, ALICE)) == 1
    assert stack.activate(ALICE) == "active"  # a no-op: still one channel
    assert len(_live_channels(stack, ALICE)) == 1


def test_error_user_is_revalidated_on_backoff_and_becomes_active(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    stack.sim.set_calendar_writable(ALICE, False)
    assert stack.activate(ALICE) == "error"

    stack.sim.set_calendar_writable(ALICE, True)  # the admin fixed it
    _hourly_renewal_ticks(stack, 1)

    assert stack.user_status(ALICE)["status"] == "active"
    assert len(_live_channels(stack, ALICE)) == 1
    _event(stack, ALICE, "Standup", "@webex")
    stack.settle()
    assert "webex.com" in stack.sim.events_of(ALICE)[-1]["location"]


def test_revalidation_backs_off_while_the_problem_persists(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    stack.sim.set_calendar_writable(ALICE, False)
    assert stack.activate(ALICE) == "error"

    inserts = []
    for _hour in range(31):
        before = stack.api_calls()["calendar.events.insert"]
        _hourly_renewal_ticks(stack, 1)
        inserts.append(stack.api_calls()["calendar.events.insert"] - before)

    attempts_at = [hour + 1 for hour, n in enumerate(inserts) if n]
    assert attempts_at == [1, 7, 31]  # 1 h, then 6 h, then 24 h later
    assert stack.user_status(ALICE)["status"] == "error"


def test_revoked_delegation_later_moves_the_user_to_error_and_stops_processing(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    _revoke(stack, CALENDAR_SCOPE)
    stack.services.workspace.forget(ALICE)  # tokens cached before the revocation expire

    stack.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": stack.services.pseudonym(ALICE),
                                                "reason": "push"})
    stack.settle()

    status = stack.user_status(ALICE)
    assert (status["status"], status["reason_code"]) == ("error", "delegation_not_authorised")
    lists = stack.api_calls()["calendar.events.list"]
    stack.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": stack.services.pseudonym(ALICE),
                                                "reason": "push"})
    stack.settle()
    assert stack.api_calls()["calendar.events.list"] == lists


# -- renewal -------------------------------------------------------------------------------------
def test_channels_are_renewed_before_expiry_and_pushes_keep_flowing_past_a_week(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    first = _live_channels(stack, ALICE)
    assert len(first) == 1

    _hourly_renewal_ticks(stack, 24 * 15)  # two TTLs and a day

    live = _live_channels(stack, ALICE)
    assert len(live) == 1 and live[0]["id"] != first[0]["id"]
    assert stack.api_calls()["calendar.channels.stop"] >= 2
    stopped = [c for c in stack.sim.channels() if c["stopped"]]
    assert first[0]["id"] in {c["id"] for c in stopped}
    assert all(c["stopped"] for c in stack.sim.channels() if c["id"] != live[0]["id"])

    event = _event(stack, ALICE, "Review", "@webex")
    stack.settle()
    patched = next(e for e in stack.sim.events_of(ALICE) if e["id"] == event["id"])
    assert "webex.com" in patched["location"]


def test_an_expired_channel_is_replaced_on_the_next_tick(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"

    stack.clock.advance(8 * 24 * 3600)  # the scheduler was down for more than a week
    assert _live_channels(stack, ALICE) == []
    stack.tick(Topics.RENEW_TICK)

    assert len(_live_channels(stack, ALICE)) == 1


def test_duplicate_renewal_ticks_create_one_channel(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    stack.clock.advance(6.5 * 24 * 3600)

    for _ in range(3):
        stack.bus.publish(Topics.RENEW_TICK, {"scheduled_at": "dup"})
    stack.settle()

    assert stack.api_calls()["calendar.events.watch"] == 2  # activation + one renewal
    assert len(_live_channels(stack, ALICE)) == 1


def test_failed_renewal_is_retried(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    stack.clock.advance(6.5 * 24 * 3600)
    stack.faults.fail_next("calendar.events.watch", status=503, times=4)

    stack.tick(Topics.RENEW_TICK)

    assert len(_live_channels(stack, ALICE)) == 1
    assert stack.api_calls()["calendar.events.watch"] >= 3


def test_reconciliation_sync_catches_changes_whose_pushes_were_lost(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    stack.faults.set(drop_push=1.0)
    event = _event(stack, ALICE, "Lost push", "@webex")
    stack.settle()
    assert stack.sim.events_of(ALICE)[-1]["location"] == "@webex"  # nobody told us

    hours = stack.services.config.reconcile_interval_seconds // 3600
    _hourly_renewal_ticks(stack, hours)

    patched = next(e for e in stack.sim.events_of(ALICE) if e["id"] == event["id"])
    assert "webex.com" in patched["location"]


# -- orphans -------------------------------------------------------------------------------------
def test_a_channel_we_have_no_record_of_is_stopped_through_its_resource_id(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    stale_id = f"old-deployment-{uuid.uuid4()}"
    stack.calendar(ALICE).events().watch(calendarId="primary", body={
        "id": stale_id, "type": "web_hook", "address": stack.url("intake_push"),
        "token": "whatever"}).execute()
    stops = stack.api_calls()["calendar.channels.stop"]

    _event(stack, ALICE, "Anything")
    stack.settle()

    stale = next(c for c in stack.sim.channels() if c["id"] == stale_id)
    assert stale["stopped"]
    assert stack.api_calls()["calendar.channels.stop"] == stops + 1
    assert stack.services.store.get("channels", stale_id) is None  # no record invented
    assert len(_live_channels(stack, ALICE)) == 1  # our own channel is untouched


def _forged_push(stack: Any, channel_id: str, resource_id: str) -> int:
    return requests.post(stack.url("intake_push"), headers={
        "X-Goog-Channel-ID": channel_id, "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-State": "exists", "X-Goog-Message-Number": "7"}, timeout=10).status_code


def test_forged_orphan_pushes_are_acknowledged_but_never_amplified(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    stops = stack.api_calls()["calendar.channels.stop"]

    from shared.changes.intake import ORPHAN_STOPS_PER_MINUTE

    def stop_attempts() -> int:
        stack.settle()
        return stack.api_calls()["calendar.channels.stop"] - stops

    minute = stack.now().replace(second=0, microsecond=0)  # the budget's window
    # unknown resource: acknowledged, nothing called on anyone's behalf
    assert _forged_push(stack, "made-up", "unknown-resource") == 200
    assert stop_attempts() == 0
    # the same orphan over and over: one stop attempt
    resource = stack.sim.channels()[0]["resourceId"]
    codes = [_forged_push(stack, "made-up-2", resource) for _ in range(5)]
    assert stop_attempts() == 1
    # a flood of made-up ids: at most the per-minute budget of stop attempts
    codes += [_forged_push(stack, f"flood-{n}", resource) for n in range(100)]
    flood = stop_attempts() - 1
    assert stack.now().replace(second=0, microsecond=0) == minute  # all in one minute

    assert set(codes) == {200}
    assert 0 < flood and 1 + flood <= ORPHAN_STOPS_PER_MINUTE
    assert len(_live_channels(stack, ALICE)) == 1


# -- deactivation --------------------------------------------------------------------------------
def test_deactivation_stops_the_channel_and_later_pushes_are_ignored(quiet_stack):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    _event(stack, ALICE, "Before", "@webex")
    stack.settle()
    user_id = stack.services.pseudonym(ALICE)
    assert stack.services.store.query("meetings") != []

    from shared.users.provisioning import deactivate

    assert deactivate(stack.services, ALICE) == "deactivated"
    stack.settle()

    assert _live_channels(stack, ALICE) == []
    assert stack.services.store.get("sync", user_id) is None
    assert stack.services.store.query("meetings") == []
    _hourly_renewal_ticks(stack, 24 * 8)  # nothing renews a deactivated user's channel
    assert _live_channels(stack, ALICE) == []
    assert stack.user_status(ALICE)["status"] == "deactivated"


def test_due_reads_every_match_across_pages_and_ties_once(tmp_path):
    """The renewal queries page on (due time, key): ties on a page boundary are neither lost
    nor read twice, and nothing past the bound is read."""
    from types import SimpleNamespace

    from shared.store.base import Filter
    from shared.store.sqlite import SqliteStore
    from shared.users import renewal

    store = SqliteStore(tmp_path / "s.sqlite3")
    expected = set()
    for n in range(1203):  # 2 full pages and a bit, most of them tied on a few values
        when = f"2026-01-0{1 + n % 3}T00:00:00Z" if n < 1100 else f"2026-01-05T00:{n % 60:02d}:00Z"
        store.put("channels", f"c{n:05d}", {"state": "active", "expires": when,
                                            "user_id": f"u{n}"})
        expected.add(f"c{n:05d}")
    store.put("channels", "late", {"state": "active", "expires": "2026-02-01T00:00:00Z"})
    store.put("channels", "done", {"state": "stopped", "expires": "2026-01-01T00:00:00Z"})

    keys = [k for k, _ in renewal.due(SimpleNamespace(store=store), "channels",
                                      Filter("state", "==", "active"), "expires",
                                      "2026-01-31T00:00:00Z")]

    assert len(keys) == len(set(keys)) == 1203
    assert set(keys) == expected
    capped = list(renewal.due(SimpleNamespace(store=store), "channels",
                              Filter("state", "==", "active"), "expires",
                              "2026-01-31T00:00:00Z", limit=600))
    assert 600 <= len(capped) < 1203
