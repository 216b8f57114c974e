"""Fixtures shared by the whole suite.

``stack`` is the embedded stack (simulator + every entry point + local adapters) on a fake
clock; it is the way integration tests act as users (``stack.calendar(email)``) and observe the
product (``stack.published``, ``stack.api_calls``).
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


@pytest.fixture
def stack(tmp_path) -> Iterator:
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data") as running:
        yield running
