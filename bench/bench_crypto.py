"""KMS calls and time per sealed record: this design vs Tink's per-record ``KmsEnvelopeAead``.

Both run through the real google-cloud-kms REST client against the local KMS fake
(``local/kms_fake.py``), so the call counts are what a deployment would be billed for (Cloud KMS
charges per operation). Absolute microseconds include a loopback HTTP round trip per KMS call,
far cheaper than a real KMS round trip (~5-20 ms), so the time ratio here *understates* the gap.

Run: ``python -m bench.bench_crypto``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tink import aead

from bench.summary import record
from local.kms_fake import KmsFake
from shared.clock import FakeClock
from shared.crypto.sealer import Sealer
from shared.keys.kms import CloudKmsKek
from shared.store.sqlite import SqliteStore

KEY = "projects/p/locations/global/keyRings/hybridcal/cryptoKeys/kek"
RECORDS, USERS, BASELINE_SAMPLE = 10_000, 10, 500
RECORD = {"title": "x" * 80, "join_url": "https://example.webex.com/meet/" + "y" * 40,
          "attendees": [f"person{i}@example.com" for i in range(5)]}


class _KekAsTinkAead(aead.Aead):
    """Lets Tink's ``KmsEnvelopeAead`` use the same KMS client and key (``remote`` AEAD)."""

    def __init__(self, kek: CloudKmsKek) -> None:
        self._kek = kek

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        return self._kek.wrap(plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        return self._kek.unwrap(ciphertext, associated_data)


def _ours(kms: KmsFake, tmp: Path) -> tuple[int, float, float, float]:
    """(KMS calls, µs/seal, µs/open warm, µs/open on a cold instance) for RECORDS records."""
    import json

    kms.calls.clear()
    store, clock = SqliteStore(tmp / "s.sqlite3"), FakeClock()
    sealer = Sealer(store, CloudKmsKek(KEY, client=kms.client()), clock)
    started = time.perf_counter()
    blobs = [sealer.seal(f"u_{i % USERS}", f"meetings|{i}", RECORD) for i in range(RECORDS)]
    seal_us = (time.perf_counter() - started) / RECORDS * 1e6
    started = time.perf_counter()
    for i, blob in enumerate(blobs):
        sealer.open(f"u_{i % USERS}", f"meetings|{i}", blob)
    open_us = (time.perf_counter() - started) / RECORDS * 1e6
    cold = Sealer(store, CloudKmsKek(KEY, client=kms.client()), clock)
    started = time.perf_counter()
    for i, blob in enumerate(blobs):
        cold.open(f"u_{i % USERS}", f"meetings|{i}", blob)
    cold_us = (time.perf_counter() - started) / RECORDS * 1e6
    assert json.loads(json.dumps(RECORD)) == cold.open("u_0", "meetings|0", blobs[0])
    return sum(kms.calls.values()), seal_us, open_us, cold_us


def _tink_per_record(kms: KmsFake) -> tuple[int, float, float]:
    """(KMS calls per RECORDS records, µs/seal, µs/open), measured on BASELINE_SAMPLE records."""
    import json

    kms.calls.clear()
    envelope = aead.KmsEnvelopeAead(aead.aead_key_templates.AES256_GCM,
                                    _KekAsTinkAead(CloudKmsKek(KEY, client=kms.client())))
    plaintext = json.dumps(RECORD).encode()
    started = time.perf_counter()
    sealed = [envelope.encrypt(plaintext, f"u_{i % USERS}|meetings|{i}".encode())
              for i in range(BASELINE_SAMPLE)]
    seal_us = (time.perf_counter() - started) / BASELINE_SAMPLE * 1e6
    started = time.perf_counter()
    for i, blob in enumerate(sealed):
        envelope.decrypt(blob, f"u_{i % USERS}|meetings|{i}".encode())
    open_us = (time.perf_counter() - started) / BASELINE_SAMPLE * 1e6
    calls = sum(kms.calls.values()) * RECORDS // BASELINE_SAMPLE
    return calls, seal_us, open_us


def main() -> None:
    aead.register()
    with KmsFake() as kms, tempfile.TemporaryDirectory() as tmp:
        kms.create_key(KEY)
        _tink_per_record(kms)  # warm-up: client, connection pool, imports
        ours_calls, seal_us, open_us, cold_us = _ours(kms, Path(tmp))
        base_calls, base_seal, base_open = _tink_per_record(kms)

    rows = [
        ("KMS calls per 10,000 seals + opens", ours_calls, base_calls),
        ("µs per seal", seal_us, base_seal),
        ("µs per open (warm cache)", open_us, base_open),
        ("µs per open (cold instance)", cold_us, base_open),
    ]
    print(f"{'figure':38s} {'hybridcal':>11s} {'Tink per-record':>16s} {'ratio':>9s}")
    for name, ours, base in rows:
        fmt = "{:,.0f}" if isinstance(ours, int) else "{:,.1f}"
        print(f"{name:38s} {fmt.format(ours):>11s} {fmt.format(base):>16s} "
              f"{ours / base:>9.4f}")
    record("KMS calls per 10,000 records sealed + opened", f"{ours_calls:,}",
           f"{base_calls:,} (per-record envelope, Tink KmsEnvelopeAead)", ours_calls / base_calls)
    record("µs per seal", f"{seal_us:.1f}", f"{base_seal:,.0f} (per-record envelope)",
           seal_us / base_seal)
    print(f"\n{RECORDS:,} records for {USERS} users, one data key per user per 30-day period; "
          f"Tink KmsEnvelopeAead figures measured on {BASELINE_SAMPLE} records and scaled; "
          "every KMS call goes through the real google-cloud-kms REST client to the local fake "
          "(loopback, so real KMS latency would widen the time gap).")


if __name__ == "__main__":
    main()
