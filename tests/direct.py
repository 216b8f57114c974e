"""Scaffolding the fast direct tests share (#22's mutation tests: ``tests/**/test_*_mutants.py``).

They drive one module on the real store, bus and sealer, and reach Google through the real
google-auth and google-api-python-client against the Workspace simulator, without the embedded
stack. One simulator and one :class:`~shared.google.factory.WorkspaceFactory` serve a whole
test module, as a deployment keeps one factory (its signer parses an RSA key, a tenth of a
second); each test brings its own clock, store and users.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from local.workspace_sim import WorkspaceSimulator
from shared.clock import FakeClock


class NoGoogle:
    """The Workspace of a unit that must make no Google call: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no Google call expected ({name})")


class SimulatedBackoff:
    """The shared factory's backoff waits: they pass the running test's simulated time (each
    test points ``clock`` at its own fake clock), so a retry costs no real time."""

    def __init__(self, now: datetime) -> None:
        self.clock = FakeClock(now)

    def __call__(self, seconds: float) -> None:
        self.clock.advance(seconds)


def running_simulator(now: datetime) -> Iterator[WorkspaceSimulator]:
    """The body of a module-scoped ``sim`` fixture."""
    with WorkspaceSimulator(clock=FakeClock(now)) as running:
        yield running


def google_free_services(data_dir: Any, now: datetime) -> Iterator[Any]:
    """The body of a ``services`` fixture for a unit that makes no Google call: the real
    SQLite store, LocalBus and Sealer (a local KEK) on a fake clock at ``now``."""
    from shared.bus.local import LocalBus
    from shared.config import Config
    from shared.crypto.sealer import Sealer
    from shared.keys.local import LocalKeysetKek
    from shared.runtime import Services
    from shared.store.sqlite import SqliteStore

    clock = FakeClock(now)
    store = SqliteStore(data_dir / "s.sqlite3")
    sealer = Sealer(store, LocalKeysetKek(data_dir / "LOCAL-DEV-ONLY-kek.keyset.json"), clock)
    yield Services(config=Config(), clock=clock, store=store, bus=LocalBus(clock),
                   sealer=sealer, workspace=NoGoogle())
    store.close()


def workspace_factory(sim: WorkspaceSimulator, backoff: SimulatedBackoff) -> Any:
    """The module's one factory, pointed at the simulator as the embedded stack points it."""
    from shared.google.factory import WorkspaceFactory

    return WorkspaceFactory(api_endpoint=sim.url, token_uri=sim.token_uri,
                            service_account_info=sim.service_account_info, sleep=backoff)
