"""One behavioural contract, run against every Store adapter."""

from __future__ import annotations

import threading

import pytest

from shared.store.base import Filter


def test_get_missing_returns_none(store):
    assert store.get("users", "nobody") is None


def test_put_then_get_round_trips_nested_json(store):
    doc = {"status": "active", "n": 3, "ratio": 0.5, "ok": True, "tags": ["a", "b"], "m": {"x": 1}}
    store.put("users", "u1", doc)
    assert store.get("users", "u1") == doc


def test_put_replaces_whole_document(store):
    store.put("users", "u1", {"a": 1, "b": 2})
    store.put("users", "u1", {"a": 3})
    assert store.get("users", "u1") == {"a": 3}


def test_merge_keeps_other_fields_and_creates_missing(store):
    store.put("users", "u1", {"a": 1, "b": 2})
    store.merge("users", "u1", {"b": 5, "c": 6})
    store.merge("users", "u2", {"z": 1})
    assert store.get("users", "u1") == {"a": 1, "b": 5, "c": 6}
    assert store.get("users", "u2") == {"z": 1}


def test_delete_reports_whether_something_was_deleted(store):
    store.put("users", "u1", {"a": 1})
    assert store.delete("users", "u1") is True
    assert store.delete("users", "u1") is False
    assert store.get("users", "u1") is None


def test_keys_with_slashes_and_unicode_are_distinct_documents(store):
    store.put("meetings", "u1|evt/1", {"v": 1})
    store.put("meetings", "u1|evt/2", {"v": 2})
    store.put("meetings", "ü|ß", {"v": 3})
    assert store.get("meetings", "u1|evt/1") == {"v": 1}
    assert store.get("meetings", "u1|evt/2") == {"v": 2}
    assert store.get("meetings", "ü|ß") == {"v": 3}


def test_collections_are_separate(store):
    store.put("a", "k", {"v": 1})
    store.put("b", "k", {"v": 2})
    assert store.get("a", "k") == {"v": 1}
    assert store.get("b", "k") == {"v": 2}


def test_create_only_first_caller_wins(store):
    assert store.create("processed", "msg-1", {"at": "t1"}) is True
    assert store.create("processed", "msg-1", {"at": "t2"}) is False
    assert store.get("processed", "msg-1") == {"at": "t1"}


def test_transact_read_modify_write_returns_result(store):
    store.put("sync", "u1", {"pending": False, "n": 1})

    def bump(doc):
        doc = dict(doc)
        doc["n"] += 1
        return doc, doc["n"]

    assert store.transact("sync", "u1", bump) == 2
    assert store.get("sync", "u1")["n"] == 2


def test_transact_can_create_and_delete(store):
    assert store.transact("sync", "u9", lambda doc: ({"created": doc is None}, "made")) == "made"
    assert store.get("sync", "u9") == {"created": True}
    store.transact("sync", "u9", lambda doc: (None, None))
    assert store.get("sync", "u9") is None


def test_transact_exception_leaves_document_unchanged(store):
    store.put("sync", "u1", {"n": 1})

    def boom(doc):
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        store.transact("sync", "u1", boom)
    assert store.get("sync", "u1") == {"n": 1}


