"""Cloud KMS path: the real google-cloud-kms REST client against the local fake."""

from __future__ import annotations

import base64

import pytest
import requests
from google.api_core.exceptions import BadRequest, NotFound

from local.kms_fake import KmsFake
from shared.clock import FakeClock
from shared.crypto.sealer import COLLECTION, DataKeyUnwrapError, Sealer, open_published
from shared.keys.base import UnwrapFailed
from shared.keys.kms import CloudKmsKek
from shared.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

KEY = "projects/p/locations/global/keyRings/hybridcal/cryptoKeys/kek"
SECRET = "MARKER-kms-path-4410"


@pytest.fixture
def kms():
    with KmsFake() as fake:
        fake.create_key(KEY)
        yield fake


@pytest.fixture
def store(tmp_path):
    return SqliteStore(tmp_path / "s.sqlite3")


def kek(kms: KmsFake, key: str = KEY) -> CloudKmsKek:
    return CloudKmsKek(key, client=kms.client())


def test_ten_thousand_records_for_ten_users_cost_a_few_dozen_kms_calls(kms, store):
    clock = FakeClock()
    sealer = Sealer(store, kek(kms), clock)
    blobs = [sealer.seal(f"u_{i % 10}", f"meetings|{i}", {"title": f"{SECRET}{i}"})
             for i in range(10_000)]
    assert kms.calls == {"encrypt": 10}
    reader = Sealer(store, kek(kms), clock)  # another function instance, cold cache
    assert all(reader.open(f"u_{i % 10}", f"meetings|{i}", b) == {"title": f"{SECRET}{i}"}
               for i, b in enumerate(blobs))
    assert sum(kms.calls.values()) <= 40
    assert kms.calls == {"encrypt": 10, "decrypt": 10}


def test_kms_key_version_rotation_needs_no_action(kms, store):
    clock = FakeClock()
    old = Sealer(store, kek(kms), clock).seal("u1", "p", {"n": 1})
    assert kms.rotate(KEY) == 2
    fresh = Sealer(store, kek(kms), clock)
    assert fresh.open("u1", "p", old) == {"n": 1}
    new = fresh.seal("u2", "p", {"n": 2})  # new data keys are wrapped by the new primary
    assert Sealer(store, kek(kms), clock).open("u2", "p", new) == {"n": 2}
    assert kms.calls["decrypt"] == 2


def test_wrong_associated_data_is_unwrap_failed_and_operational_errors_propagate(kms):
    kms_kek = kek(kms)
    wrapped = kms_kek.wrap(b"k" * 32, b"user-a")
    assert kms_kek.unwrap(wrapped, b"user-a") == b"k" * 32
    with pytest.raises(UnwrapFailed):
        kms_kek.unwrap(wrapped, b"user-b")
    with pytest.raises(UnwrapFailed):
        kms_kek.unwrap(wrapped[:-1], b"user-a")
    with pytest.raises(NotFound):
        kek(kms, KEY + "x").wrap(b"k", b"")
    kms.disable(KEY, 1)  # a disabled version is an operator problem, not tampering
    with pytest.raises(BadRequest, match="not enabled") as excinfo:
        kms_kek.unwrap(wrapped, b"user-a")
    assert not isinstance(excinfo.value, UnwrapFailed)


def test_altered_wrapped_data_key_is_a_clear_error(kms, store):
    clock = FakeClock()
    sealer = Sealer(store, kek(kms), clock)
    blob = sealer.seal("u1", "p", {"title": SECRET})
    key_id = sealer.key_id_of(blob)
    wrapped = bytearray(base64.b64decode(store.get(COLLECTION, key_id)["wrapped"]))
    wrapped[-1] ^= 1
    store.merge(COLLECTION, key_id, {"wrapped": base64.b64encode(bytes(wrapped)).decode()})
    with pytest.raises(DataKeyUnwrapError) as excinfo:
        Sealer(store, kek(kms), clock).open("u1", "p", blob)
    assert SECRET not in str(excinfo.value)


def test_published_envelope_opens_for_a_consumer_with_kms_rights_and_no_store(kms, store):
    sealer = Sealer(store, kek(kms), FakeClock())
    message = {"user_id": "u1", "place": "publish|meetings-updated|1",
               **sealer.seal_for_publish("u1", "publish|meetings-updated|1",
                                         {"title": SECRET})}
    assert message["kek"] == "gcp-kms://" + KEY
    consumer = CloudKmsKek(message["kek"], client=kms.client())  # from the envelope alone
    assert open_published(message, consumer) == {"title": SECRET}


def test_fake_answers_google_style_errors(kms):
    url = f"{kms.endpoint}/v1/{KEY}:decrypt"
    bad = requests.post(url, json={"ciphertext": "%%%"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    missing = requests.post(f"{kms.endpoint}/v1/{KEY}x:encrypt", json={"plaintext": "AA=="},
                            timeout=5)
    assert (missing.status_code, missing.json()["error"]["status"]) == (404, "NOT_FOUND")
    assert requests.get(url, timeout=5).status_code == 404
