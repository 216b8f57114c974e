"""CloudStack scenarios: the deployed topology of infra/ on Google's emulators.

A stack (ten function processes, the simulator, the fakes) runs over the worker's shared
Firestore and Pub/Sub emulators, in a project of its own. ``cloud`` is a stack of the test
module's own, shared by its tests (starting one and warming its functions costs seconds of
CPU), made quiet again before each test: no Scheduler job fires unless the test asks
(``cloud.use_jobs``), faults are off, the grants are the plan's and no denial is recorded yet.
So tests of one module use different users. ``cloud_factory(**options)`` starts a stack of the
test's own, for options a shared one cannot change.

Without the emulators these tests skip, naming what is missing; with ``CI=true`` they fail
(the ``firestore_emulator``/``pubsub_emulator`` fixtures decide).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# CLOUDSTACK_INFRA=DIR runs the scenarios on another revision of infra/ (git archive it).
INFRA = os.environ.get("CLOUDSTACK_INFRA")


def _starter(firestore: Any, pubsub: Any, directory: Path) -> tuple[Callable[..., Any], list[Any]]:
    from local.cloudstack import CloudStack

    stacks: list[Any] = []

    def start(**options: Any) -> Any:
        if INFRA:
            options.setdefault("infra", Path(INFRA))
        stack = CloudStack(data_dir=directory / f"cloud-{len(stacks)}", firestore=firestore,
                           pubsub=pubsub, **options)
        stacks.append(stack)
        return stack.__enter__()

    return start, stacks


@pytest.fixture
def cloud_factory(firestore_emulator, pubsub_emulator, tmp_path) -> Iterator[Any]:
    """``cloud_factory(**options)`` starts a CloudStack of the test's own."""
    start, stacks = _starter(firestore_emulator, pubsub_emulator, tmp_path)
    yield start
    for stack in stacks:
        stack.close()


@pytest.fixture(scope="module")
def _module_cloud(firestore_emulator, pubsub_emulator, tmp_path_factory) -> Iterator[Any]:
    start, stacks = _starter(firestore_emulator, pubsub_emulator,
                             tmp_path_factory.mktemp("cloud"))
    stack = start(schedules=())
    bindings = list(stack.policy.bindings)
    yield stack, bindings
    for stack in stacks:
        stack.close()


@pytest.fixture
def cloud(_module_cloud) -> Any:
    stack, bindings = _module_cloud
    stack.settle()
    stack.use_jobs(())
    stack.faults.set()
    stack.policy.bindings = list(bindings)
    stack.policy.clear_denials()
    return stack
