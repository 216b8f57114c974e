"""The services a handler needs, wired once per process.

``functions/`` asks :func:`functions._deps.deps` for a :class:`Services`; it is built on first
use (never at import: cold starts) from :mod:`shared.config`. The embedded stack builds the same
object around its simulator, SQLite file and in-process bus, so every code path below the entry
points is the one that runs in the cloud.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.bus.base import Bus
from shared.clock import Clock, FileClock, SystemClock
from shared.config import Config
from shared.keys.base import KeyEncryptionKey
from shared.pseudonym import pseudonymise
from shared.store.base import Store

if TYPE_CHECKING:  # Tink and the Google clients load on first use, never at import (cold starts)
    from shared.crypto.sealer import Sealer
    from shared.google.factory import WorkspaceFactory


@dataclass
class Services:
    """Everything below the entry points depends on this, never on globals."""

    config: Config
    clock: Clock
    store: Store
    bus: Bus
    sealer: Sealer
    workspace: WorkspaceFactory
    sleep: Callable[[float], None] = time.sleep

    def pseudonym(self, email: str) -> str:
        """Stable keyed pseudonym for logs and clear store fields (never the email itself)."""
        return pseudonymise(email, self.config.pseudonym_key)




def from_environment() -> Services:
    """The services a deployed function (or an operator's tool) builds from its environment.

    Raises :class:`~shared.config.ConfigError` naming the variable, so a bad deployment fails
    its cold start loudly instead of failing every request.
    """
    from shared import config, logs

    settings = config.load()
    logs.configure(settings.log_level)
    if settings.mode == "cloud":
        return build_cloud(settings)
    raise config.ConfigError(
        "HYBRIDCAL_MODE=embedded has no standalone functions: run `make run` (local.LocalStack "
        "wires the embedded services), or set HYBRIDCAL_MODE=cloud when deployed."
    )


def build_cloud(config: Config) -> Services:
    """Firestore + Pub/Sub + Cloud KMS + keyless delegation (heavy imports happen here)."""
    from shared.bus.pubsub import PubSubBus
    from shared.crypto.sealer import Sealer
    from shared.google.factory import WorkspaceFactory
    from shared.keys.kms import CloudKmsKek
    from shared.store.firestore import FirestoreStore

    # A shared simulated clock only where a local harness (CloudStack) asks for one.
    clock: Clock = FileClock(config.clock_file) if config.clock_file else SystemClock()
    store = FirestoreStore(project=config.project)
    return Services(
        config=config,
        clock=clock,
        store=store,
        bus=PubSubBus(config.project or ""),
        sealer=_sealer(Sealer, store, CloudKmsKek(config.kms_key or ""), clock, config),
        workspace=WorkspaceFactory(
            api_endpoint=config.google_api_endpoint,
            token_uri=config.token_uri,
            signer_email=config.delegated_service_account,
        ),
    )


def build_embedded(
    config: Config,
    *,
    clock: Clock,
    bus: Bus,
    service_account_info: dict[str, Any],
    store: Store | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Services:
    """SQLite + the given bus + a local keyset: one process, no cloud project needed."""
    from shared.crypto.sealer import Sealer
    from shared.google.factory import WorkspaceFactory
    from shared.keys.local import LocalKeysetKek
    from shared.store.sqlite import SqliteStore

    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = store or SqliteStore(data_dir / "hybridcal.sqlite3")
    kek = LocalKeysetKek(data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    return Services(
        config=config,
        clock=clock,
        store=store,
        bus=bus,
        sealer=_sealer(Sealer, store, kek, clock, config),
        workspace=WorkspaceFactory(
            api_endpoint=config.google_api_endpoint,
            token_uri=config.token_uri,
            service_account_info=service_account_info,
            sleep=sleep,
        ),
        sleep=sleep,
    )


def _sealer(sealer_cls: type[Sealer], store: Store, kek: KeyEncryptionKey, clock: Clock,
            config: Config) -> Sealer:
    from datetime import timedelta

    return sealer_cls(
        store, kek, clock, rotation_period=timedelta(days=config.data_key_rotation_days)
    )
