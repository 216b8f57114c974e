"""Watching the Workspace simulator from a test: which calls reached it, in which order, with
which answer.

The simulator keeps only per-method counters; these helpers wrap methods of its own state
(``stack.sim.calendar_state``) for the length of a test to record the order of operations and
the errors it answered with. Nothing is faked: every call still runs the simulator's code and
returns (or raises) exactly what it would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class Call:
    operation: str  # "patch" | "watch" | "stop" | ...
    caller: str
    args: tuple[Any, ...]  # the operation's arguments after the caller
    error: str = ""  # the simulator's error reason ("forbiddenForNonOrganizer"), "" if none
    live_channels: tuple[str, ...] = ()  # for "stop": the calendar's live channels just before


def record(monkeypatch: pytest.MonkeyPatch, stack: Any, *operations: str) -> list[Call]:
    """Record every call to ``operations`` of the simulator's calendar state, in order."""
    from local.workspace_sim.errors import ApiError

    state = stack.sim.calendar_state
    calls: list[Call] = []

    def wrap(name: str) -> None:
        original = getattr(state, name)

        def observed(*args: Any, **kwargs: Any) -> Any:
            # every operation but ``stop(body)`` takes the caller first
            caller, rest = ("", args) if name == "stop" else (str(args[0]), args[1:])
            live: tuple[str, ...] = ()
            if name == "stop":
                channel = state.channels.get(str((args[0] or {}).get("id", "")))
                calendar = channel.calendar if channel else ""
                now = stack.now()
                live = tuple(c.id for c in state.channels.values()
                             if c.calendar == calendar and not c.stopped and c.expiration > now)
            try:
                result = original(*args, **kwargs)
            except ApiError as exc:
                calls.append(Call(name, caller, rest, exc.reason, live))
                raise
            calls.append(Call(name, caller, rest, "", live))
            return result

        monkeypatch.setattr(state, name, observed)

    for operation in operations:
        wrap(operation)
    return calls
