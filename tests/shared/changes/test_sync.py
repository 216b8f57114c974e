"""The sync engine against the store and a scripted gateway.

The gateway here is hybridcal's own narrow Protocol (gcal_sync style), not a Google client:
end-to-end behaviour through googleapiclient and the simulator is in ``test_processing*.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


def run(cal, store, user_id="u1", now=NOW, *, force_full=False, commit=True):
    """One sync as processing runs it: read the state once, list page by page, commit."""
    listing = sync.start(cal, store, user_id, sync.load(store, user_id), now,
                         force_full=force_full)
    events = [e for page in listing.pages() for e in page]
    if commit:
        sync.commit(store, user_id, listing, now)
    return listing, events


def test_full_sync_pages_and_saves_token_only_after_commit(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [{"id": "b"}], "nextSyncToken": "t1"}]
    listing, events = run(cal, store, commit=False)
    assert [e["id"] for e in events] == ["a", "b"]
    assert listing.full and listing.list_calls == 2
    assert cal.requests == [(None, None), (None, "p2")]
    assert (store.get("sync", "u1") or {}).get("sync_token") is None  # not yet processed
    sync.commit(store, "u1", listing, NOW)
    assert store.get("sync", "u1")["sync_token"] == "t1"


def test_pages_are_fetched_one_at_a_time_as_they_are_processed(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}], "nextPageToken": "p2"},
                 {"items": [{"id": "b"}], "nextSyncToken": "t1"}]
    listing = sync.start(cal, store, "u1", {}, NOW)
    pages = listing.pages()
    assert next(pages) == [{"id": "a"}] and len(cal.requests) == 1
    assert next(pages) == [{"id": "b"}] and len(cal.requests) == 2


def test_incremental_sync_uses_stored_token(store) -> None:
    store.put("sync", "u1", {"sync_token": "t1"})
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "c", "status": "cancelled"}], "nextSyncToken": "t2"}]
    listing, _ = run(cal, store)
    assert not listing.full and cal.requests == [("t1", None)]
    assert store.get("sync", "u1")["sync_token"] == "t2"


def test_sync_full_resync_after_410(store) -> None:
    store.put("sync", "u1", {"sync_token": "stale"})
    cal = ScriptedCalendar()
    cal.pages = [SyncTokenExpired("gone", status=410, reason="fullSyncRequired"),
                 {"items": [{"id": "a"}], "nextSyncToken": "fresh"}]
    listing, _ = run(cal, store)
    assert listing.full and listing.list_calls == 2
    assert cal.requests == [("stale", None), (None, None)]
    assert store.get("sync", "u1")["sync_token"] == "fresh"
    assert store.get("sync", "u1")["last_full_sync"]


def test_list_parameters_are_valid_with_sync_tokens() -> None:
    forbidden = {"timeMin", "timeMax", "orderBy", "q", "updatedMin", "iCalUID",
                 "privateExtendedProperty", "sharedExtendedProperty", "showDeleted"}
    assert not forbidden & set(LIST_PARAMS)
    assert LIST_PARAMS["singleEvents"] is False


def test_a_push_received_before_the_committed_listing_began_is_covered(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    run(cal, store)
    state = sync.load(store, "u1")
    before = (NOW - sync.CLOCK_MARGIN).isoformat().replace("+00:00", "Z")
    assert sync.covered(state, before)
    assert not sync.covered(state, "2026-11-02T08:00:00Z")  # within the margin: list again
    assert not sync.covered(state, "2026-11-02T08:00:05Z")  # after: its change may be new
    assert not sync.covered({}, before)  # no sync committed yet


def test_a_listing_that_ends_without_a_sync_token_is_an_error_not_a_stored_none(store) -> None:
    cal = ScriptedCalendar()
    cal.pages = [{"items": [{"id": "a"}]}]
    with pytest.raises(sync.SyncTokenMissing):
        run(cal, store)
    assert store.get("sync", "u1") is None  # nothing committed: the next sync lists again


def test_a_token_made_with_other_list_parameters_is_not_used(store) -> None:
    cal = ScriptedCalendar()
    cal.list_signature = "params-v1"  # type: ignore[attr-defined]
    cal.pages = [{"items": [], "nextSyncToken": "t1"}]
    run(cal, store)
    assert store.get("sync", "u1")["sync_params"] == "params-v1"

    cal.pages = [{"items": [], "nextSyncToken": "t2"}]
    run(cal, store)
    assert cal.requests[-1] == ("t1", None)  # same parameters: incremental

    cal.list_signature = "params-v2"  # type: ignore[attr-defined]  # a release lists differently
    cal.pages = [{"items": [{"id": "a"}], "nextSyncToken": "t3"}]
    listing, _ = run(cal, store)
    assert listing.full and cal.requests[-1] == (None, None)
    assert store.get("sync", "u1")["sync_params"] == "params-v2"
