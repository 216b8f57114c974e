"""Notices sealed at indexing time and published later by another instance (issue #20).

A join notification is sealed when its meeting is indexed and published by the minute tick,
a different function instance that holds none of the user's keys. The tick must publish what a
consumer opens without calling KMS (a KMS operation per notification would cost more than the
notification's Firestore work), and a shredded user's stored notices must stay unreadable.
"""

from __future__ import annotations

import pytest

from shared.crypto.sealer import (
    Sealer,
    TamperedOrMisplaced,
    UnknownDataKey,
    open_published,
)

PLACE = "join-notifications|u1|evt|2026-12-01T10:00:00Z"


def test_another_instance_publishes_a_stored_notice_without_calling_kms(store, kek, clock):
    blob = Sealer(store, kek, clock).seal_notice("u1", PLACE, {"title": "Standup"})
    tick = Sealer(store, kek, clock)  # the tick's instance: nothing cached
    calls = kek.calls
    envelope = tick.envelope("u1", PLACE, blob)
    assert kek.calls == calls  # the wrapped key is read from its record, not unwrapped
    assert open_published({**envelope, "user_id": "u1", "place": PLACE},
                          kek.inner) == {"title": "Standup"}
    assert "Standup" not in blob


def test_the_key_record_is_read_once_per_cache_lifetime(store, kek, clock):
    blob = Sealer(store, kek, clock).seal_notice("u1", PLACE, {"title": "Standup"})
    tick = Sealer(store, kek, clock)
    reads = []
    real_get = store.get
    store.get = lambda collection, key: reads.append(key) or real_get(collection, key)
    for _ in range(3):
        tick.envelope("u1", PLACE, blob)
    assert len(reads) == 1
    clock.advance(minutes=10)  # the default ten-minute cache ends exactly here
    tick.envelope("u1", PLACE, blob)
    assert len(reads) == 2


def test_a_shredded_users_notice_is_not_published(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal_notice("u1", PLACE, {"title": "Standup"})
    other = sealer.seal_notice("u2", PLACE, {"title": "Retro"})
    tick = Sealer(store, kek, clock)
    tick.envelope("u1", PLACE, blob)  # the wrapped key is cached in the tick's instance
    tick.envelope("u2", PLACE, other)
    tick.shred_user("u1")
    with pytest.raises(UnknownDataKey):
        tick.envelope("u1", PLACE, blob)
    clock.advance(minutes=10)  # another instance sees the shredding once its cache ends
    with pytest.raises(UnknownDataKey):
        sealer.envelope("u1", PLACE, blob)
    assert open_published(tick.envelope("u2", PLACE, other), kek.inner) == {"title": "Retro"}


def test_the_envelope_is_the_one_seal_for_publish_gives(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal_notice("u1", PLACE, {"title": "Standup"})
    (_key, record), = store.query("data_keys")
    expected = {"sealed": blob, "data_key": record["wrapped"], "kek": kek.key_uri,
                "aad": f"u1|{PLACE}"}
    tick = Sealer(store, kek, clock)
    assert sealer.envelope("u1", PLACE, blob) == expected  # from the unwrapped key's entry
    assert tick.envelope("u1", PLACE, blob) == expected  # from the key record
    assert tick.envelope("u1", PLACE, blob) == expected  # from the wrapped-key cache
    assert set(expected) == set(sealer.seal_for_publish("u1", PLACE, {}))


def test_only_the_users_own_publishing_blobs_get_an_envelope(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    notice = sealer.seal_notice("u1", PLACE, {"title": "Standup"})
    stored = sealer.seal("u1", PLACE, {"title": "Standup"})  # a storage-key record
    with pytest.raises(TamperedOrMisplaced):
        sealer.envelope("u2", PLACE, notice)
    with pytest.raises(TamperedOrMisplaced):
        sealer.envelope("u1", PLACE, stored)  # would hand a consumer our storage key


def test_a_notice_opens_only_at_its_place(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal_notice("u1", PLACE, {"title": "Standup"})
    other = PLACE.replace("evt", "other")
    with pytest.raises(TamperedOrMisplaced):
        open_published({**sealer.envelope("u1", other, blob)}, kek.inner)


def test_the_sealing_instance_needs_no_read_at_all(store, kek, clock):
    sealer = Sealer(store, kek, clock)
    blob = sealer.seal_notice("u1", PLACE, {"title": "Standup"})
    reads = []
    real_get = store.get
    store.get = lambda collection, key: reads.append(key) or real_get(collection, key)
    sealer.envelope("u1", PLACE, blob)
    assert reads == []  # the unwrapped key it sealed with carries its wrapped form
    clock.advance(minutes=10)  # that key's ten minutes are over: read its record again
    sealer.envelope("u1", PLACE, blob)
    assert len(reads) == 1


def test_wrapped_keys_cached_are_bounded_by_the_cache_size(store, kek, clock):
    blobs = {u: Sealer(store, kek, clock).seal_notice(u, PLACE, {}) for u in ("u1", "u2")}
    tick = Sealer(store, kek, clock, cache_size=1)
    reads = []
    real_get = store.get
    store.get = lambda collection, key: reads.append(key) or real_get(collection, key)
    tick.envelope("u1", PLACE, blobs["u1"])
    tick.envelope("u2", PLACE, blobs["u2"])
    tick.envelope("u2", PLACE, blobs["u2"])  # still cached
    assert len(reads) == 2
    tick.envelope("u1", PLACE, blobs["u1"])  # evicted by u2
    assert len(reads) == 3
