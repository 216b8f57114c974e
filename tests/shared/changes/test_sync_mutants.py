"""The sync engine and the per-user lease driven directly on the real SqliteStore (#22).

Found by mutation testing: what a user would notice if the engine got a detail wrong (a change
listed from a dead token and lost, a crashed round that never tells the app, two workers
syncing one calendar, a burst of pushes that queues nothing). The gateway is hybridcal's own
narrow Protocol, as in test_sync.py; the same promises on the embedded stack, through
googleapiclient and the Workspace simulator, are in test_crash_after_token_save.py and
test_sync_tokens.py. These are fast enough for the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.changes import sync
from shared.google.errors import SyncTokenExpired
from shared.store.sqlite import SqliteStore
from tests.shared.changes.test_sync import ScriptedCalendar

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=sync.LEASE_SECONDS)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def _gone() -> SyncTokenExpired:
    return SyncTokenExpired("gone", status=410, reason="fullSyncRequired")


def _round(store, cal, holder="w1", now=NOW, *, commit=True) -> sync.SyncResult:
    """One worker's round as processing runs it: lease, list, (process,) commit."""
    assert sync.take_lease(store, "u1", holder, now)
    result = sync.run_sync(cal, store, "u1", now)
    if commit:
        result.commit()
    return result


# -- tokens ---------------------------------------------------------------------------------
def test_an_explicit_resync_lists_the_whole_calendar_though_a_token_is_stored(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    sync.forget_token(store, "u1")
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t2"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert result.full and cal.requests == [(None, None)]
    result.commit()
    assert store.get("sync", "u1")["sync_token"] == "t2"


def test_force_full_lists_the_whole_calendar_and_then_syncs_incrementally(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t2"},
                 {"items": [], "nextSyncToken": "t3"}]
    result = sync.run_sync(cal, store, "u1", NOW, force_full=True)
    assert result.full and [e["id"] for e in result.events] == ["a"]
    result.commit()
    assert not sync.run_sync(cal, store, "u1", NOW).full
    assert cal.requests == [(None, None), ("t2", None)]


def test_an_incremental_listing_returns_every_page_and_the_last_pages_token(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"nextPageToken": "p3"},  # Google may send a page without items
                 {"items": [{"id": "b", "status": "cancelled"}], "nextSyncToken": "t2"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert [e["id"] for e in result.events] == ["a", "b"]
    assert not result.full and result.next_sync_token == "t2" and result.list_calls == 3
    assert cal.requests == [("t1", None), ("t1", "p2"), ("t1", "p3")]
    result.commit()
    assert store.get("sync", "u1")["sync_token"] == "t2"


def test_an_empty_page_with_the_sync_token_ends_the_listing(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": None, "nextPageToken": "", "nextSyncToken": "t1"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert result.events == [] and result.full and cal.requests == [(None, None)]
    result.commit()
    assert store.get("sync", "u1")["sync_token"] == "t1"


def test_after_a_410_the_full_listing_counts_every_call(store) -> None:
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [_gone(), {"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [{"id": "b"}], "nextSyncToken": "fresh"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert result.full and result.list_calls == 3
    assert [e["id"] for e in result.events] == ["a", "b"]


def test_a_dead_token_is_not_tried_again_when_the_full_listing_after_its_410_fails(store) -> None:
    # The 410 round dies in its full listing: the next round must list the whole calendar,
    # not spend a call (and a redelivery) on the token Google already refused.
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [_gone(), {"items": [{"id": "a"}]}]  # no nextSyncToken: the round fails
    with pytest.raises(sync.SyncTokenMissing):
        sync.run_sync(cal, store, "u1", NOW)
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "fresh"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert result.full and cal.requests[-1] == (None, None)


def test_a_full_sync_records_when_it_ran_and_an_incremental_one_keeps_that(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    sync.run_sync(cal, store, "u1", NOW).commit()
    assert store.get("sync", "u1")["last_full_sync"] == "2026-11-02T08:00:00Z"
    later = NOW + timedelta(hours=1)
    cal.pages = [{"items": [], "nextSyncToken": "t2"}]
    sync.run_sync(cal, store, "u1", later).commit()
    state = store.get("sync", "u1")
    assert state["last_full_sync"] == "2026-11-02T08:00:00Z"
    assert state["last_sync"] == "2026-11-02T09:00:00Z"


def test_a_token_from_before_list_parameters_were_recorded_is_not_used(store) -> None:
    store.put("sync", "u1", {"sync_token": "old"})  # no sync_params: an older release's token
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t1"}]
    assert sync.run_sync(cal, store, "u1", NOW).full
    assert cal.requests == [(None, None)]


def test_incremental_syncs_keep_using_their_token_round_after_round(store) -> None:
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    for token in ("t1", "t2", "t3"):
        cal.pages = [{"items": [], "nextSyncToken": token}]
        sync.run_sync(cal, store, "u1", NOW).commit()
    assert cal.requests == [(None, None), ("t1", None), ("t2", None)]


def test_incremental_syncs_of_a_gateway_without_a_signature_stay_incremental(store) -> None:
    cal = ScriptedCalendar()
    for token in ("t1", "t2", "t3"):
        cal.pages = [{"items": [], "nextSyncToken": token}]
        sync.run_sync(cal, store, "u1", NOW).commit()
    assert cal.requests == [(None, None), ("t1", None), ("t2", None)]


# -- crashed rounds -------------------------------------------------------------------------
def test_a_round_that_died_before_committing_makes_the_next_one_recover(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t1"}]
    _round(store, cal).commit()
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    _round(store, cal, "w2", NOW + LEASE, commit=False)  # indexed b, died before publishing
    # The next worker, after the dead one's lease ran out, replays from t1 and must tell the
    # app everything again.
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    replay = _round(store, cal, "w3", NOW + 2 * LEASE, commit=False)
    assert replay.recover and not replay.full and cal.requests[-1] == ("t1", None)
    replay.commit()
    cal.pages = [{"items": [], "nextSyncToken": "t3"}]
    assert not _round(store, cal, "w4", NOW + 3 * LEASE).recover  # told once is enough


def test_rounds_that_committed_do_not_resend_the_whole_index(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t1"}]
    _round(store, cal)
    sync.finish_round(store, "u1", "w1", NOW)
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    assert not _round(store, cal, "w2", NOW).recover


def test_a_second_round_under_one_lease_that_dies_makes_the_next_worker_recover(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    _round(store, cal)
    assert sync.request_sync(store, "u1", NOW) is False  # a push during the round
    assert sync.finish_round(store, "u1", "w1", NOW) is True  # second round, same lease
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    sync.run_sync(cal, store, "u1", NOW)  # ... dies before its commit
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    assert _round(store, cal, "w2", NOW + LEASE).recover


def test_a_crashed_round_followed_by_a_410_still_makes_the_full_sync_recover(store) -> None:
    # The crashed round may have removed the user's last meeting from the index: the full
    # sync then clears nothing and lists nothing, and only ``recover`` tells the app.
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    _round(store, cal)
    cal.pages = [{"items": [{"id": "a", "status": "cancelled"}], "nextSyncToken": "t2"}]
    _round(store, cal, "w2", NOW + LEASE, commit=False)
    cal.pages = [_gone(), {"items": [], "nextSyncToken": "t3"}]
    replay = _round(store, cal, "w3", NOW + 2 * LEASE, commit=False)
    assert replay.full and replay.recover


# -- lease ----------------------------------------------------------------------------------
def test_a_lease_lasts_until_its_end_and_no_longer(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert not sync.take_lease(store, "u1", "w2", NOW + LEASE - timedelta(microseconds=1))
    assert sync.take_lease(store, "u1", "w2", NOW + LEASE)


def test_a_lease_taken_for_longer_is_held_for_longer(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW, seconds=600)
    assert not sync.take_lease(store, "u1", "w2", NOW + LEASE + timedelta(seconds=1))


def test_another_round_extends_the_lease_from_its_own_start(store) -> None:
    later = NOW + timedelta(seconds=100)
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.request_sync(store, "u1", NOW)
    assert sync.finish_round(store, "u1", "w1", later) is True
    assert not sync.take_lease(store, "u1", "w2", later + LEASE - timedelta(microseconds=1))
    assert sync.take_lease(store, "u1", "w2", later + LEASE)


def test_a_longer_round_extension_holds_the_lease_longer(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.request_sync(store, "u1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW, seconds=600) is True
    assert not sync.take_lease(store, "u1", "w2", NOW + LEASE + timedelta(seconds=1))


def test_the_last_allowed_round_releases_the_lease_but_keeps_the_work_owed(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.request_sync(store, "u1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW, last=True) is False
    assert sync.still_pending(store, "u1")  # the caller queues a fresh message for it
    assert sync.request_sync(store, "u1", NOW) is True
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_a_quiet_round_releases_the_lease_at_once(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    assert not sync.still_pending(store, "u1")
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_a_worker_whose_lease_was_taken_over_leaves_the_new_holder_alone(store) -> None:
    later = NOW + LEASE
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.take_lease(store, "u1", "w2", later)
    sync.request_sync(store, "u1", later)
    assert sync.finish_round(store, "u1", "w1", later) is False
    sync.release(store, "u1", "w1", pending=False)
    assert not sync.take_lease(store, "u1", "w3", later)  # w2 still holds it
    assert sync.finish_round(store, "u1", "w2", later) is True  # and owes the push's round


def test_a_worker_that_finished_cannot_resume_rounds_without_a_lease(store) -> None:
    # Rounds run only under the lease: one resumed by a worker that had given it up would
    # sync the calendar alongside the next holder.
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    sync.request_sync(store, "u1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_a_worker_that_gave_up_cannot_resume_rounds_without_a_lease(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.release(store, "u1", "w1", pending=True)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_a_round_given_up_without_work_owed_leaves_nothing_pending(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.release(store, "u1", "w1", pending=False)
    assert not sync.still_pending(store, "u1")
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_a_failed_round_while_pushes_waited_keeps_them_owed(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.request_sync(store, "u1", NOW)
    sync.release(store, "u1", "w1", pending=False)
    assert sync.still_pending(store, "u1")  # the push's work is not dropped by the release


def test_a_worker_turned_away_by_the_lease_leaves_its_work_to_the_holder(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    assert sync.take_lease(store, "u1", "w2", NOW)
    assert not sync.take_lease(store, "u1", "w3", NOW)
    assert sync.still_pending(store, "u1")


def test_no_state_means_nothing_pending(store) -> None:
    assert not sync.still_pending(store, "u1")
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    sync.release(store, "u1", "w1", pending=True)
    assert not sync.still_pending(store, "u1")  # a stranger's release owes nothing


# -- coalescing -----------------------------------------------------------------------------
def test_a_sync_whose_publish_failed_is_queued_again_by_the_next_push(store) -> None:
    assert sync.request_sync(store, "u1", NOW, "c1:1") is True
    sync.unqueue(store, "u1")
    assert sync.request_sync(store, "u1", NOW, "c1:2") is True


def test_a_queued_sync_is_trusted_for_its_whole_time_and_forgotten_after(store) -> None:
    assert sync.request_sync(store, "u1", NOW)
    queued = timedelta(seconds=sync.QUEUED_SECONDS)
    assert not sync.request_sync(store, "u1", NOW + queued - timedelta(microseconds=1))
    assert sync.request_sync(store, "u1", NOW + queued)


def test_pushes_without_a_name_do_not_count_as_the_redelivery_of_the_queuing_one(store) -> None:
    assert sync.request_sync(store, "u1", NOW) is True
    assert sync.request_sync(store, "u1", NOW) is False
    assert sync.request_sync(store, "u1", NOW, "c1:7") is False


def test_after_a_lease_the_push_that_queued_the_old_sync_is_not_a_redelivery(store) -> None:
    assert sync.request_sync(store, "u1", NOW, "c1:7") is True
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is False
    assert sync.request_sync(store, "u1", NOW, "c1:8") is True
    assert sync.request_sync(store, "u1", NOW, "c1:7") is False  # c1:8 queued this one


def test_a_push_while_a_sync_runs_is_owed_a_round(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.request_sync(store, "u1", NOW, "c1:9") is False
    assert sync.still_pending(store, "u1")
