"""The ``store`` fixture runs every contract test against each adapter.

Adapters that need an emulator skip (with the reason) when it is unavailable; capabilities an
emulator lacks are declared per adapter so contract tests can skip precisely.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.store.sqlite import SqliteStore

ADAPTERS = ["sqlite", "firestore"]

# capability -> reason, per adapter: the emulator's known gaps (see ../shared/notes/emulators.md)
UNSUPPORTED: dict[str, dict[str, str]] = {
    "sqlite": {},
    "firestore": {
        "transaction_isolation": (
            "@firestore-emulator/server 0.3.x does not isolate transactions (20 concurrent "
            "increments end at 1); proven on the SQLite adapter, whose transactions are real"),
        "cursors": (
            "@firestore-emulator/server 0.3.x ignores start_after cursors (paging never "
            "advances); the Firestore adapter's cursor on _key is left to design review"),
        "set_replaces": (
            "@firestore-emulator/server 0.3.x merges on set() instead of replacing the document; "
            "real Firestore replaces, which is what FirestoreStore.put relies on"),
        "numeric_cross_type": (
            "@firestore-emulator/server 0.3.x does not compare integers with doubles; real "
            "Firestore orders all numbers together"),
    },
}


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator:
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "store.sqlite3")
        s.adapter_name = "sqlite"
        yield s
        s.close()
        return
    firestore_store = request.getfixturevalue("firestore_store")
    firestore_store.adapter_name = "firestore"
    yield firestore_store


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator:
    """One npm Firestore emulator for the session; skips with the reason when it cannot run."""
    from local.emulators import EmulatorUnavailable
    from local.emulators.firestore import start_firestore_emulator

    try:
        emulator = start_firestore_emulator()
    except EmulatorUnavailable as exc:
        pytest.skip(str(exc))
    with emulator:
        yield emulator


@pytest.fixture
def firestore_store(firestore_emulator):
    """A FirestoreStore on the emulator with a collection prefix unique to this test."""
    pytest.importorskip("google.cloud.firestore")
    from shared.store.firestore import FirestoreStore

    client = firestore_emulator.client()
    yield FirestoreStore(client, prefix=f"t{uuid.uuid4().hex[:12]}_")
    client.close()


def require(store, capability: str) -> None:
    """Skip when this adapter's backend is known not to support ``capability``."""
    reason = UNSUPPORTED.get(getattr(store, "adapter_name", ""), {}).get(capability)
    if reason:
        pytest.skip(reason)
