"""Keeping watches alive, driven directly on the real store, bus and Workspace simulator (#22).

Found by mutation testing of shared/users/renewal.py: which users a renewal tick fans out
(channels renewed before they expire, reconciliation and re-validation when due), what the
worker does for each kind of message, and which orphan channels it stops. The stack-level
scenarios are in test_watch_lifecycle.py and test_renewal_order.py; these are fast enough for
the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.errors import BadRequest
from shared.store import names
from shared.store.base import Filter
from shared.users import provisioning, renewal, watch, workspaces
from tests.shared.users.direct import Env

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"
ROOM = "room-1@example.com"
HOUR = 3600


@pytest.fixture
def env(tmp_path):
    running = Env(tmp_path)
    yield running
    running.close()


def _active(env, email):
    env.sim.add_user(email)
    assert provisioning.activate_now(env.services, email) == "active"
    return env.user_id(email)


def _fanned_out(env):
    return [(m.data["user_id"], m.data["kind"]) for m in env.bus.published(Topics.RENEW_USER)]


def _reconcile_syncs(env):
    return [m for m in env.bus.published(Topics.CALENDAR_CHANGES)
            if m.data.get("reason") == "reconcile"]


def _refuse_delegation(env, email):
    env.sim.delegation.revoke(env.sim.service_account_info["client_id"])
    env.services.workspace.forget(email)


# -- the tick -----------------------------------------------------------------------------------

def test_a_tick_renews_channels_expiring_within_the_horizon_once_per_user(env):
    ann, bob = _active(env, ANN), _active(env, BOB)
    env.clock.advance(HOUR)
    watch.start_channel(env.services, ann, ANN)  # ann has two, both due
    env.clock.advance(timedelta(days=6).total_seconds() - HOUR)  # bob's: exactly the horizon

    result = renewal.on_tick(env.services)

    assert sorted(_fanned_out(env)) == sorted([(ann, "renew"), (bob, "renew")])
    assert (result.renewals, result.reconciliations, result.revalidations) == (2, 0, 0)
    for message in env.bus.published(Topics.RENEW_USER):
        assert message.ordering_key == message.data["user_id"]


def test_a_channel_lasting_past_the_horizon_is_not_renewed_yet(env):
    _active(env, ANN)
    env.clock.advance(timedelta(days=6).total_seconds() - 1)  # one second more than a day left
    assert renewal.on_tick(env.services).renewals == 0
    assert _fanned_out(env) == []


def test_an_expired_channel_is_still_renewed_and_a_stopped_one_is_not(env):
    ann, bob = _active(env, ANN), _active(env, BOB)
    [(bobs, doc)] = env.channels(bob).items()
    watch.stop_channel(env.services, BOB, bobs, doc["resource_id"])
    env.clock.advance(timedelta(days=9).total_seconds())
    assert list(renewal.expiring_channels(env.services, env.now())) == [ann]


def test_a_tick_reconciles_users_not_synced_for_an_interval_directly_and_writes_nothing(env):
    """The tick publishes the sync itself ({"user_id", "reason"}: the calendar-changes
    contract) for users whose last sync is an interval old; the sync's own commit of
    ``last_sync`` is what makes them not due at the next tick, so the tick writes nothing."""
    now = env.now()
    bound = now - timedelta(seconds=env.config.reconcile_interval_seconds)
    for user, when in [("u-ann", bound), ("u-bob", bound - timedelta(days=3)),
                       ("u-later", bound + timedelta(seconds=1))]:
        env.services.store.put(names.SYNC, user, {"last_sync": to_rfc3339(when)})
    writes = env.services.store.meter.snapshot()["firestore.writes"]
    result = renewal.on_tick(env.services)
    syncs = _reconcile_syncs(env)
    assert [m.data for m in syncs] == [{"user_id": "u-bob", "reason": "reconcile"},
                                       {"user_id": "u-ann", "reason": "reconcile"}]
    assert [m.ordering_key for m in syncs] == ["u-bob", "u-ann"]
    assert _fanned_out(env) == []  # no worker in between
    assert (result.renewals, result.reconciliations, result.revalidations) == (0, 2, 0)
    assert env.services.store.meter.snapshot()["firestore.writes"] == writes
    env.services.store.merge(names.SYNC, "u-ann", {"last_sync": to_rfc3339(now)})  # synced
    before = len(_reconcile_syncs(env))
    assert renewal.on_tick(env.services).reconciliations == 1
    assert [m.data["user_id"] for m in _reconcile_syncs(env)[before:]] == ["u-bob"]


def test_a_tick_revalidates_users_in_error_or_pending_once_their_back_off_passed(env):
    now = env.now()
    for user, state, when in [("u-err", "error", now), ("u-pend", "pending", now),
                              ("u-later", "error", now + timedelta(seconds=1)),
                              ("u-active", "active", now + timedelta(days=1)),
                              ("u-gone", "deactivated", now)]:
        env.services.store.put(names.USERS, user, {
            "status": state, "next_validation_at": to_rfc3339(when)})
    result = renewal.on_tick(env.services)
    assert _fanned_out(env) == [("u-err", "revalidate"), ("u-pend", "revalidate")]
    assert [m.ordering_key for m in env.bus.published(Topics.RENEW_USER)] == ["u-err", "u-pend"]
    assert (result.renewals, result.reconciliations, result.revalidations) == (0, 0, 2)


def test_due_reads_every_match_across_pages_and_ties_once(env, monkeypatch):
    monkeypatch.setattr(renewal, "PAGE", 3)  # the paging logic with pages of three
    store = env.services.store
    days = ["2026-01-03"] * 2 + ["2026-01-01"] * 8 + ["2026-01-02"] * 4  # ties across pages
    for n, day in enumerate(days):  # keys not in due order: due order is (time, key)
        store.put("channels", f"c{n:02d}", {"state": "active", "expires": day + "T00:00:00Z"})
    expected = [k for _, k in sorted((d, f"c{n:02d}") for n, d in enumerate(days))]
    store.put("channels", "a-late", {"state": "active", "expires": "2026-02-01T00:00:00Z"})
    store.put("channels", "a-done", {"state": "stopped", "expires": "2026-01-01T00:00:00Z"})

    def keys(limit=renewal.MAX_PER_TICK, until="2026-01-31T00:00:00Z"):
        return [k for k, _ in renewal.due(env.services, "channels",
                                          Filter("state", "==", "active"), "expires", until,
                                          limit=limit)]

    assert keys() == expected  # in due order, each once, nothing past the bound
    assert keys(until="2026-01-02T00:00:00Z") == expected[:12]  # the bound itself is due
    # a tick stops at its limit, after the page that reached it: pages stay bounded
    assert keys(limit=4) == expected[:6]
    assert keys(limit=3) == expected[:3]
    assert keys(limit=9) == expected[:11]  # 8 tied, then one page of the next values
    store.put("channels", "c99", {"state": "active", "expires": "2026-01-04T00:00:00Z"})
    assert keys() == [*expected, "c99"]  # a short last page of the range ends the read



def _reads(env, collection: str = "") -> float:
    key = f"firestore.reads:{collection}" if collection else "firestore.reads"
    return env.services.store.meter.snapshot()[key]


def test_due_pays_only_for_the_documents_it_returns(env, monkeypatch):
    """Every hourly tick runs due() for each kind of work: a query that comes back short holds
    every remaining match, so asking again would bill an empty query (one read) per kind per
    tick for nothing (#20: reads are what a tenant pays for)."""
    monkeypatch.setattr(renewal, "PAGE", 3)
    store = env.services.store
    for n in range(2):
        store.put("channels", f"c{n}", {"state": "active", "expires": "2026-01-01T00:00:00Z"})
    before = _reads(env)
    found = list(renewal.due(env.services, "channels", Filter("state", "==", "active"),
                             "expires", "2026-01-31T00:00:00Z"))
    assert len(found) == 2
    assert _reads(env) - before == 2  # the two documents; no second, empty query

    # a full first page, no ties after it, then a short page of later values: that short
    # page ends the read too (the empty tie query in between is billed as one read)
    for n, day in enumerate(["02", "03", "04"]):
        store.put("channels", f"d{n}", {"state": "active", "expires": f"2026-02-{day}T00:00:00Z"})
    before = _reads(env)
    found = list(renewal.due(env.services, "channels", Filter("state", "==", "active"),
                             "expires", "2026-02-28T00:00:00Z"))
    assert [k for k, _ in found] == ["c0", "c1", "d0", "d1", "d2"]
    assert _reads(env) - before == 3 + 1 + 2


def test_an_orphan_lookup_reads_one_of_the_calendars_channels(env):
    """The owner is found through any one channel recorded on the calendar; a calendar keeps
    the records of every channel it ever had (stopped ones too), and reading them all would
    bill each of them on every orphan push."""
    def lookup_reads(email: str) -> float:
        orphan = _orphan(env, email)
        before = _reads(env, names.CHANNELS)
        assert renewal.renew_user(env.services, orphan) == "stopped"
        return _reads(env, names.CHANNELS) - before

    _active(env, ANN), _active(env, BOB)
    uid = env.user_id(ANN)
    for _ in range(3):  # renewals leave stopped channel records on ann's calendar
        old = watch.start_channel(env.services, uid, ANN)
        watch.stop_channel(env.services, ANN, old["id"], old["resource_id"])
    assert lookup_reads(ANN) == lookup_reads(BOB)  # four records cost what one does

# -- the worker ---------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    {"user_id": "u1", "kind": "delete-everything"}, {"kind": "renew"}, {"user_id": ""},
    {"user_id": 7}, {"kind": "orphan", "channel_id": "hc-1"},
    {"kind": "orphan", "channel_id": "hc-1", "resource_id": ""},
    {"kind": "orphan", "channel_id": 5, "resource_id": "r"}])
