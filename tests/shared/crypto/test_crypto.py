"""Envelope encryption: round trips, binding to owner and place, tampering, shredding,
rotation, and a key-encryption cost of about one call per user per period."""

from __future__ import annotations

import base64
import json
import threading
import traceback
from datetime import timedelta

import pytest

from shared.crypto.sealer import (
    COLLECTION,
    DataKeyUnwrapError,
    MalformedBlob,
    SealedDataError,
    Sealer,
    TamperedOrMisplaced,
    UnknownDataKey,
    open_published,
)
from shared.keys.local import LocalKeysetKek

SECRET = "MARKER-board-agenda-7781"


@pytest.fixture
def sealer(store, kek, clock):
    return Sealer(store, kek, clock)


def test_round_trip_and_nothing_readable_in_blob_or_key_records(sealer, store):
    blob = sealer.seal("u1", "meetings|e1", {"title": SECRET, "n": 3})
    assert sealer.open("u1", "meetings|e1", blob) == {"title": SECRET, "n": 3}
    assert SECRET not in blob
    (key_id, doc), = store.query(COLLECTION)
    assert key_id == sealer.key_id_of(blob)
    assert {"user_id": "u1", "purpose": ""}.items() <= doc.items()
    assert SECRET not in json.dumps(doc)


@pytest.mark.parametrize(("user", "place"), [("u2", "meetings|e1"), ("u1", "meetings|e2"),
                                             ("u1", "presence|e1")])
def test_blob_copied_to_another_user_or_record_fails(sealer, user, place):
    sealer.seal("u2", "x", {})  # u2 has a key of its own: the binding, not absence, refuses
    blob = sealer.seal("u1", "meetings|e1", {"title": SECRET})
    with pytest.raises(TamperedOrMisplaced) as excinfo:
        sealer.open(user, place, blob)
    assert SECRET not in str(excinfo.value)


def test_ciphertext_swapped_under_another_users_key_id_fails(sealer):
    mine = sealer.seal("u1", "p", {"title": SECRET})
    theirs = sealer.seal("u2", "p", {"title": "other"})
    forged = ".".join([*theirs.split(".")[:2], mine.split(".", 2)[2]])
    with pytest.raises(TamperedOrMisplaced):
        sealer.open("u2", "p", forged)


