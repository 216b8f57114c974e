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
    from shared.runtime import from_environment

    return from_environment()


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
