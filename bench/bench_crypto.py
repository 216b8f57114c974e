"""KMS calls and time per sealed record: this design vs per-record envelope encryption.

Both run through the real google-cloud-kms REST client against the local KMS fake, so the call
counts are what a deployment would be billed for; the per-record baseline wraps a fresh data
key for every record, as Tink's ``KmsEnvelopeAead`` does.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from local.kms_fake import KmsFake, kms_client
from shared.clock import FakeClock
from shared.crypto import Sealer
from shared.keys.kms import CloudKmsKek
from shared.store.sqlite import SqliteStore

KEY = "projects/p/locations/global/keyRings/hybridcal/cryptoKeys/kek"
RECORDS, USERS, BASELINE_SAMPLE = 10_000, 10, 300


def per_record_envelope(kek: CloudKmsKek, record: bytes) -> bytes:
    """The baseline: a new AES-256-GCM data key per record, wrapped by KMS each time."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    return kek.wrap(key, b"") + nonce + AESGCM(key).encrypt(nonce, record, b"")


def main() -> None:
    with KmsFake() as kms, tempfile.TemporaryDirectory() as tmp:
        kms.create_key(KEY)
        sealer = Sealer(SqliteStore(Path(tmp) / "s.sqlite3"),
                        CloudKmsKek(KEY, client=kms_client(kms.endpoint)), FakeClock())
        started = time.perf_counter()
        blobs = [sealer.seal(f"u{i % USERS}", f"meetings|{i}", {"title": "x" * 200})
                 for i in range(RECORDS)]
        seal_us = (time.perf_counter() - started) / RECORDS * 1e6
        started = time.perf_counter()
        for i, blob in enumerate(blobs):
            sealer.open(f"u{i % USERS}", f"meetings|{i}", blob)
        open_us = (time.perf_counter() - started) / RECORDS * 1e6
        ours = sum(kms.calls.values())

        kms.calls.clear()
        baseline_kek = CloudKmsKek(KEY, client=kms_client(kms.endpoint))
        started = time.perf_counter()
        for _ in range(BASELINE_SAMPLE):
            per_record_envelope(baseline_kek, b"x" * 200)
        base_us = (time.perf_counter() - started) / BASELINE_SAMPLE * 1e6
        base_calls = sum(kms.calls.values()) * RECORDS // BASELINE_SAMPLE

    rows = [
        ("KMS calls per 10,000 sealed records", f"{ours}", f"{base_calls}",
         f"{ours / base_calls:.4f}"),
        ("µs per seal (incl. KMS round trips)", f"{seal_us:.1f}", f"{base_us:.1f}",
         f"{seal_us / base_us:.3f}"),
        ("µs per open", f"{open_us:.1f}", "—", "—"),
    ]
    print(f"{'figure':40s} {'hybridcal':>12s} {'per-record':>12s} {'ratio':>8s}")
    for name, a, b, r in rows:
        print(f"{name:40s} {a:>12s} {b:>12s} {r:>8s}")
    print(f"\n{USERS} users, one data key per user per 30-day period; baseline extrapolated from "
          f"{BASELINE_SAMPLE} records against the same local KMS fake.")


if __name__ == "__main__":
    main()
