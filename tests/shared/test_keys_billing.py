"""Key adapters count the KMS operations a tenant is billed for (#20).

Cloud KMS bills each encrypt and decrypt; the server's own count (``local.kms_fake``) must
match the adapter's meter, and the embedded keyset counts the same calls, since deployed they
are KMS calls.
"""

from __future__ import annotations

import pytest

from local.kms_fake import KmsFake
from shared.clock import FakeClock
from shared.crypto.sealer import Sealer
from shared.keys.base import UnwrapFailed
from shared.keys.kms import CloudKmsKek
from shared.keys.local import LocalKeysetKek
from shared.store.sqlite import SqliteStore

KEY = "projects/p/locations/global/keyRings/hybridcal/cryptoKeys/kek"


@pytest.mark.integration
def test_cloud_kms_meter_agrees_with_what_kms_served(tmp_path):
    with KmsFake() as kms:
        kms.create_key(KEY)
        kek = CloudKmsKek(KEY, client=kms.client())
        store = SqliteStore(tmp_path / "s.sqlite3")
        sealer = Sealer(store, kek, FakeClock())
        for n in range(50):  # one data key per user: 5 wraps, then cached
            sealer.seal(f"u{n % 5}", f"meetings|{n}", {"n": n})
        reader = Sealer(store, CloudKmsKek(KEY, client=kms.client(), meter=kek.meter),
                        FakeClock())
        assert reader.open("u0", "meetings|x", sealer.seal("u0", "meetings|x", {"n": 1})) == {"n": 1}
        assert kek.meter.snapshot()["kms.calls"] == sum(kms.calls.values()) == 6


def test_the_local_keyset_counts_wraps_and_unwraps_even_refused_ones(tmp_path):
    kek = LocalKeysetKek(tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json")
    wrapped = kek.wrap(b"k" * 32, b"aad")
    assert kek.unwrap(wrapped, b"aad") == b"k" * 32
    with pytest.raises(UnwrapFailed):
        kek.unwrap(wrapped, b"other")
    assert kek.meter.snapshot()["kms.calls"] == 3
