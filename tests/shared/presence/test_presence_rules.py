"""The pure parts of presence: the out-of-office rule, transitions and shard sizing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.presence.vacation import (
    AVAILABLE,
    DEFAULT_LIMITS,
    OUT_OF_OFFICE,
    Limits,
    Presence,
    Responder,
    evaluate,
    plan_shards,
    transition,
)

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def test_responder_reads_epoch_milliseconds_and_drops_the_text():
    body = {"enableAutoReply": True, "responseSubject": "Away", "responseBodyPlainText": "Gone",
            "startTime": _ms(NOW), "endTime": _ms(NOW + HOUR), "restrictToDomain": True}
    responder = Responder.from_api(body)
    assert responder == Responder(True, NOW, NOW + HOUR)
    assert "Away" not in repr(responder) and "Gone" not in repr(responder)


@pytest.mark.parametrize("body, status", [
    ({"enableAutoReply": False}, AVAILABLE),
    ({}, AVAILABLE),
    ({"enableAutoReply": True}, OUT_OF_OFFICE),
    ({"enableAutoReply": True, "restrictToContacts": True}, OUT_OF_OFFICE),
    ({"enableAutoReply": True, "restrictToDomain": True}, OUT_OF_OFFICE),
    ({"enableAutoReply": True, "startTime": _ms(NOW - HOUR)}, OUT_OF_OFFICE),
    ({"enableAutoReply": True, "startTime": _ms(NOW)}, OUT_OF_OFFICE),  # start is inclusive
    ({"enableAutoReply": True, "startTime": _ms(NOW + HOUR)}, AVAILABLE),
    ({"enableAutoReply": True, "endTime": _ms(NOW + HOUR)}, OUT_OF_OFFICE),
    ({"enableAutoReply": True, "endTime": _ms(NOW)}, AVAILABLE),  # end is exclusive
    ({"enableAutoReply": True, "startTime": _ms(NOW - HOUR), "endTime": _ms(NOW + HOUR)},
     OUT_OF_OFFICE),
    ({"enableAutoReply": True, "startTime": _ms(NOW + HOUR), "endTime": _ms(NOW - HOUR)},
     AVAILABLE),  # an empty window is never on
    ({"enableAutoReply": False, "startTime": _ms(NOW - HOUR), "endTime": _ms(NOW + HOUR)},
     AVAILABLE),
    ({"enableAutoReply": True, "startTime": "garbage"}, OUT_OF_OFFICE),  # unreadable = absent
])
def test_out_of_office_only_while_enabled_and_inside_the_window(body, status):
    assert evaluate(Responder.from_api(body), NOW).status == status


def test_a_scheduled_responder_announces_when_it_starts_and_ends():
    responder = Responder(True, NOW + HOUR, NOW + 3 * HOUR)
    assert evaluate(responder, NOW) == Presence(AVAILABLE, None, NOW + HOUR)
    assert evaluate(responder, NOW + 2 * HOUR) == Presence(OUT_OF_OFFICE, NOW + HOUR,
                                                           NOW + 3 * HOUR)
    assert evaluate(responder, NOW + 3 * HOUR) == Presence(AVAILABLE, NOW + 3 * HOUR, None)


def test_first_sight_of_an_available_user_is_not_a_change():
    view, changed = transition(None, Presence(AVAILABLE, None, None), NOW)
    assert view == {"status": AVAILABLE, "since": None, "until": None}
    assert not changed


def test_an_upcoming_window_is_stored_but_not_announced():
    view, changed = transition(None, Presence(AVAILABLE, None, NOW + HOUR), NOW)
    assert view["until"] == "2026-11-02T09:00:00Z"
    assert not changed


def test_open_ended_out_of_office_keeps_the_time_it_was_first_seen():
    first, changed = transition(None, Presence(OUT_OF_OFFICE, None, None), NOW)
    assert changed and first["since"] == "2026-11-02T08:00:00Z"
    second, changed = transition(first, Presence(OUT_OF_OFFICE, None, None), NOW + HOUR)
    assert not changed and second == first


def test_an_extended_vacation_is_a_change_and_back_to_available_is_one_too():
    before = {"status": OUT_OF_OFFICE, "since": "2026-11-02T08:00:00Z",
              "until": "2026-11-02T09:00:00Z"}
    view, changed = transition(before, Presence(OUT_OF_OFFICE, NOW, NOW + 2 * HOUR), NOW)
    assert changed and view["until"] == "2026-11-02T10:00:00Z"
    view, changed = transition(view, Presence(AVAILABLE, None, None), NOW + HOUR)
    assert changed and view == {"status": AVAILABLE, "since": "2026-11-02T09:00:00Z",
                                "until": None}


def test_shards_cover_every_user_evenly_and_fit_the_worker_timeout():
    plan = plan_shards(10_000, 600)
    assert plan.shards * plan.shard_size >= 10_000 > (plan.shards - 1) * plan.shard_size
    assert plan.shard_size <= DEFAULT_LIMITS.max_shard_users
    assert plan.shard_seconds <= DEFAULT_LIMITS.shard_budget_seconds
    assert plan.slot_seconds * plan.shards <= 600
    assert plan.fits_interval


def test_a_small_population_is_one_shard_that_starts_at_once():
    plan = plan_shards(3, 600)
    assert (plan.shards, plan.shard_size) == (1, 3)
    assert plan.slot_seconds == 240.0  # only shard 0 exists: it starts at the tick
    assert plan_shards(0, 600).shards == 0


def test_100k_users_every_10_minutes_stay_inside_the_gmail_quota():
    plan = plan_shards(100_000, 600)
    assert plan.fits_interval
    assert plan.calls_per_minute_peak <= DEFAULT_LIMITS.project_units_per_minute
    assert plan.daily_units <= DEFAULT_LIMITS.daily_units_threshold
    # one read per user per interval is far below the per-user quota
    assert 60 / 600 <= DEFAULT_LIMITS.user_units_per_minute


def test_the_shard_rate_cap_keeps_all_workers_under_the_quota_share():
    limits = Limits(call_seconds=0.001)  # a very fast Gmail: the rate cap is what binds
    plan = plan_shards(100_000, 600, limits)
    peak_units = plan.max_rate * limits.parallel_shards * 60 * limits.units_per_call
    assert peak_units <= limits.project_units_per_minute * limits.quota_share + 1e-6
    assert plan.calls_per_minute_peak <= peak_units + 1e-6


def test_a_population_too_large_for_the_interval_is_reported():
    assert not plan_shards(1_000_000, 600).fits_interval
