"""Behaviour of the sealer that mutation testing (#22, ``make mutate``) found untested.

Each test is something a user or an operator would notice: another user's data made unreadable
by a key retirement, a tampered blob that opens, a consumer that cannot open what we published,
a key unwrapped (and billed) more often than configured, a setting that is silently accepted.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from shared.crypto.sealer import (
    COLLECTION,
    MalformedBlob,
    Sealer,
    TamperedOrMisplaced,
    open_published,
)
from shared.store.sqlite import SqliteStore


@pytest.mark.parametrize("settings", [
    {"rotation_period": timedelta(0)}, {"cache_max_uses": 0}, {"cache_size": 0},
    {"cache_max_uses": 0, "rotation_period": timedelta(days=1)},
    {"cache_size": 0, "cache_max_uses": 5},
])
def test_a_setting_that_disables_rotation_or_the_cache_is_refused(store, kek, clock, settings):
    with pytest.raises(ValueError, match="must be positive"):
        Sealer(store, kek, clock, **settings)


def test_the_smallest_useful_settings_are_accepted_and_work(store, kek, clock):
    sealer = Sealer(store, kek, clock, rotation_period=timedelta(hours=1), cache_max_uses=1,
                    cache_size=1)
    blob = sealer.seal("u1", "p", {"n": 1})
    clock.advance(hours=1)
    assert sealer.key_id_of(sealer.seal("u1", "p", {})) != sealer.key_id_of(blob)
    assert sealer.open("u1", "p", blob) == {"n": 1}


def test_retiring_one_users_keys_leaves_other_users_and_publishing_keys(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    first = {u: sealer.seal(u, "p", {"u": u}) for u in ("u1", "u2")}
    sealer.seal_for_publish("u1", "m", {})
    clock.advance(days=31)
    second = sealer.seal("u1", "p", {"n": 2})
    clock.advance(days=31)
    # a fresh instance (nothing cached) retires u1's two old storage keys, nothing else
    assert Sealer(store, kek, clock).retire_keys("u1", keep=[]) == 2
    assert sealer.open("u2", "p", first["u2"]) == {"u": "u2"}
    purposes = sorted(doc["purpose"] for _, doc in store.query(COLLECTION)
                      if doc["user_id"] == "u1")
    assert purposes == ["p"]  # the publishing key stays (it only matters to sent messages)
    with pytest.raises(Exception, match="not found"):
        Sealer(store, kek, clock).open("u1", "p", second)


def test_rotating_reseals_every_old_record_and_says_how_many(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    saved: dict[str, str] = {}
    blobs = {key: sealer.seal("u1", f"p|{key}", {"k": key}) for key in ("a", "b", "c")}
    clock.advance(days=31)
    items = [(f"p|{k}", b, k, lambda new, k=k: saved.__setitem__(k, new)) for k, b in blobs.items()]
    assert sealer.rotate_user("u1", items) == 3
    assert sorted(saved) == ["a", "b", "c"]


def test_key_records_say_whose_key_of_which_period_made_when_under_which_kek(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal("u1", "p", {})
    (key_id, doc), = store.query(COLLECTION)
    assert doc["key_id"] == key_id == sealer.key_id_of(blob)
    assert doc["period"] == sealer.period_of(clock.now())
    assert doc["kek"] == kek.key_uri and doc["created"].startswith(str(clock.now().year))


def test_a_key_cached_for_its_ttl_is_unwrapped_again_at_that_instant(store, kek, clock):
    blob = Sealer(store, kek, clock).seal("u1", "p", {})
    sealer = Sealer(store, kek, clock, cache_ttl=timedelta(minutes=10))
    sealer.open("u1", "p", blob)
    calls = kek.calls
    clock.advance(minutes=10)
    sealer.open("u1", "p", blob)
    assert kek.calls == calls + 1


def test_a_loaded_key_counts_its_load_as_a_use(store, kek, clock):
    blob = Sealer(store, kek, clock).seal("u1", "p", {})
    sealer = Sealer(store, kek, clock, cache_max_uses=2)
    calls = kek.calls
    sealer.open("u1", "p", blob)
    sealer.open("u1", "p", blob)
    assert kek.calls == calls + 1
    sealer.open("u1", "p", blob)  # the third use of a key allowed two: unwrap again
    assert kek.calls == calls + 2


def test_a_cache_of_two_keys_holds_two_users_keys(store, kek, clock):
    maker = Sealer(store, kek, clock)
    blobs = {u: maker.seal(u, "p", {}) for u in ("u1", "u2")}
    sealer = Sealer(store, kek, clock, cache_size=2)
    calls = kek.calls
    for _ in range(3):
        for user, blob in blobs.items():
            sealer.open(user, "p", blob)
    assert kek.calls == calls + 2


def test_an_instance_that_loads_a_publishing_key_publishes_an_openable_envelope(store, kek, clock):
    Sealer(store, kek, clock).seal_for_publish("u1", "m|1", {"n": 1})
    envelope = Sealer(store, kek, clock).seal_for_publish("u1", "m|2", {"n": 2})
    assert envelope["kek"] == kek.key_uri
    assert open_published(envelope, kek) == {"n": 2}


class RacingStore(SqliteStore):
    """A store where another function instance creates the same data key first, between this
    instance's miss and its create: the race two instances run on a user's first record."""

    other: Sealer | None = None

    def create(self, collection, key, doc):
        if collection == COLLECTION and self.other is not None:
            other, self.other = self.other, None
            other.seal(doc["user_id"], "p", {"by": "other"})
        return super().create(collection, key, doc)


def test_losing_the_race_to_create_a_key_uses_the_winners_key(tmp_path, kek, clock):
    store = RacingStore(tmp_path / "racing.sqlite3")
    store.other = Sealer(SqliteStore(tmp_path / "racing.sqlite3"), kek, clock)
    winner = store.other
    blob = Sealer(store, kek, clock).seal("u1", "p", {"by": "me"})
    assert len(store.query(COLLECTION)) == 1
    assert winner.open("u1", "p", blob) == {"by": "me"}


def _with_stray_character(text: str) -> str:
    return text[:10] + "!" + text[10:]


def test_a_blob_with_a_stray_character_inserted_does_not_open(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal("u1", "p", {"n": 1})
    prefix, _, body = blob.rpartition(".")
    with pytest.raises(MalformedBlob):
        sealer.open("u1", "p", f"{prefix}.{_with_stray_character(body)}")


def test_an_envelope_whose_data_key_has_a_stray_character_is_refused(store, kek, clock):
    envelope = Sealer(store, kek, clock).seal_for_publish("u1", "m", {"n": 1})
    envelope["data_key"] = _with_stray_character(envelope["data_key"])
    with pytest.raises(MalformedBlob):
        open_published(envelope, kek)


@pytest.mark.parametrize("blob", ["v1.not a key id.AAAA", "v1.u1~5.", "v1.u1~5.===="])
def test_a_blob_without_a_valid_key_id_or_ciphertext_is_malformed(blob):
    with pytest.raises(MalformedBlob):
        Sealer.key_id_of(blob)


def test_an_empty_ciphertext_is_malformed_not_a_failed_decryption(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    key_id = sealer.key_id_of(sealer.seal("u1", "p", {}))
    with pytest.raises(MalformedBlob):
        sealer.open("u1", "p", f"v1.{key_id}.")
    with pytest.raises(TamperedOrMisplaced):
        sealer.open("u1", "p", f"v1.{key_id}.{base64.urlsafe_b64encode(b'x' * 40).decode()}")