def test_transact_is_isolated_under_concurrency(store):
    store.put("counters", "c", {"n": 0})

    def inc(doc):
        return {"n": doc["n"] + 1}, None

    threads = [
        threading.Thread(target=lambda: [store.transact("counters", "c", inc) for _ in range(10)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("counters", "c")["n"] == 40


def test_create_is_exclusive_under_concurrency(store):
    winners = []

    def attempt(i):
        if store.create("processed", "same-key", {"by": i}):
            winners.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


@pytest.fixture
def channels(store):
    rows = {
        "c1": {"user": "u1", "expires": "2026-11-03T00:00:00Z", "state": "active", "n": 1},
        "c2": {"user": "u2", "expires": "2026-11-05T00:00:00Z", "state": "active", "n": 2},
        "c3": {"user": "u3", "expires": "2026-11-04T00:00:00Z", "state": "stopped", "n": 3},
        "c4": {"user": "u1", "expires": "2026-11-01T00:00:00Z", "state": "active", "n": 4.5},
    }
    for key, doc in rows.items():
        store.put("channels", key, doc)
    return rows


def test_query_equality_and_range_filters(store, channels):
    found = store.query(
        "channels",
        [Filter("state", "==", "active"), Filter("expires", "<", "2026-11-04T00:00:00Z")],
    )
    assert sorted(key for key, _ in found) == ["c1", "c4"]


def test_query_order_by_and_limit(store, channels):
    found = store.query("channels", [Filter("state", "==", "active")], order_by="expires", limit=2)
    assert [key for key, _ in found] == ["c4", "c1"]


def test_query_in_filter(store, channels):
    found = store.query("channels", [Filter("user", "in", ["u2", "u3"])])
    assert sorted(key for key, _ in found) == ["c2", "c3"]


def test_query_numbers_compare_across_int_and_float(store, channels):
    found = store.query("channels", [Filter("n", ">", 2)])
    assert sorted(key for key, _ in found) == ["c3", "c4"]


def test_query_missing_field_never_matches(store, channels):
    store.put("channels", "c5", {"user": "u5"})
    found = store.query("channels", [Filter("state", "!=", "active")])
    assert [key for key, _ in found] == ["c3"]


def test_query_pages_by_key(store):
    for i in range(7):
        store.put("users", f"u{i}", {"i": i})
    first = store.query("users", limit=3)
    second = store.query("users", limit=3, start_after=first[-1][0])
    third = store.query("users", limit=3, start_after=second[-1][0])
    assert [k for k, _ in first + second + third] == [f"u{i}" for i in range(7)]


def test_iter_all_walks_every_page(store):
    for i in range(12):
        store.put("users", f"u{i:02d}", {"i": i})
    assert [doc["i"] for _, doc in store.iter_all("users", page_size=5)] == list(range(12))


def test_delete_where_removes_only_matches(store, channels):
    assert store.delete_where("channels", [Filter("user", "==", "u1")]) == 2
    assert sorted(key for key, _ in store.query("channels")) == ["c2", "c3"]


def test_expire_at_round_trips_as_the_string_callers_wrote(store):
    """Idempotency keys and leases carry ``expire_at``; every adapter hands back the RFC 3339
    string it was given, whatever it stores (Firestore: a Timestamp, for its TTL policy)."""
    store.put("processed", "m1", {"expire_at": "2026-12-01T10:00:00Z", "n": 1})
    assert store.create("processed", "m2", {"expire_at": "2026-12-02T10:00:00Z"})
    store.merge("processed", "m1", {"expire_at": "2026-12-03T10:00:00Z"})
    store.transact("processed", "m3", lambda _doc: ({"expire_at": "2026-12-04T10:00:00Z"}, None))

    assert store.get("processed", "m1") == {"expire_at": "2026-12-03T10:00:00Z", "n": 1}
    assert store.get("processed", "m2") == {"expire_at": "2026-12-02T10:00:00Z"}
    assert store.get("processed", "m3") == {"expire_at": "2026-12-04T10:00:00Z"}


def test_firestore_stores_expire_at_as_a_timestamp_for_ttl(firestore_store):
    from datetime import datetime

    firestore_store.put("processed", "m1", {"expire_at": "2026-12-01T10:00:00Z"})
    raw = firestore_store._ref("processed", "m1").get().to_dict()

    assert isinstance(raw["expire_at"], datetime)
    assert raw["expire_at"].isoformat().startswith("2026-12-01T10:00:00")


# -- Firestore transactions under contention (found on Google's emulator) ---------------------
# Firestore locks what a transaction reads: transactions that read one document and then write
# it abort each other (the emulator only after its fixed ~2 s lock-acquire timeout), and a read
# can be aborted too. The Python client retries only aborted commits, and at once, into the same
# contention; before the fix test_transact_is_isolated_under_concurrency[firestore] ended in
# Conflict after 10 attempts (and took ~55 s), and an aborted read escaped as a raw
# google.api_core Aborted. FirestoreStore.transact now retries every aborted attempt after a
# random pause that grows, and raises the typed Conflict only when max_attempts are spent.


def _abort_transactional_reads(monkeypatch, times: int) -> list[int]:
    """Make the next ``times`` transactional document reads fail as Firestore's ABORTED."""
    from google.api_core import exceptions as gexc
    from google.cloud.firestore_v1.document import DocumentReference

    real_get = DocumentReference.get
    aborted = []

    def get(self, *args, **kwargs):
        if kwargs.get("transaction") is not None and len(aborted) < times:
            aborted.append(1)
            raise gexc.Aborted("Transaction lock timeout.")
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(DocumentReference, "get", get)
    return aborted


def test_firestore_transact_retries_a_read_aborted_by_contention(firestore_store, monkeypatch):
    firestore_store.put("counters", "c", {"n": 1})
    firestore_store._sleep = lambda _seconds: None
    aborted = _abort_transactional_reads(monkeypatch, times=2)

    assert firestore_store.transact("counters", "c", lambda d: ({"n": d["n"] + 1}, d["n"])) == 1
    assert len(aborted) == 2
    assert firestore_store.get("counters", "c") == {"n": 2}


def test_firestore_transact_raises_conflict_when_attempts_run_out(firestore_emulator,
                                                                  monkeypatch):
    from shared.store.base import Conflict
    from shared.store.firestore import BACKOFF_BASE, BACKOFF_CAP, FirestoreStore

    firestore_emulator.reset()
    store = FirestoreStore(firestore_emulator.client(), max_attempts=4)
    pauses = []
    store._sleep = pauses.append
    store.put("counters", "c", {"n": 1})
    aborted = _abort_transactional_reads(monkeypatch, times=100)

    with pytest.raises(Conflict, match="counters/c"):
        store.transact("counters", "c", lambda d: ({"n": d["n"] + 1}, None))
    assert len(aborted) == 4
    assert store.get("counters", "c") == {"n": 1}
    # a random pause before each retry, within bounds that double up to the cap
    assert len(pauses) == 3
    assert all(0 <= pause <= min(BACKOFF_CAP, BACKOFF_BASE * 2 ** i)
               for i, pause in enumerate(pauses))