def test_a_malformed_message_is_a_bad_request(env, data):
    with pytest.raises(BadRequest):
        renewal.renew_user(env.services, data)


def test_a_due_channel_is_renewed_make_before_break_and_a_fresh_one_kept(env):
    ann = _active(env, ANN)
    [old] = env.channels(ann)
    env.seen.clear()
    assert renewal.renew_user(env.services, {"user_id": ann}) == "fresh"  # kind defaults
    assert env.seen == []
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "renew"}) == "renewed"
    assert env.operations() == ["watch", "stop"]
    assert env.seen[1].channel_id == old
    assert len(env.live_at_google(ANN)) == 1 and old not in env.live_at_google(ANN)


def test_a_rooms_channel_is_renewed_as_the_account_it_is_shared_with(env):
    env.sim.add_room(ROOM, "Room 1")
    assert workspaces.activate_workspace(env.services, ROOM) == "active"
    uid = env.user_id(ROOM)
    env.seen.clear()
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    assert renewal.renew_user(env.services, {"user_id": uid, "kind": "renew"}) == "renewed"
    assert [s.caller for s in env.seen if s.operation == "watch"] == [env.config.room_reader]
    assert len(env.live_at_google(ROOM)) == 1


def test_an_older_ticks_reconcile_message_keeps_a_live_channel_and_syncs(env):
    ann = _active(env, ANN)
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "reconcile"}) == "reconciled"
    assert len(env.live_at_google(ANN)) == 1 and len(env.seen) == 3  # watched, renewed, stopped
    [sync] = _reconcile_syncs(env)
    assert sync.data == {"user_id": ann, "reason": "reconcile"} and sync.ordering_key == ann


