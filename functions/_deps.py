"""Lazily built, process-wide services (see python-docs-samples ``tips-lazy-globals``).

Nothing is built at import, so ``import main`` stays cheap for every function; the first request
builds the services for this instance and later requests reuse them. The embedded runner and
tests install their own with :func:`install`.
"""

from __future__ import annotations

import functools
import threading

from shared.runtime import Services

_installed: Services | None = None
_lock = threading.Lock()


@functools.cache
def _from_environment() -> Services:
    from shared import config, logs

    settings = config.load()  # raises ConfigError naming the variable: fail the cold start loudly
    logs.configure(settings.log_level)
    if settings.mode == "cloud":
        from shared.runtime import build_cloud

        return build_cloud(settings)
    raise config.ConfigError(
        "HYBRIDCAL_MODE=embedded has no standalone functions: run `make run` (local.LocalStack "
        "wires the embedded services), or set HYBRIDCAL_MODE=cloud when deployed."
    )


def deps() -> Services:
    """The services for this process."""
    if _installed is not None:
        return _installed
    return _from_environment()


def install(services: Services | None) -> None:
    """Use these services (embedded runner, tests); ``None`` restores environment wiring."""
    global _installed
    with _lock:
        _installed = services
        _from_environment.cache_clear()
