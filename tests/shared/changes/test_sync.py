"""The sync engine and the per-user lease, against the store and a scripted gateway.

The gateway here is hybridcal's own narrow Protocol (gcal_sync style), not a Google client:
end-to-end behaviour through googleapiclient and the simulator is in ``test_processing*.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.changes import sync
from shared.google.calendar import LIST_PARAMS
from shared.google.errors import SyncTokenExpired
from shared.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


class ScriptedCalendar:
    """Answers list calls from queued pages and records the tokens it was asked with."""

    def __init__(self) -> None:
        self.pages: list[Any] = []
        self.requests: list[tuple[str | None, str | None]] = []

    def list_page(self, *, sync_token: str | None, page_token: str | None) -> dict[str, Any]:
        self.requests.append((sync_token, page_token))
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def test_full_sync_pages_and_saves_token_only_after_commit(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [{"id": "b"}], "nextSyncToken": "t1"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert [e["id"] for e in result.events] == ["a", "b"]
    assert result.full and result.list_calls == 2
    assert cal.requests == [(None, None), (None, "p2")]
    assert (store.get("sync", "u1") or {}).get("sync_token") is None  # not yet processed
    result.commit()
    assert store.get("sync", "u1")["sync_token"] == "t1"


def test_incremental_sync_uses_stored_token(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "c", "status": "cancelled"}], "nextSyncToken": "t2"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    result.commit()
    assert not result.full and cal.requests == [("t1", None)]
    assert store.get("sync", "u1")["sync_token"] == "t2"


def test_sync_full_resync_after_410(store) -> None:
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [SyncTokenExpired("gone", status=410, reason="fullSyncRequired"),
                 {"items": [{"id": "a"}], "nextSyncToken": "fresh"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    result.commit()
    assert result.full and result.list_calls == 2
    assert cal.requests == [("stale", None), (None, None)]
    assert store.get("sync", "u1")["sync_token"] == "fresh"
    assert store.get("sync", "u1")["last_full_sync"]


def test_list_parameters_are_valid_with_sync_tokens() -> None:
    forbidden = {"timeMin", "timeMax", "orderBy", "q", "updatedMin", "iCalUID",
                 "privateExtendedProperty", "sharedExtendedProperty", "showDeleted"}
    assert not forbidden & set(LIST_PARAMS)
    assert LIST_PARAMS["singleEvents"] is False


def test_pushes_during_a_burst_queue_one_sync(store) -> None:
    queued = [sync.request_sync(store, "u1", NOW) for _ in range(50)]
    assert queued.count(True) == 1
    assert sync.take_lease(store, "u1", "w1", NOW)
    # pushes while the lease is held only mark pending
    assert sync.request_sync(store, "u1", NOW) is False
    assert sync.finish_round(store, "u1", "w1", NOW) is True  # one more round
    assert sync.finish_round(store, "u1", "w1", NOW) is False  # quiet: released
    assert sync.request_sync(store, "u1", NOW) is True


def test_the_push_that_queued_a_sync_queues_it_again_when_redelivered(store) -> None:
    # Its first delivery may have died between this write and publishing the sync request.
    assert sync.request_sync(store, "u1", NOW, "c1:7") is True
    assert sync.request_sync(store, "u1", NOW, "c1:8") is False  # another push: covered
    assert sync.request_sync(store, "u1", NOW, "c1:7") is True  # the redelivery
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert sync.request_sync(store, "u1", NOW, "c1:7") is False  # a sync runs: it covers it


def test_second_worker_defers_to_the_lease_holder(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    assert not sync.take_lease(store, "u1", "w2", NOW)
    assert sync.finish_round(store, "u1", "w1", NOW) is True  # w2's request is honoured


def test_expired_lease_is_taken_over(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    later = NOW + timedelta(seconds=sync.LEASE_SECONDS + 1)
    assert sync.take_lease(store, "u1", "w2", later)
    assert sync.finish_round(store, "u1", "w1", later) is False  # the old holder backs off


def test_failed_round_keeps_work_pending(store) -> None:
    assert sync.take_lease(store, "u1", "w1", NOW)
    sync.release(store, "u1", "w1", pending=True)
    assert sync.still_pending(store, "u1")
    assert sync.take_lease(store, "u1", "w2", NOW)


def test_forgotten_queue_marker_expires(store) -> None:
    assert sync.request_sync(store, "u1", NOW)
    assert not sync.request_sync(store, "u1", NOW + timedelta(seconds=60))
    assert sync.request_sync(store, "u1", NOW + timedelta(seconds=sync.QUEUED_SECONDS + 1))


def test_a_listing_that_ends_without_a_sync_token_is_an_error_not_a_stored_none(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}]}]
    with pytest.raises(sync.SyncTokenMissing):
        sync.run_sync(cal, store, "u1", NOW)
    assert store.get("sync", "u1") is None  # nothing committed: the next round lists again


def test_a_token_made_with_other_list_parameters_is_not_used(store) -> None:
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    sync.run_sync(cal, store, "u1", NOW).commit()
    assert store.get("sync", "u1")["sync_params"] == "params-v1"

    cal.pages = [{"items": [], "nextSyncToken": "t2"}]
    sync.run_sync(cal, store, "u1", NOW).commit()
    assert cal.requests[-1] == ("t1", None)  # same parameters: incremental

    cal.list_signature = "params-v2"  # type: ignore[attr-defined]  # a release lists differently
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t3"}]
    result = sync.run_sync(cal, store, "u1", NOW)
    assert result.full and cal.requests[-1] == (None, None)
    result.commit()
    assert store.get("sync", "u1")["sync_params"] == "params-v2"