def test_a_user_no_longer_active_gets_their_channels_stopped(env):
    ann = _active(env, ANN)
    env.services.store.merge(names.USERS, ann, {"status": "deactivated"})
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "renew"}) == "inactive"
    assert env.live_at_google(ANN) == []
    assert {d["state"] for d in env.channels(ann).values()} == {"stopped"}


def test_an_active_record_without_an_address_gets_no_new_channel(env):
    ann = _active(env, ANN)
    env.services.store.put(names.USERS, ann, {"status": "active"})
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "reconcile"}) == "inactive"
    assert {d["state"] for d in env.channels(ann).values()} == {"stopped"}
    assert _reconcile_syncs(env) == []
    assert renewal.renew_user(env.services, {"user_id": "u-unknown"}) == "inactive"


def test_revoked_delegation_moves_the_user_to_error_with_the_reason(env):
    ann = _active(env, ANN)
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    _refuse_delegation(env, ANN)
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "reconcile"}) == "error"
    record = env.services.store.get(names.USERS, ann)
    # the admin is told what to fix: authorise the client ID again
    assert record["status"] == "error"
    assert record["reason_code"] == "delegation_not_authorised"
    assert env.sim.service_account_info["client_id"] in record["reason"]
    assert _reconcile_syncs(env) == []


def test_a_room_whose_calendar_is_gone_moves_to_error(env):
    env.sim.add_room(ROOM, "Room 1")
    workspaces.activate_workspace(env.services, ROOM)
    uid = env.user_id(ROOM)
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    env.sim.remove_user(ROOM)
    assert renewal.renew_user(env.services, {"user_id": uid, "kind": "renew"}) == "error"
    record = env.services.store.get(names.USERS, uid)
    assert record["status"] == "error"
    assert record["reason_code"] == "calendar_error"  # Google's answer, for the admin
    assert "404" in record["reason"]


# -- re-validation ------------------------------------------------------------------------------

