"""The ``store`` fixture runs every contract test against each adapter.

``firestore`` is :class:`~shared.store.firestore.FirestoreStore` with the real
``google-cloud-firestore`` client on Google's Firestore emulator (one per pytest worker, see
``tests/conftest.py``), emptied before each test. Where the emulator is missing the Firestore
cases skip with what to install, or fail with ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.store.sqlite import SqliteStore

ADAPTERS = ["sqlite", "firestore"]


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator:
    if request.param == "sqlite":
        s = SqliteStore(tmp_path / "store.sqlite3")
        yield s
        s.close()
        return
    yield request.getfixturevalue("firestore_store")


@pytest.fixture
def firestore_store(firestore_emulator):
    """A FirestoreStore on a freshly emptied emulator database."""
    from shared.store.firestore import FirestoreStore

    firestore_emulator.reset()
    client = firestore_emulator.client()
    yield FirestoreStore(client)
    client.close()
