"""Calendar push channels driven directly on the real store and the Workspace simulator (#22).

Found by mutation testing of shared/users/watch.py: in which order a channel is recorded,
watched and stopped, which of a user's channels a renewal keeps, and what a failure leaves.
Stack-level scenarios are in test_watch_lifecycle.py and test_renewal_order.py; these are
fast enough for the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.changes import intake
from shared.clock import to_rfc3339
from shared.google.errors import DelegationRefused, GoogleTransientError
from shared.store import names
from shared.users import watch
from tests.shared.users.direct import INTAKE_URL, Env

ANN = "ann@example.com"
BOB = "bob@example.com"
DAY = 86400
ATTEMPTS = 5  # shared.google.errors.call_google's attempts at a transient failure


@pytest.fixture
def env(tmp_path):
    running = Env(tmp_path)
    yield running
    running.close()


@pytest.fixture
def ann(env):
    env.sim.add_user(ANN)
    uid = env.user_id(ANN)
    env.services.store.put(names.USERS, uid, {"email": ANN, "status": "active", "kind": "user"})
    return uid


def _refuse_delegation(env, email):
    env.sim.delegation.revoke(env.sim.service_account_info["client_id"])
    env.services.workspace.forget(email)


# -- opening a channel --------------------------------------------------------------------------

def test_a_channel_is_recorded_before_google_is_asked_to_watch_and_active_after(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)

    [seen] = env.seen
    assert seen.operation == "watch" and seen.caller == ANN
    assert seen.store_state == "opening"  # intake knows the channel before Google can push
    [google] = env.sim.channels()
    assert doc["id"] == seen.channel_id == google["id"]
    stored = env.channels()[doc["id"]]
    assert stored == {k: v for k, v in doc.items() if k != "id"}
    assert stored["state"] == "active" and stored["user_id"] == ann
    assert stored["resource_id"] == google["resourceId"]
    assert stored["expires"] == to_rfc3339(google["expiration"])
    assert stored["created"] == to_rfc3339(env.now())
    assert "confirmed" not in stored  # nothing reads such a mark (#20)
    # Google pushes to our intake with a token whose hash only we keep
    assert google["address"] == INTAKE_URL == seen.body["address"]
    assert stored["token_hash"] == watch.token_hash(seen.body["token"])
    assert seen.body["token"] not in str(stored)
    assert google["expiration"] == env.now() + timedelta(seconds=env.config.watch_ttl_seconds)


def test_the_configured_channel_lifetime_is_asked_for_and_recorded(tmp_path):
    short = Env(tmp_path, {"HYBRIDCAL_WATCH_TTL_SECONDS": str(2 * DAY)})
    try:
        short.sim.add_user(ANN)
        doc = watch.start_channel(short.services, "u1", ANN)
        [google] = short.sim.channels()
        assert google["expiration"] == short.now() + timedelta(days=2)
        assert doc["expires"] == to_rfc3339(short.now() + timedelta(days=2))
    finally:
        short.close()


def test_the_recorded_expiry_is_the_one_google_answered(env, ann):
    # a slow (or retried) watch call starts the channel's lifetime when Google handles it:
    # renewal is planned from Google's expiration, not from when we asked
    env.during_watch(lambda channel_id, body: env.clock.advance(90))
    asked = env.now()
    doc = watch.start_channel(env.services, ann, ANN)
    [google] = env.sim.channels()
    assert google["expiration"] > asked + timedelta(seconds=env.config.watch_ttl_seconds)
    assert doc["expires"] == to_rfc3339(google["expiration"])


def test_each_channel_has_its_own_id_and_token(env, ann):
    first = watch.start_channel(env.services, ann, ANN)
    second = watch.start_channel(env.services, ann, ANN)
    assert first["id"] != second["id"]
    assert first["id"].startswith("hc-")
    assert first["token_hash"] != second["token_hash"]
    assert len(env.seen[0].body["token"]) >= 32


def test_a_sync_push_that_overtakes_the_watch_answer_is_taken_for_ours(env, ann):
    outcomes = []

    def early_sync(channel_id, body):
        outcomes.append(intake.accept_push(env.services, {
            "X-Goog-Channel-ID": channel_id, "X-Goog-Channel-Token": body["token"],
            "X-Goog-Resource-State": "sync", "X-Goog-Message-Number": "1",
            "X-Goog-Resource-ID": "r-1"}))

    env.during_watch(early_sync)
    watch.start_channel(env.services, ann, ANN)

    assert [o.name for o in outcomes] == ["sync_confirmed"]  # ours, not an orphan to stop
    assert env.bus.published("watch-renewals") == []
    [doc] = env.channels().values()
    assert doc["state"] == "active"  # the watch answer kept it


def test_a_room_calendar_is_watched_as_the_account_it_is_shared_with(env):
    from shared.users import workspaces

    env.sim.add_room("room-1@example.com", "Room 1")
    assert workspaces.activate_workspace(env.services, "room-1@example.com") == "active"
    [seen] = [s for s in env.seen if s.operation == "watch"]
    assert seen.caller == env.config.room_reader
    [google] = env.sim.channels()
    assert google["calendar"] == "room-1@example.com"


def test_a_refused_watch_leaves_no_record_and_is_raised(env, ann):
    _refuse_delegation(env, ANN)
    with pytest.raises(DelegationRefused):
        watch.start_channel(env.services, ann, ANN)
    assert env.channels() == {}


def test_a_watch_google_answers_with_an_error_leaves_no_record(env, ann):
    env.sim.faults.fail_next("calendar.events.watch", status=503, times=10)
    with pytest.raises(GoogleTransientError):
        watch.start_channel(env.services, ann, ANN)
    assert env.channels() == {}
    assert env.sim.channels() == []


# -- stopping -----------------------------------------------------------------------------------

def test_a_stop_is_recorded_as_stopping_before_google_and_stopped_after(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    watch.stop_channel(env.services, ANN, doc["id"], doc["resource_id"])

    stop = env.seen[-1]
    assert stop.operation == "stop" and stop.store_state == "stopping"
    assert stop.body == {"id": doc["id"], "resourceId": doc["resource_id"]}
    assert env.channels()[doc["id"]]["state"] == "stopped"
    assert env.live_at_google(ANN) == []


def test_a_channel_google_no_longer_knows_counts_as_stopped(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    watch.stop_channel(env.services, ANN, doc["id"], doc["resource_id"])
    env.services.store.merge(names.CHANNELS, doc["id"], {"state": "stopping"})  # e.g. a crash

    watch.stop_channel(env.services, ANN, doc["id"], doc["resource_id"])  # Google answers 404

    assert env.seen[-1].error == "notFound"
    assert env.channels()[doc["id"]]["state"] == "stopped"


def test_a_failed_stop_stays_stopping_so_pushes_are_ignored_and_it_is_retried(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.sim.faults.fail_next("calendar.channels.stop", status=503, times=ATTEMPTS)
    with pytest.raises(GoogleTransientError):
        watch.stop_channel(env.services, ANN, doc["id"], doc["resource_id"])
    assert env.channels()[doc["id"]]["state"] == "stopping"
    assert doc["id"] in env.live_at_google(ANN)

    assert watch.ensure_channel(env.services, ann, ANN) is True  # the next renewal retries
    assert doc["id"] not in env.channels()  # stopped, then its record deleted
    assert doc["id"] not in env.live_at_google(ANN)


def test_an_orphan_stop_creates_no_record(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.services.store.delete(names.CHANNELS, doc["id"])  # e.g. a store restored from backup
    watch.stop_channel(env.services, ANN, doc["id"], doc["resource_id"], record=False)
    assert env.channels() == {}
    assert env.live_at_google(ANN) == []


# -- keeping one fresh channel ------------------------------------------------------------------

def test_a_fresh_channel_is_kept_without_calling_google(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.seen.clear()
    env.clock.advance(timedelta(days=5, hours=23).total_seconds())  # expires in 25 h
    assert watch.ensure_channel(env.services, ann, ANN) is False
    assert env.seen == []
    assert env.channels()[doc["id"]]["state"] == "active"


def test_a_user_without_a_channel_gets_one(env, ann):
    assert watch.ensure_channel(env.services, ann, ANN) is True
    assert len(env.live_at_google(ANN)) == 1
    assert [d["state"] for d in env.channels(ann).values()] == ["active"]


def test_renewal_makes_the_new_channel_before_it_breaks_the_old(env, ann):
    old = watch.start_channel(env.services, ann, ANN)
    env.seen.clear()
    env.clock.advance(timedelta(days=6).total_seconds())  # exactly the horizon left

    assert watch.ensure_channel(env.services, ann, ANN) is True

    assert env.operations() == ["watch", "stop"]
    new = env.seen[0].channel_id
    assert env.seen[1].channel_id == old["id"]
    assert env.seen[1].body["resourceId"] == old["resource_id"]
    assert set(env.seen[1].live) == {old["id"], new}  # the new one served during the stop
    assert env.live_at_google(ANN) == [new]
    # one write made the new record whole before the watch (the calendar's resource id and
    # the expiry asked for, which Google answered); the old record is deleted, not marked
    [(key, record)] = env.channels(ann).items()
    assert key == new and record["state"] == "opening"
    assert record["resource_id"] == old["resource_id"]
    assert record["expires"] == to_rfc3339(env.now() + timedelta(
        seconds=env.config.watch_ttl_seconds))


def test_of_two_fresh_channels_the_one_lasting_longer_is_kept(env, ann):
    first = watch.start_channel(env.services, ann, ANN)
    env.clock.advance(3600)
    second = watch.start_channel(env.services, ann, ANN)
    env.seen.clear()
    assert watch.ensure_channel(env.services, ann, ANN) is False
    assert env.live_at_google(ANN) == [second["id"]]
    assert first["id"] not in env.channels()
    # and in the other order of creation: the later expiry wins, not the later record
    third = watch.start_channel(env.services, ann, ANN)
    env.services.store.merge(names.CHANNELS, third["id"], {
        "expires": to_rfc3339(env.now() + timedelta(days=2))})
    env.services.store.merge(names.CHANNELS, second["id"], {
        "expires": to_rfc3339(env.now() + timedelta(days=3))})
    assert watch.ensure_channel(env.services, ann, ANN) is False
    assert env.channels()[second["id"]]["state"] == "active"
    assert third["id"] not in env.channels()


def test_renewal_leaves_other_users_and_finished_channels_alone(env, ann):
    env.sim.add_user(BOB)
    bobs = watch.start_channel(env.services, env.user_id(BOB), BOB)
    opening = "hc-opening"
    env.services.store.put(names.CHANNELS, opening, {"user_id": ann, "state": "opening"})
    done = watch.start_channel(env.services, ann, ANN)
    watch.stop_channel(env.services, ANN, done["id"], done["resource_id"])
    env.seen.clear()

    assert watch.ensure_channel(env.services, ann, ANN) is True

    assert env.operations() == ["watch"]
    assert env.channels()[bobs["id"]]["state"] == "active"
    assert env.channels()[opening]["state"] == "opening"  # its watch may still be under way
    assert done["id"] not in env.channels()  # a stopped record no lookup needs to read again
    assert bobs["id"] in env.live_at_google(BOB)


# -- stopping everything ------------------------------------------------------------------------

def test_an_inactive_user_keeps_no_live_channel(env, ann):
    first = watch.start_channel(env.services, ann, ANN)
    second = watch.start_channel(env.services, ann, ANN)
    env.services.store.merge(names.CHANNELS, second["id"], {"state": "stopping"})

    watch.stop_all_channels(env.services, ann, {"email": ANN})

    assert env.live_at_google(ANN) == []
    assert {d["state"] for d in env.channels(ann).values()} == {"stopped"}
    assert {s.channel_id for s in env.seen if s.operation == "stop"} == {first["id"],
                                                                         second["id"]}


@pytest.mark.parametrize("tolerate_transient", [False, True])
def test_a_refused_stop_is_not_retried_and_the_channel_is_recorded_stopped(env, ann,
                                                                           tolerate_transient):
    doc = watch.start_channel(env.services, ann, ANN)
    _refuse_delegation(env, ANN)
    # no error (deactivation tolerates transient failures too, and still these): it expires
    watch.stop_all_channels(env.services, ann, {"email": ANN},
                            tolerate_transient=tolerate_transient)
    assert env.channels()[doc["id"]]["state"] == "stopped"


def test_a_stop_of_a_disabled_api_is_recorded_stopped(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.sim.set_api_enabled("calendar", False)
    watch.stop_all_channels(env.services, ann, {"email": ANN})
    assert env.channels()[doc["id"]]["state"] == "stopped"


def test_a_transient_stop_failure_is_raised_for_a_retry_unless_tolerated(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.sim.faults.fail_next("calendar.channels.stop", status=503, times=10)
    with pytest.raises(GoogleTransientError):
        watch.stop_all_channels(env.services, ann, {"email": ANN})
    assert env.channels()[doc["id"]]["state"] == "stopping"

    env.sim.faults.fail_next("calendar.channels.stop", status=503, times=10)
    watch.stop_all_channels(env.services, ann, {"email": ANN}, tolerate_transient=True)
    assert env.channels()[doc["id"]]["state"] == "stopped"


def test_a_user_without_an_address_has_the_records_stopped_without_calling_google(env, ann):
    doc = watch.start_channel(env.services, ann, ANN)
    env.seen.clear()
    watch.stop_all_channels(env.services, ann, {"status": "deactivated"})
    assert env.seen == []
    assert env.channels()[doc["id"]]["state"] == "stopped"


def test_a_rooms_channels_are_stopped_as_the_account_it_is_shared_with(env):
    from shared.users import workspaces

    env.sim.add_room("room-1@example.com", "Room 1")
    workspaces.activate_workspace(env.services, "room-1@example.com")
    uid = env.user_id("room-1@example.com")
    room = env.services.store.get(names.USERS, uid)
    watch.stop_all_channels(env.services, uid, room)
    assert env.live_at_google("room-1@example.com") == []
    assert {d["state"] for d in env.channels(uid).values()} == {"stopped"}


# -- renewing the channels the tick named (#20) -------------------------------------------------

def _renewed(env, ann):
    """ann's activation channel and a renewal's record of the same calendar, an hour later."""
    first = watch.start_channel(env.services, ann, ANN)
    env.clock.advance(3600)
    second = watch.start_channel(env.services, ann, ANN, resource_id=first["resource_id"])
    env.seen.clear()
    return first, second


def test_a_renewal_whose_named_channels_are_gone_does_nothing(env, ann):
    first, second = _renewed(env, ann)
    assert watch.ensure_channel(env.services, ann, ANN, renewing=["hc-gone"]) is False
    assert env.seen == []
    assert set(env.channels(ann)) == {first["id"], second["id"]}


def test_a_renewal_whose_named_channel_is_live_does_not_trust_an_opening_record(env, ann):
    first = watch.start_channel(env.services, ann, ANN)
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())  # first is due
    # what a failed first attempt of this renewal left: fresh, but never answered for
    second = watch.start_channel(env.services, ann, ANN, resource_id=first["resource_id"])
    env.seen.clear()
    assert watch.ensure_channel(env.services, ann, ANN, renewing=[first["id"]]) is True
    assert env.operations() == ["watch", "stop", "stop"]
    [new] = env.live_at_google(ANN)
    assert new not in (first["id"], second["id"]) and list(env.channels(ann)) == [new]


def test_without_named_channels_the_longer_lasting_renewed_record_is_kept(env, ann):
    first, second = _renewed(env, ann)
    assert watch.ensure_channel(env.services, ann, ANN) is False
    assert env.operations() == ["stop"] and env.seen[0].channel_id == first["id"]
    assert list(env.channels(ann)) == [second["id"]]
    # and a renewed record that lasts less than an active one is the one stopped
    third = watch.start_channel(env.services, ann, ANN)
    env.services.store.merge(names.CHANNELS, third["id"], {
        "expires": to_rfc3339(env.now() + timedelta(days=8))})
    assert watch.ensure_channel(env.services, ann, ANN) is False
    assert list(env.channels(ann)) == [third["id"]]


def test_a_renewed_channel_is_stopped_with_its_user(env, ann):
    _first, second = _renewed(env, ann)
    watch.stop_all_channels(env.services, ann, {"email": ANN})
    assert env.live_at_google(ANN) == []
    assert env.channels()[second["id"]]["state"] == "stopped"


def test_a_first_channels_record_without_an_expiry_is_left_to_its_watch_call(env, ann):
    env.services.store.put(names.CHANNELS, "hc-opening", {"user_id": ann, "state": "opening",
                                                         "resource_id": "r-1"})
    watch.stop_all_channels(env.services, ann, {"email": ANN})
    assert env.seen == [] and env.channels()["hc-opening"]["state"] == "opening"


def test_a_user_without_an_address_asks_google_for_no_token(env, ann):
    watch.start_channel(env.services, ann, ANN)
    env.services.workspace.forget(ANN)
    tokens = env.sim.api_calls()["oauth.token"]
    watch.stop_all_channels(env.services, ann, {"status": "deactivated"})
    assert env.sim.api_calls()["oauth.token"] == tokens

