"""What the crypto tests share: a real local KEK that counts its calls (KMS bills each one),
a fake clock and a SQLite store."""

from __future__ import annotations

import threading

import pytest

from shared.clock import FakeClock
from shared.keys.local import LocalKeysetKek
from shared.store.sqlite import SqliteStore


class CountingKek:
    """Wraps a real local KEK and counts calls, standing in for KMS's bill."""

    def __init__(self, inner):
        self.inner, self.key_uri, self.calls = inner, inner.key_uri, 0
        self._lock = threading.Lock()

    def wrap(self, key, aad):
        with self._lock:
            self.calls += 1
        return self.inner.wrap(key, aad)

    def unwrap(self, wrapped, aad):
        with self._lock:
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