def test_altered_truncated_or_garbage_blobs_give_clear_errors_without_plaintext(sealer):
    blob = sealer.seal("u1", "p", {"title": SECRET})
    body = base64.urlsafe_b64decode(blob.split(".", 2)[2])
    for i in (0, 5, len(body) // 2, len(body) - 1):  # Tink prefix, IV, ciphertext, tag
        altered = bytearray(body)
        altered[i] ^= 0x01
        with pytest.raises(TamperedOrMisplaced):
            sealer.open("u1", "p", "v1." + sealer.key_id_of(blob) + "."
                        + base64.urlsafe_b64encode(bytes(altered)).decode())
    cases = [blob[:-4], blob[:-10], blob[:20], "not-a-blob", "", "v2" + blob[2:],
             SECRET, f"{SECRET}.{SECRET}.{SECRET}", f"v1.u1~1.{SECRET}", f"v1.u1~1.{SECRET}!",
             f"v1.{SECRET}.AAAA", "v1.u1~1.!!!!"]
    for bad in cases:
        with pytest.raises(SealedDataError) as excinfo:
            sealer.open("u1", "p", bad)
        logged = "".join(traceback.format_exception(excinfo.value))  # what a logger prints
        assert SECRET not in logged
    with pytest.raises(MalformedBlob):
        sealer.open("u1", "p", f"{SECRET}.x.y")


def test_unknown_data_key_is_a_clear_error(sealer):
    blob = sealer.seal("u1", "p", {"title": SECRET})
    with pytest.raises(UnknownDataKey, match="shredded or never existed"):
        sealer.open("u1", "p", "v1.u1~999999." + blob.split(".", 2)[2])


def test_emails_are_refused_as_user_ids(sealer, store):
    with pytest.raises(ValueError, match="pseudonyms") as excinfo:
        sealer.seal("ann@example.com", "p", {})
    assert "ann@example.com" not in str(excinfo.value)
    assert store.query(COLLECTION) == []


def test_shredding_makes_old_records_unreadable(sealer, store, kek, clock):
    blob = sealer.seal("u1", "p", {"title": SECRET})
    envelope = sealer.seal_for_publish("u1", "publish|t|1", {"title": SECRET})
    old_period = sealer.seal("u1", "p", {"n": 0})
    clock.advance(days=31)
    sealer.seal("u1", "p", {"n": 1})
    other = sealer.seal("u2", "p", {"title": "kept"})
    assert sealer.shred_user("u1") == 3  # two storage periods and one publishing key
    for stale in (blob, old_period, envelope["sealed"]):
        with pytest.raises(UnknownDataKey):
            sealer.open("u1", "p", stale)
    with pytest.raises(UnknownDataKey):
        Sealer(store, kek, clock).open("u1", "p", blob)
    assert sealer.open("u2", "p", other) == {"title": "kept"}


def test_rotation_uses_a_new_key_old_records_open_and_reseal_retires_old_keys(
        sealer, store, clock):
    old = sealer.seal("u1", "p", {"n": 1})
    clock.advance(days=31)
    new = sealer.seal("u1", "p", {"n": 2})
    assert sealer.key_id_of(old) != sealer.key_id_of(new)
    assert sealer.open("u1", "p", old) == {"n": 1}
    saved = {}
    items = [("p", old, "k1", lambda b: saved.__setitem__("k1", b)),
             ("p", new, "k2", lambda b: saved.__setitem__("k2", b))]
    assert sealer.rotate_user("u1", items) == 1
    assert list(saved) == ["k1"]  # already-current records are left alone
    assert sealer.key_id_of(saved["k1"]) == sealer.key_id_of(new)
    assert sealer.open("u1", "p", saved["k1"]) == {"n": 1}
    assert sealer.retire_keys("u1", keep=[sealer.key_id_of(saved["k1"])]) == 1
    with pytest.raises(UnknownDataKey):
        sealer.open("u1", "p", old)
    assert sealer.open("u1", "p", saved["k1"]) == {"n": 1}


def test_ten_thousand_records_for_ten_users_cost_a_few_kek_calls(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blobs = [sealer.seal(f"u{i % 10}", f"meetings|{i}", {"title": "x"}) for i in range(10_000)]
    assert kek.calls == 10  # one wrap per user per period
    fresh = Sealer(store, kek, clock)  # another instance (a cold start) unwraps once per user
    assert all(fresh.open(f"u{i % 10}", f"meetings|{i}", b) == {"title": "x"}
               for i, b in enumerate(blobs))
    assert kek.calls == 20


def test_concurrent_first_seals_wrap_one_data_key(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    start = threading.Barrier(8)
    blobs = []

    def work():
        start.wait()
        blobs.extend(sealer.seal("u1", f"p|{i}", {"i": i}) for i in range(20))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kek.calls == 1
    assert len(store.query(COLLECTION)) == 1
    assert {sealer.key_id_of(b) for b in blobs} == {sealer.current_key_id("u1")}


def test_two_instances_racing_to_create_a_key_agree_on_one(store, kek, clock):
    first, second = Sealer(store, kek, clock), Sealer(store, kek, clock)
    a = first.seal("u1", "p", {"n": 1})
    b = second.seal("u1", "p", {"n": 2})  # finds the stored key rather than making another
    assert first.open("u1", "p", b) == {"n": 2} and second.open("u1", "p", a) == {"n": 1}
    assert len(store.query(COLLECTION)) == 1


def test_unwrapped_keys_are_cached_for_a_bounded_time_uses_and_count(store, kek, clock):
    sealer = Sealer(store, kek, clock, cache_ttl=timedelta(minutes=10), cache_max_uses=3,
                    cache_size=2)
    blob = sealer.seal("u1", "p", {"n": 1})  # wrap (use 1)
    sealer.open("u1", "p", blob)
    sealer.open("u1", "p", blob)  # uses 2, 3: cached
    assert kek.calls == 1
    sealer.open("u1", "p", blob)  # use limit reached: unwrap again
    assert kek.calls == 2
    clock.advance(minutes=11)
    sealer.open("u1", "p", blob)  # expired: unwrap again
    assert kek.calls == 3
    sealer.seal("u2", "p", {})
    sealer.seal("u3", "p", {})  # cache holds two keys: u1 is evicted (least recently used)
    calls = kek.calls
    sealer.open("u1", "p", blob)
    assert kek.calls == calls + 1


def test_a_data_key_that_does_not_unwrap_is_a_clear_error(tmp_path, store, clock):
    kek = LocalKeysetKek(tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json")
    blob = Sealer(store, kek, clock).seal("u1", "p", {"title": SECRET})
    regenerated = LocalKeysetKek(tmp_path / "other" / "LOCAL-DEV-ONLY-kek.keyset.json")
    with pytest.raises(DataKeyUnwrapError, match="does not unwrap"):
        Sealer(store, regenerated, clock).open("u1", "p", blob)
    # a wrapped key moved into another user's key record does not unwrap either
    sealer = Sealer(store, kek, clock)
    other = sealer.seal("u2", "p", {})
    wrapped_u1 = store.get(COLLECTION, sealer.key_id_of(blob))["wrapped"]
    store.merge(COLLECTION, sealer.key_id_of(other), {"wrapped": wrapped_u1})
    with pytest.raises(DataKeyUnwrapError):
        Sealer(store, kek, clock).open("u2", "p", other)


def test_published_envelope_opens_with_the_kek_alone_and_not_with_storage_keys(
        sealer, store, kek, clock):
    stored = sealer.seal("u1", "meetings|e1", {"title": SECRET})
    message = {"user_id": "u1", "place": "publish|t|1",
               **sealer.seal_for_publish("u1", "publish|t|1", {"title": SECRET})}
    assert SECRET not in json.dumps(message)
    assert set(message) == {"user_id", "place", "sealed", "data_key", "kek", "aad"}
    assert message["kek"] == kek.key_uri
    assert open_published(message, kek.inner) == {"title": SECRET}
    assert sealer.key_id_of(message["sealed"]) != sealer.key_id_of(stored)
    with pytest.raises(DataKeyUnwrapError):  # the message's key does not open stored records
        open_published({**message, "sealed": stored, "aad": "u1|meetings|e1",
                        "place": "meetings|e1"}, kek.inner)
    with pytest.raises(TamperedOrMisplaced):
        open_published({**message, "user_id": "u2"}, kek.inner)
    with pytest.raises(TamperedOrMisplaced):
        open_published({**message, "aad": "u1|publish|t|2", "place": "publish|t|2"}, kek.inner)
    with pytest.raises(MalformedBlob):
        open_published({"sealed": message["sealed"]}, kek.inner)
    calls = kek.calls
    for i in range(100):
        sealer.seal_for_publish("u1", f"publish|t|{i}", {"i": i})
    assert kek.calls == calls  # the wrapped key travels from the cache, not a store read


def test_errors_never_name_the_record_or_its_place(sealer):
    """Errors name the failure, never the user data or where it was."""
    blob = sealer.seal("u1", "meetings|" + SECRET, {"title": SECRET})
    for user, place in [("u1", "meetings|x"), ("u2", "meetings|" + SECRET)]:
        with pytest.raises(SealedDataError) as excinfo:
            sealer.open(user, place, blob)
        assert SECRET not in str(excinfo.value)
