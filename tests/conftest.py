"""Fixtures shared by the whole suite.

``stack`` is the embedded stack (simulator + every entry point + local adapters) on a fake
clock; it is the way integration tests act as users (``stack.calendar(email)``) and observe the
product (``stack.published``, ``stack.api_calls``).

``firestore_emulator`` and ``pubsub_emulator`` are Google's emulators (``local.emulators``),
started once per pytest worker session because Java start-up costs seconds. Where one cannot
run, tests that need it skip, naming what is missing and how to install it; with ``CI=true``
they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_environment_and_logging() -> Iterator[None]:
    """Tests must not leak environment variables or log handlers into each other."""
    environ = dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    os.environ.clear()
    os.environ.update(environ)
    root.handlers[:] = handlers
    root.setLevel(level)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _start_emulator(kind: str) -> Iterator:
    from local import emulators

    name, factory = {"firestore": ("Firestore", emulators.FirestoreEmulator),
                     "pubsub": ("Pub/Sub", emulators.PubSubEmulator)}[kind]
    emulator = factory()
    try:
        emulator.start()
    except emulators.EmulatorUnavailable as exc:
        problem = f"Google's {name} emulator cannot run here: {exc}"
    else:
        problem = ""
    if problem and _in_ci():
        pytest.fail(f"CI=true, so this is a failure, not a skip. {problem}", pytrace=False)
    if problem:
        pytest.skip(problem)
    logging.getLogger(__name__).info("%s emulator started in %.1f s", name,
                                     emulator.startup_seconds)
    with emulator:
        yield emulator


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator:
    """Google's Firestore emulator for this worker; reset it (``.reset()``) before use."""
    yield from _start_emulator("firestore")


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator:
    """Google's Pub/Sub emulator for this worker; name topics so tests cannot collide."""
    yield from _start_emulator("pubsub")


@pytest.fixture
def stack(tmp_path) -> Iterator:
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data") as running:
        yield running
        assert running.sim.discovery_violations == []


@pytest.fixture
def iam(monkeypatch):
    """A fake IAM Credentials API that google-auth's ``iam.Signer`` is pointed at (keyless
    delegation, as deployed)."""
    from tests.shared.google.iam_fake import FakeIamCredentials, point_google_auth_at

    fake = FakeIamCredentials()
    point_google_auth_at(monkeypatch, fake)
    yield fake
    fake.close()