def test_a_user_in_error_is_revalidated_and_becomes_active(env):
    env.sim.add_user(ANN)
    _refuse_delegation(env, ANN)
    assert provisioning.activate_now(env.services, ANN) == "error"
    env.sim.delegation.authorize(env.sim.service_account_info["client_id"],
                                 ["https://www.googleapis.com/auth/calendar",
                                  "https://www.googleapis.com/auth/gmail.settings.basic"])
    ann = env.user_id(ANN)
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "revalidate"}) == "active"
    assert len(env.live_at_google(ANN)) == 1


def test_a_room_in_error_is_revalidated_as_a_room(env):
    env.sim.add_room(ROOM, "Room 1")
    uid = env.user_id(ROOM)
    env.services.store.put(names.USERS, uid, {"email": ROOM, "kind": "workspace",
                                              "status": "error"})
    assert renewal.revalidate(env.services, " Room-1@Example.com ") == "active"
    assert env.services.store.get(names.USERS, uid)["acts_as"] == env.config.room_reader


@pytest.mark.parametrize("state", ["pending", "validating"])
def test_a_pending_or_validating_user_is_validated_again(env, state):
    env.sim.add_user(ANN)
    env.services.store.put(names.USERS, env.user_id(ANN), {"email": ANN, "status": state})
    assert renewal.revalidate(env.services, ANN) == "active"


def test_active_and_deactivated_users_are_not_revalidated(env):
    ann = _active(env, ANN)
    env.seen.clear()
    assert renewal.revalidate(env.services, ANN) == "active"
    env.services.store.merge(names.USERS, ann, {"status": "deactivated"})
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "revalidate"}) == \
        "deactivated"
    assert env.seen == []  # no second channel
    assert renewal.renew_user(env.services, {"user_id": "u-x", "kind": "revalidate"}) == "unknown"
    assert renewal.revalidate(env.services, "nobody@example.com") == "unknown"


# -- orphans ------------------------------------------------------------------------------------

def _orphan(env, email):
    """A channel Google serves on ``email``'s calendar that we have no record of."""
    uid = env.user_id(email)
    doc = watch.start_channel(env.services, uid, email)
    env.services.store.delete(names.CHANNELS, doc["id"])
    env.seen.clear()
    return {"kind": "orphan", "channel_id": doc["id"], "resource_id": doc["resource_id"]}


def test_an_orphan_on_a_users_calendar_is_stopped_without_a_record(env):
    _active(env, ANN)
    orphan = _orphan(env, ANN)
    assert renewal.renew_user(env.services, orphan) == "stopped"
    assert [s.body for s in env.seen] == [{"id": orphan["channel_id"],
                                           "resourceId": orphan["resource_id"]}]
    assert orphan["channel_id"] not in env.live_at_google(ANN)
    assert len(env.live_at_google(ANN)) == 1  # the user's own channel serves on
    assert orphan["channel_id"] not in env.channels()  # and no record made for it


def test_an_orphan_of_a_room_is_stopped_as_the_account_it_is_shared_with(env):
    env.sim.add_room(ROOM, "Room 1")
    workspaces.activate_workspace(env.services, ROOM)
    uid = env.user_id(ROOM)
    doc = watch.start_channel(env.services, uid, env.config.room_reader, ROOM)
    env.services.store.delete(names.CHANNELS, doc["id"])
    assert renewal.stop_orphan(env.services, {"channel_id": doc["id"],
                                              "resource_id": doc["resource_id"]}) == "stopped"
    assert doc["id"] not in env.live_at_google(ROOM)


def test_a_push_that_overtook_its_watch_is_not_an_orphan(env):
    ann = _active(env, ANN)
    [(channel, doc)] = env.channels(ann).items()
    env.seen.clear()
    assert renewal.renew_user(env.services, {"kind": "orphan", "channel_id": channel,
                                             "resource_id": doc["resource_id"]}) == "known"
    assert env.seen == [] and env.live_at_google(ANN) == [channel]


def test_a_forged_orphan_on_an_unknown_resource_makes_no_google_call(env):
    _active(env, ANN)
    orphan = _orphan(env, ANN)
    assert renewal.renew_user(env.services, {**orphan, "resource_id": "r-made-up"}) == \
        "unknown-resource"
    # a resource recorded for a user the service no longer knows by address
    env.services.store.put(names.CHANNELS, "hc-other", {"user_id": "u-nobody",
                                                        "resource_id": "r-nobody"})
    assert renewal.renew_user(env.services, {**orphan, "resource_id": "r-nobody"}) == \
        "unknown-resource"
    assert env.seen == []


def test_an_orphan_stop_google_refuses_is_left_to_expire(env):
    _active(env, ANN)
    orphan = _orphan(env, ANN)
    _refuse_delegation(env, ANN)
    assert renewal.renew_user(env.services, orphan) == "refused"


