"""Cloud KMS path: the real google-cloud-kms REST client against the local fake."""

from __future__ import annotations

import pytest

from local.kms_fake import KmsFake, kms_client
from shared.clock import FakeClock
from shared.crypto import Sealer
from shared.keys.kms import CloudKmsKek
from shared.store.sqlite import SqliteStore

KEY = "projects/p/locations/global/keyRings/hybridcal/cryptoKeys/kek"


@pytest.fixture
def kms():
    with KmsFake() as fake:
        fake.create_key(KEY)
        yield fake


def test_ten_thousand_records_for_ten_users_cost_a_few_dozen_kms_calls(kms, tmp_path):
    clock = FakeClock()
    store = SqliteStore(tmp_path / "s.sqlite3")
    sealer = Sealer(store, CloudKmsKek(KEY, client=kms_client(kms.endpoint)), clock)
    blobs = [sealer.seal(f"u{i % 10}", f"meetings|{i}", {"title": f"t{i}"})
             for i in range(10_000)]
    reader = Sealer(store, CloudKmsKek(KEY, client=kms_client(kms.endpoint)), clock)
    assert all(reader.open(f"u{i % 10}", f"meetings|{i}", b) == {"title": f"t{i}"}
               for i, b in enumerate(blobs[:2000]))
    assert sum(kms.calls.values()) <= 40


def test_kms_key_version_rotation_needs_no_action(kms, tmp_path):
    clock = FakeClock()
    store = SqliteStore(tmp_path / "s.sqlite3")
    blob = Sealer(store, CloudKmsKek(KEY, client=kms_client(kms.endpoint)), clock).seal(
        "u1", "p", {"n": 1})
    assert kms.rotate(KEY) == 2
    fresh = Sealer(store, CloudKmsKek(KEY, client=kms_client(kms.endpoint)), clock)
    assert fresh.open("u1", "p", blob) == {"n": 1}


def test_wrong_associated_data_and_unknown_key_are_refused(kms):
    from google.api_core.exceptions import BadRequest, NotFound

    kek = CloudKmsKek(KEY, client=kms_client(kms.endpoint))
    wrapped = kek.wrap(b"k" * 32, b"user-a")
    assert kek.unwrap(wrapped, b"user-a") == b"k" * 32
    with pytest.raises(BadRequest):
        kek.unwrap(wrapped, b"user-b")
    with pytest.raises(NotFound):
        CloudKmsKek(KEY + "x", client=kms_client(kms.endpoint)).wrap(b"k", b"")
