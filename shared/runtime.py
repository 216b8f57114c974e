"""The services a handler needs, wired once per process.

``functions/`` asks :func:`functions._deps.deps` for a :class:`Services`; it is built on first
use (never at import: cold starts) from :mod:`shared.config`. Within it the sealer (Tink, the
KMS client) and the Workspace factory (google-auth, googleapiclient) are built on their first
use too, so an entry point that never seals or calls Google (``intake_push``) never loads them. The embedded stack builds the same
object around its simulator, SQLite file and in-process bus, so every code path below the entry
points is the one that runs in the cloud.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from shared.billing import Meter, total
from shared.bus.base import Bus
from shared.clock import Clock, FileClock, SystemClock
from shared.config import Config
from shared.keys.base import KeyEncryptionKey
from shared.pseudonym import pseudonymise
from shared.store.base import Store

if TYPE_CHECKING:  # Tink and the Google clients load on first use, never at import (cold starts)
    from shared.crypto.sealer import Sealer
    from shared.google.factory import WorkspaceFactory

T = TypeVar("T")


class Lazy(Generic[T]):
    """Stands for the object ``build()`` returns, building it on the first attribute access.

    Why: a function instance builds :class:`Services` on its first request, and the sealer
    (Tink, the KMS client) or the Workspace factory (google-auth, googleapiclient) cost an
    entry point that never uses them hundreds of milliseconds of cold start. Built at most once,
    under a lock, so concurrent first requests share one instance.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        object.__setattr__(self, "_lazy_build", build)
        object.__setattr__(self, "_lazy_value", None)
        object.__setattr__(self, "_lazy_lock", threading.Lock())

    def lazy_target(self) -> T:
        """The built object (building it now if nobody has yet)."""
        value: T | None = object.__getattribute__(self, "_lazy_value")
        if value is None:
            with object.__getattribute__(self, "_lazy_lock"):
                value = object.__getattribute__(self, "_lazy_value")
                if value is None:
                    value = object.__getattribute__(self, "_lazy_build")()
                    object.__setattr__(self, "_lazy_value", value)
        return cast(T, value)

    def lazy_built(self) -> bool:
        """Whether the object has been built (tests and the cold-start bench)."""
        return object.__getattribute__(self, "_lazy_value") is not None

    def __getattr__(self, name: str) -> Any:  # Any: whatever the built object's attribute is
        return getattr(self.lazy_target(), name)

    def __setattr__(self, name: str, value: Any) -> None:  # Any: as on the built object
        setattr(self.lazy_target(), name, value)


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
    # Billed operations counted by the adapters this wiring built (shared.billing); the store
    # and bus may bring meters of their own, which billing() adds.
    meter: Meter = field(default_factory=Meter)

    def billing(self) -> Counter[str]:
        """What this process has done that Google bills: store, bus and key operations."""
        return total([getattr(self.store, "meter", None), getattr(self.bus, "meter", None),
                      self.meter])

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
    from shared.store.firestore import FirestoreStore

    # A shared simulated clock only where a local harness (CloudStack) asks for one.
    clock: Clock = FileClock(config.clock_file) if config.clock_file else SystemClock()
    meter = Meter()
    store = FirestoreStore(project=config.project, meter=meter)

    def sealer() -> Sealer:
        from shared.crypto.sealer import Sealer
        from shared.keys.kms import CloudKmsKek

        return _sealer(Sealer, store, CloudKmsKek(config.kms_key or "", meter=meter), clock,
                       config)

    def workspace() -> WorkspaceFactory:
        from shared.google.factory import WorkspaceFactory

        return WorkspaceFactory(
            api_endpoint=config.google_api_endpoint,
            token_uri=config.token_uri,
            signer_email=config.delegated_service_account,
        )

    return Services(
        config=config,
        clock=clock,
        store=store,
        bus=PubSubBus(config.project or "", meter=meter),
        sealer=cast("Sealer", Lazy(sealer)),
        workspace=cast("WorkspaceFactory", Lazy(workspace)),
        meter=meter,
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
    from shared.store.sqlite import SqliteStore

    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    meter = Meter()
    chosen: Store = store or SqliteStore(data_dir / "hybridcal.sqlite3", meter=meter)

    def sealer() -> Sealer:
        from shared.crypto.sealer import Sealer
        from shared.keys.local import LocalKeysetKek

        kek = LocalKeysetKek(data_dir / "LOCAL-DEV-ONLY-kek.keyset.json", meter=meter)
        return _sealer(Sealer, chosen, kek, clock, config)

    def workspace() -> WorkspaceFactory:
        from shared.google.factory import WorkspaceFactory

        return WorkspaceFactory(
            api_endpoint=config.google_api_endpoint,
            token_uri=config.token_uri,
            service_account_info=service_account_info,
            sleep=sleep,
        )

    return Services(
        config=config,
        clock=clock,
        store=chosen,
        bus=bus,
        sealer=cast("Sealer", Lazy(sealer)),
        workspace=cast("WorkspaceFactory", Lazy(workspace)),
        sleep=sleep,
        meter=meter,
    )


def _sealer(sealer_cls: type[Sealer], store: Store, kek: KeyEncryptionKey, clock: Clock,
            config: Config) -> Sealer:
    from datetime import timedelta

    return sealer_cls(
        store, kek, clock, rotation_period=timedelta(days=config.data_key_rotation_days)
    )