def test_an_orphan_stop_of_a_disabled_api_is_left_to_expire(env):
    _active(env, ANN)
    orphan = _orphan(env, ANN)
    env.sim.set_api_enabled("calendar", False)
    assert renewal.renew_user(env.services, orphan) == "refused"


# -- what a renewal costs and how it stays idempotent (#20) -------------------------------------

def _renew_message(env, user_id):
    """The tick's message for the user, once their channel is due."""
    env.clock.advance(timedelta(days=6, hours=12).total_seconds())
    renewal.on_tick(env.services)
    return [m for m in env.bus.published(Topics.RENEW_USER)
            if m.data["user_id"] == user_id][-1].data


def test_the_tick_names_the_due_channels_and_renewed_channels_are_renewed_again(env):
    ann = _active(env, ANN)
    [first] = env.channels(ann)
    data = _renew_message(env, ann)
    assert data == {"user_id": ann, "kind": "renew", "channels": [first]}
    assert renewal.renew_user(env.services, data) == "renewed"
    [(second, record)] = env.channels(ann).items()
    assert record["state"] == "opening"  # renewed with one write: no answer recorded
    # a renewed channel falls due like any other, a week on
    assert renewal.renew_user(env.services, _renew_message(env, ann)) == "renewed"
    assert second not in env.channels(ann) and len(env.live_at_google(ANN)) == 1


def test_a_renewal_bills_one_write_one_delete_and_no_reads_beyond_the_user_and_channel(env):
    ann = _active(env, ANN)
    data = _renew_message(env, ann)
    env.seen.clear()
    before = env.services.store.meter.snapshot()
    assert renewal.renew_user(env.services, data) == "renewed"
    spent = env.services.store.meter.snapshot()
    spent.subtract(before)
    # this test's simulator hook reads the channel's record at each Google call (watch, stop)
    spent["firestore.reads"] -= len(env.seen)
    assert spent["firestore.writes"] == 1  # the new channel's record, whole before the watch
    assert spent["firestore.deletes"] == 1  # the old channel's, after its stop
    assert spent["firestore.reads"] == 2, {k: v for k, v in spent.items() if v}


def test_a_duplicate_renewal_message_finds_its_channels_gone_and_does_nothing(env):
    ann = _active(env, ANN)
    data = _renew_message(env, ann)
    assert renewal.renew_user(env.services, data) == "renewed"
    env.seen.clear()
    assert renewal.renew_user(env.services, data) == "fresh"
    assert env.seen == [] and len(env.live_at_google(ANN)) == 1


def test_a_redelivery_replaces_what_a_failed_attempt_left_half_made(env):
    """The first attempt recorded its channel and died around the watch call: nobody knows
    whether Google made it, so the redelivery does not keep it (a dead channel kept as the
    fresh one would leave the user without pushes for a week)."""
    ann = _active(env, ANN)
    [old] = env.channels(ann)
    data = _renew_message(env, ann)
    resource = env.channels(ann)[old]["resource_id"]
    half = watch.start_channel(env.services, ann, ANN, resource_id=resource)  # Google has it
    env.seen.clear()
    assert renewal.renew_user(env.services, data) == "renewed"
    assert env.operations() == ["watch", "stop", "stop"]
    [(new, record)] = env.channels(ann).items()
    assert new not in (old, half["id"]) and record["state"] == "opening"
    assert env.live_at_google(ANN) == [new]


def test_without_named_channels_a_fresh_renewed_channel_is_kept(env):
    """Activation, or a message from an older tick: a renewed (``opening``) record with an
    expiry is trusted, and only the channels it supersedes are stopped."""
    ann = _active(env, ANN)
    [old] = env.channels(ann)
    resource = env.channels(ann)[old]["resource_id"]
    env.clock.advance(HOUR)  # the renewed one lasts an hour longer
    renewed = watch.start_channel(env.services, ann, ANN, resource_id=resource)
    env.seen.clear()
    assert renewal.renew_user(env.services, {"user_id": ann, "kind": "renew"}) == "fresh"
    assert env.operations() == ["stop"]
    assert list(env.channels(ann)) == [renewed["id"]]


def test_a_renewal_google_answers_differently_records_the_answer(env):
    ann = _active(env, ANN)
    doc = watch.start_channel(env.services, ann, ANN, resource_id="r-stale")
    [google] = [c for c in env.sim.channels() if c["id"] == doc["id"]]
    record = env.channels(ann)[doc["id"]]
    assert record["resource_id"] == google["resourceId"] != "r-stale"
    assert record["state"] == "active" and doc["state"] == "active"
