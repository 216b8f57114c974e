"""The sync engine driven directly on the real SqliteStore (#22, #20).

Found by mutation testing: what a user would notice if the engine got a detail wrong (a change
listed from a dead token and lost, a push taken for covered when its change was never listed,
a token committed before the listing ended). The gateway is hybridcal's own narrow Protocol, as
in test_sync.py; the same promises on the embedded stack, through googleapiclient and the
Workspace simulator, are in test_crash_after_token_save.py and test_sync_tokens.py. These are
fast enough for the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.changes import sync
from shared.clock import to_rfc3339
from shared.google.errors import SyncTokenExpired
from shared.store.sqlite import SqliteStore
from tests.shared.changes.test_sync import ScriptedCalendar, run

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def _gone() -> SyncTokenExpired:
    return SyncTokenExpired("gone", status=410, reason="fullSyncRequired")


# -- tokens ---------------------------------------------------------------------------------
def test_an_explicit_resync_lists_the_whole_calendar_though_a_token_is_stored(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t2"},
                 {"items": [], "nextSyncToken": "t3"}]
    listing, events = run(cal, store, force_full=True)
    assert listing.full and [e["id"] for e in events] == ["a"]
    assert store.get("sync", "u1")["sync_token"] == "t2"
    assert not run(cal, store)[0].full
    assert cal.requests == [(None, None), ("t2", None)]


def test_an_incremental_listing_returns_every_page_and_the_last_pages_token(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"nextPageToken": "p3"},  # Google may send a page without items
                 {"items": [{"id": "b", "status": "cancelled"}], "nextSyncToken": "t2"}]
    listing, events = run(cal, store, commit=False)
    assert [e["id"] for e in events] == ["a", "b"]
    assert not listing.full and listing.next_sync_token == "t2" and listing.list_calls == 3
    assert cal.requests == [("t1", None), ("t1", "p2"), ("t1", "p3")]
    sync.commit(store, "u1", listing, NOW)
    assert store.get("sync", "u1")["sync_token"] == "t2"


def test_every_page_is_handed_out_even_an_empty_one(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": None, "nextPageToken": "", "nextSyncToken": "t1"}]
    listing = sync.start(cal, store, "u1", {}, NOW)
    assert list(listing.pages()) == [[]]
    assert listing.full and cal.requests == [(None, None)]
    sync.commit(store, "u1", listing, NOW)
    assert store.get("sync", "u1")["sync_token"] == "t1"


def test_a_listing_is_not_committed_before_its_last_page(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [], "nextSyncToken": "t1"}]
    listing = sync.start(cal, store, "u1", {}, NOW)
    next(listing.pages())
    with pytest.raises(sync.SyncTokenMissing):
        sync.commit(store, "u1", listing, NOW)
    assert store.get("sync", "u1") is None


def test_after_a_410_the_full_listing_counts_every_call(store) -> None:
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [_gone(), {"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [{"id": "b"}], "nextSyncToken": "fresh"}]
    listing, events = run(cal, store)
    assert listing.full and listing.list_calls == 3
    assert [e["id"] for e in events] == ["a", "b"]
    assert cal.requests[1:] == [(None, None), (None, "p2")]


def test_a_dead_token_is_not_tried_again_when_the_full_listing_after_its_410_fails(store) -> None:
    # The 410 sync dies in its full listing: the next one must list the whole calendar, not
    # spend a call (and a redelivery) on the token Google already refused.
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [_gone(), {"items": [{"id": "a"}]}]  # no nextSyncToken: the sync fails
    with pytest.raises(sync.SyncTokenMissing):
        run(cal, store)
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "fresh"}]
    listing, _ = run(cal, store)
    assert listing.full and cal.requests[-1] == (None, None)


def test_a_commit_records_the_token_the_listing_start_and_the_parameters(store) -> None:
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    listing = sync.start(cal, store, "u1", {}, NOW)
    list(listing.pages())
    sync.commit(store, "u1", listing, NOW + timedelta(seconds=30), window_refreshed=True)
    assert store.get("sync", "u1") == {
        "sync_token": "t1", "listed_from": "2026-11-02T08:00:00.000Z",
        "last_sync": "2026-11-02T08:00:30Z", "sync_params": "params-v1",
        "last_full_sync": "2026-11-02T08:00:30Z",
        "last_window_refresh": "2026-11-02T08:00:00Z"}


def test_a_full_sync_records_when_it_ran_and_an_incremental_one_keeps_that(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    run(cal, store)
    assert store.get("sync", "u1")["last_full_sync"] == "2026-11-02T08:00:00Z"
    later = NOW + timedelta(hours=1)
    cal.pages = [{"items": [], "nextSyncToken": "t2"}]
    run(cal, store, now=later)
    state = store.get("sync", "u1")
    assert state["last_full_sync"] == "2026-11-02T08:00:00Z"
    assert state["last_sync"] == "2026-11-02T09:00:00Z"
    assert state["listed_from"] == "2026-11-02T09:00:00.000Z"
    assert "last_window_refresh" not in state  # not refreshed: not recorded


def test_a_token_from_before_list_parameters_were_recorded_is_not_used(store) -> None:
    store.put("sync", "u1", {"sync_token": "old"})  # no sync_params: an older release's token
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t1"}]
    assert run(cal, store)[0].full
    assert cal.requests == [(None, None)]


def test_incremental_syncs_keep_using_their_token_round_after_round(store) -> None:
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    for token in ("t1", "t2", "t3"):
        cal.pages = [{"items": [], "nextSyncToken": token}]
        run(cal, store)
    assert cal.requests == [(None, None), ("t1", None), ("t2", None)]


def test_incremental_syncs_of_a_gateway_without_a_signature_stay_incremental(store) -> None:
    cal = ScriptedCalendar()
    for token in ("t1", "t2", "t3"):
        cal.pages = [{"items": [], "nextSyncToken": token}]
        run(cal, store)
    assert cal.requests == [(None, None), ("t1", None), ("t2", None)]


def test_a_sync_that_died_before_committing_lists_the_same_changes_again(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    run(cal, store)
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    run(cal, store, commit=False)  # processed b, died before committing
    cal.pages = [{"items": [{"id": "b"}], "nextSyncToken": "t2"}]
    _listing, events = run(cal, store)
    assert cal.requests[-1] == ("t1", None) and [e["id"] for e in events] == ["b"]


# -- coalescing -----------------------------------------------------------------------------
def _stamp(when: datetime) -> str:
    return to_rfc3339(when, "milliseconds")  # as intake and the sync commit stamp


def test_covered_means_received_at_least_the_margin_before_the_listing_began() -> None:
    state = {"listed_from": _stamp(NOW)}
    margin = sync.CLOCK_MARGIN
    assert margin > timedelta(0)
    assert sync.covered(state, _stamp(NOW - margin))
    assert sync.covered(state, _stamp(NOW - margin - timedelta(hours=1)))
    assert not sync.covered(state, _stamp(NOW - margin + timedelta(milliseconds=1)))
    assert not sync.covered(state, _stamp(NOW))


@pytest.mark.parametrize("received", [None, "", 7, "yesterday", ["2026-11-02T07:00:00Z"]])
def test_a_push_without_a_readable_stamp_is_synced(received) -> None:
    assert not sync.covered({"listed_from": _stamp(NOW)}, received)


@pytest.mark.parametrize("state", [{}, {"listed_from": ""}, {"listed_from": None},
                                   {"sync_token": "t1"}])
def test_before_any_committed_listing_nothing_is_covered(state) -> None:
    assert not sync.covered(state, _stamp(NOW - timedelta(days=1)))


def test_the_state_is_read_once_and_empty_before_the_first_sync(store) -> None:
    assert sync.load(store, "u1") == {}
    store.put("sync", "u1", {"sync_token": "t1"})
    reads = store.meter.snapshot()["firestore.reads"]
    assert sync.load(store, "u1") == {"sync_token": "t1"}
    assert store.meter.snapshot()["firestore.reads"] - reads == 1


def test_a_sync_writes_the_state_once_and_reads_nothing_itself(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    state = sync.load(store, "u1")
    before = store.meter.snapshot()
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [], "nextSyncToken": "t2"}]
    listing = sync.start(cal, store, "u1", state, NOW)
    list(listing.pages())
    sync.commit(store, "u1", listing, NOW)
    spent = store.meter.snapshot()
    spent.subtract(before)
    assert (spent["firestore.reads"], spent["firestore.writes"]) == (0, 1)


# -- memory ---------------------------------------------------------------------------------
class _Event(dict):  # a dict that can be watched with a weak reference
    pass


def test_a_page_handed_out_is_not_kept_by_the_listing_while_the_next_is_fetched(store) -> None:
    """#20: a first sync's memory is bounded by a page. Once the caller let go of a page, the
    listing must not keep its events alive while it fetches the next one."""
    import weakref

    cal = ScriptedCalendar()
    cal.pages = [{"items": [_Event(id="a")], "nextPageToken": "p2"},
                 {"items": [_Event(id="b")], "nextSyncToken": "t1"}]
    first = weakref.ref(cal.pages[0]["items"][0])
    alive_at_fetch: list[bool] = []
    answer = cal.list_page

    def list_page(**kwargs):
        alive_at_fetch.append(first() is not None)
        return answer(**kwargs)

    cal.list_page = list_page  # type: ignore[method-assign]
    listing = sync.start(cal, store, "u1", {}, NOW)
    pages = listing.pages()
    assert [e["id"] for e in next(pages)] == ["a"]  # handed out and let go at once
    assert [e["id"] for e in next(pages)] == ["b"]
    assert alive_at_fetch[1:] == [False]  # (the first fetch is the script's own page)


def test_a_listing_started_without_asking_for_a_resync_uses_the_stored_token(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t2"}]
    listing = sync.start(cal, store, "u1", {"sync_token": "t1", "sync_params": ""}, NOW)
    assert not listing.full and cal.requests == [("t1", None)]
