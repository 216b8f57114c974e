"""CloudStack scenarios: the deployed topology of infra/ on Google's emulators.

Each test gets its own :class:`local.cloudstack.CloudStack` (ten function processes, the
simulator, the fakes) over the worker's shared Firestore and Pub/Sub emulators, in a project of
its own. Without the emulators these tests skip, naming what is missing; with ``CI=true`` they
fail (the ``firestore_emulator``/``pubsub_emulator`` fixtures decide).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def cloud_factory(firestore_emulator, pubsub_emulator, tmp_path) -> Iterator[Any]:
    """``cloud_factory(**options)`` starts a CloudStack (closed after the test)."""
    from local.cloudstack import CloudStack

    stacks: list[Any] = []
    # CLOUDSTACK_INFRA=DIR runs the scenarios on another revision of infra/ (git archive it)
    infra = os.environ.get("CLOUDSTACK_INFRA")

    def start(**options: Any) -> Any:
        if infra:
            options.setdefault("infra", Path(infra))
        stack = CloudStack(data_dir=tmp_path / f"cloud-{len(stacks)}",
                           firestore=firestore_emulator, pubsub=pubsub_emulator, **options)
        stacks.append(stack)
        return stack.__enter__()

    yield start
    for stack in stacks:
        stack.close()


@pytest.fixture
def cloud(cloud_factory) -> Any:
    return cloud_factory()
