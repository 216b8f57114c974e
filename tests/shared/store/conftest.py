"""The ``store`` fixture runs every contract test against each adapter.

Adapters that need an emulator skip (with the reason) when it is unavailable; capabilities an
emulator lacks are declared per adapter so contract tests can skip precisely.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.store.sqlite import SqliteStore

ADAPTERS = ["sqlite", "firestore"]

# capability -> reason, per adapter: the emulator's known gaps (see ../shared/notes/emulators.md)
UNSUPPORTED: dict[str, dict[str, str]] = {"sqlite": {}, "firestore": {}}


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


@pytest.fixture
def firestore_store():
    pytest.skip("the Firestore adapter has not landed yet")


def require(store, capability: str) -> None:
    """Skip when this adapter's backend is known not to support ``capability``."""
    reason = UNSUPPORTED.get(getattr(store, "adapter_name", ""), {}).get(capability)
    if reason:
        pytest.skip(reason)
