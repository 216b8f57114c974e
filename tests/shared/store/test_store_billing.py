"""Billing counts, one contract for every Store adapter: each counts what Firestore bills.

Firestore bills a document read for each document a get or a transaction reads and for each
document a query returns (one read when it returns none), a write for each set, merge or create,
and a delete for each delete (https://cloud.google.com/firestore/pricing). The embedded stack's
cost figures come from the SQLite adapter, so it must count exactly as the Firestore one does.
"""

from __future__ import annotations

from shared.store.base import Filter


def _billed(store) -> dict[str, int]:
    counts = store.meter.snapshot()
    return {kind: counts[f"firestore.{kind}"] for kind in ("reads", "writes", "deletes")}


def _since(store, before: dict[str, int]) -> dict[str, int]:
    after = _billed(store)
    return {kind: after[kind] - before[kind] for kind in after}


def test_point_operations_count_one_each(store):
    before = _billed(store)
    store.put("users", "u1", {"a": 1})
    store.merge("users", "u1", {"b": 2})
    assert store.create("users", "u2", {"c": 3}) is True
    assert store.get("users", "u1") == {"a": 1, "b": 2}
    assert store.get("users", "missing") is None
    assert store.delete("users", "u2") is True
    assert _since(store, before) == {"reads": 2, "writes": 3, "deletes": 1}


def test_merge_reads_nothing(store):
    """Firestore merges with a field mask, without reading the document first."""
    before = _billed(store)
    store.merge("users", "u1", {"b": 2})
    assert _since(store, before) == {"reads": 0, "writes": 1, "deletes": 0}


def test_a_losing_create_and_a_delete_of_nothing_are_still_requests(store):
    store.put("processed", "m1", {"at": "t"})
    before = _billed(store)
    assert store.create("processed", "m1", {"at": "t2"}) is False
    assert store.delete("processed", "absent") is False
    assert _since(store, before) == {"reads": 0, "writes": 1, "deletes": 1}


def test_transactions_count_their_reads_and_their_write(store):
    store.put("leases", "a", {"n": 1})
    store.put("leases", "b", {"n": 2})
    before = _billed(store)
    # two read-modify-write transactions that read 2 documents and write 1
    assert store.transact("leases", "a", lambda doc: (None if doc is None else doc, doc)) == {"n": 1}
    store.transact("leases", "b", lambda doc: ({"n": (doc or {})["n"] + 1}, None))
    assert _since(store, before) == {"reads": 2, "writes": 2, "deletes": 0}
    before = _billed(store)
    store.transact("leases", "absent", lambda doc: (None, None))  # read only: nothing to write
    assert _since(store, before) == {"reads": 1, "writes": 0, "deletes": 0}
    before = _billed(store)
    store.transact("leases", "a", lambda doc: (None, None))  # deleted inside the transaction
    assert _since(store, before) == {"reads": 1, "writes": 0, "deletes": 1}
    assert store.get("leases", "a") is None


def test_a_query_counts_the_documents_it_returns_and_at_least_one(store):
    for n in range(5):
        store.put("channels", f"c{n}", {"state": "active" if n < 3 else "stopped", "n": n})
    before = _billed(store)
    assert store.query("channels", [Filter("state", "==", "nothing")]) == []
    assert _since(store, before) == {"reads": 1, "writes": 0, "deletes": 0}
    before = _billed(store)
    assert len(store.query("channels", [Filter("state", "==", "active")])) == 3
    assert _since(store, before) == {"reads": 3, "writes": 0, "deletes": 0}
    before = _billed(store)
    assert len(store.query("channels", limit=2)) == 2
    assert _since(store, before) == {"reads": 2, "writes": 0, "deletes": 0}


def test_paging_through_a_collection_counts_each_page(store):
    for n in range(5):
        store.put("users", f"u{n}", {"n": n})
    before = _billed(store)
    assert len(list(store.iter_all("users", page_size=2))) == 5
    # pages of 2, 2 and 1 document: five documents read, no empty page needed
    assert _since(store, before) == {"reads": 5, "writes": 0, "deletes": 0}


def test_delete_where_counts_its_query_and_a_delete_per_document(store):
    for n in range(4):
        store.put("claims", f"k{n}", {"old": n < 3})
    before = _billed(store)
    assert store.delete_where("claims", [Filter("old", "==", True)]) == 3
    assert _since(store, before) == {"reads": 3, "writes": 0, "deletes": 3}
    before = _billed(store)
    assert store.delete_where("claims", [Filter("old", "==", True)]) == 0
    assert _since(store, before) == {"reads": 1, "writes": 0, "deletes": 0}


def test_counts_are_broken_down_by_collection(store):
    store.put("users", "u1", {"a": 1})
    store.get("users", "u1")
    store.get("channels", "c1")
    counts = store.meter.snapshot()
    assert counts["firestore.reads:users"] == 1
    assert counts["firestore.reads:channels"] == 1
    assert counts["firestore.writes:users"] == 1


def test_a_shape_firestore_cannot_answer_bills_every_document_it_streams(store):
    """An inequality on a field other than the ordering one is ordered and limited in Python by
    the Firestore adapter: Firestore streams, and bills, every match, whatever the limit."""
    for n in range(6):
        store.put("meetings", f"m{n}", {"user_id": "u1" if n < 5 else "u2", "end": n})
    before = _billed(store)
    page = store.query("meetings", [Filter("user_id", "==", "u1"), Filter("end", ">=", 1)],
                       limit=2)
    assert [key for key, _ in page] == ["m1", "m2"]
    assert _since(store, before) == {"reads": 4, "writes": 0, "deletes": 0}


def test_an_empty_in_list_asks_nothing(store):
    store.put("users", "u1", {"status": "active"})
    before = _billed(store)
    assert store.query("users", [Filter("status", "in", [])]) == []
    assert _since(store, before) == {"reads": 0, "writes": 0, "deletes": 0}
