"""Fixtures of the users tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def quiet_stack(tmp_path) -> Iterator[Any]:
    """The embedded stack without its built-in scheduler: a test drives ticks itself, so a
    week of renewals takes a few dozen ticks instead of ten thousand notification ticks."""
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data", scheduler=False) as running:
        yield running
