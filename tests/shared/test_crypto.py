"""Envelope encryption: round trips, binding to owner and place, tampering, shredding,
rotation, and a KMS cost of about one call per user per period."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest

from shared.clock import FakeClock
from shared.crypto import (
    MalformedBlob,
    SealedDataError,
    Sealer,
    TamperedOrMisplaced,
    UnknownDataKey,
)
from shared.keys.local import InsecureKeysetFile, LocalKeysetKek
from shared.store.sqlite import SqliteStore

SECRET = "MARKER-board-agenda-7781"


class CountingKek:
    """Wraps a real local KEK and counts calls, standing in for KMS's bill."""

    def __init__(self, inner):
        self.inner, self.key_uri, self.calls = inner, inner.key_uri, 0

    def wrap(self, key, aad):
        self.calls += 1
        return self.inner.wrap(key, aad)

    def unwrap(self, wrapped, aad):
        self.calls += 1
        return self.inner.unwrap(wrapped, aad)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def kek(tmp_path):
    return CountingKek(LocalKeysetKek(tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json"))


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "store.sqlite3")


@pytest.fixture
def sealer(store, kek, clock):
    return Sealer(store, kek, clock)


def test_round_trip_and_no_plaintext_in_blob(sealer):
    blob = sealer.seal("u1", "meetings|e1", {"title": SECRET})
    assert SECRET not in blob
    assert sealer.open("u1", "meetings|e1", blob) == {"title": SECRET}


@pytest.mark.parametrize(("user", "place"), [("u2", "meetings|e1"), ("u1", "meetings|e2")])
def test_blob_copied_to_another_user_or_record_fails(sealer, user, place):
    blob = sealer.seal("u1", "meetings|e1", {"title": SECRET})
    with pytest.raises(TamperedOrMisplaced) as excinfo:
        sealer.open(user, place, blob)
    assert SECRET not in str(excinfo.value)


def test_altered_truncated_or_garbage_blobs_give_clear_errors(sealer):
    blob = sealer.seal("u1", "p", {"title": SECRET})
    flipped = blob[:-6] + ("A" if blob[-6] != "A" else "B") + blob[-5:]
    with pytest.raises(TamperedOrMisplaced):
        sealer.open("u1", "p", flipped)
    with pytest.raises(SealedDataError):  # truncation breaks base64 or the GCM tag
        sealer.open("u1", "p", blob[:-10])
    with pytest.raises(MalformedBlob):
        sealer.open("u1", "p", "not-a-blob")
    with pytest.raises(UnknownDataKey):
        sealer.open("u1", "p", "v1.u1~999999." + blob.split(".", 2)[2])


def test_shredding_makes_old_records_unreadable(sealer, store, kek, clock):
    blob = sealer.seal("u1", "p", {"title": SECRET})
    other = sealer.seal("u2", "p", {"title": "kept"})
    assert sealer.shred_user("u1") == 1
    with pytest.raises(UnknownDataKey):
        sealer.open("u1", "p", blob)
    with pytest.raises(UnknownDataKey):
        Sealer(store, kek, clock).open("u1", "p", blob)
    assert sealer.open("u2", "p", other) == {"title": "kept"}


def test_rotation_uses_a_new_key_and_old_records_still_open(sealer, clock):
    old = sealer.seal("u1", "p", {"n": 1})
    clock.advance(days=31)
    new = sealer.seal("u1", "p", {"n": 2})
    assert sealer.key_id_of(old) != sealer.key_id_of(new)
    assert sealer.open("u1", "p", old) == {"n": 1}
    saved = {}
    assert sealer.rotate_user("u1", [("p", old, "k", lambda b: saved.setdefault("b", b))]) == 1
    assert sealer.key_id_of(saved["b"]) == sealer.key_id_of(new)


def test_ten_thousand_records_for_ten_users_cost_a_few_kek_calls(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    for i in range(10_000):
        sealer.seal(f"u{i % 10}", f"meetings|{i}", {"title": "x"})
    assert kek.calls <= 20  # one wrap per user per period, plus cache refreshes
    fresh = Sealer(store, kek, clock)
    before = kek.calls
    for i in range(1_000):
        fresh.open(f"u{i % 10}", f"meetings|{i}", sealer.seal(f"u{i % 10}",
                                                               f"meetings|{i}", {"t": 1}))
    assert kek.calls - before <= 10


def test_local_keyset_is_created_0600_and_refused_when_world_readable(tmp_path):
    path = tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json"
    LocalKeysetKek(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeysetFile, match="chmod 600"):
        LocalKeysetKek(path)


def test_cache_expiry_reloads_key_from_store(sealer, kek, clock):
    blob = sealer.seal("u1", "p", {"n": 1})
    calls = kek.calls
    clock.advance(timedelta(minutes=11).total_seconds())
    assert sealer.open("u1", "p", blob) == {"n": 1}
    assert kek.calls == calls + 1
