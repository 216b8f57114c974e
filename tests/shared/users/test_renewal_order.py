"""Renewal is make-before-break: the new channel exists before the old one is stopped, so no
change made during a renewal goes without a push.

The end state (one live channel) is the same in either order; only the order of the calls to
Google tells them apart, so it is read from the simulator's own state as the calls arrive.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.bus.base import Topics
from tests.shared.changes.simulator_watch import record

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"


def test_renewal_opens_the_new_channel_before_stopping_the_old(quiet_stack, monkeypatch):
    stack = quiet_stack
    stack.add_user(ALICE)
    assert stack.activate(ALICE) == "active"
    [old] = [c["id"] for c in stack.sim.channels() if c["calendar"] == ALICE]
    calls = record(monkeypatch, stack, "watch", "stop")

    stack.clock.advance(timedelta(days=6, hours=12).total_seconds())  # inside the horizon
    stack.tick(Topics.RENEW_TICK)

    watch, stop = [c for c in calls if c.operation == "watch"], [c for c in calls
                                                                  if c.operation == "stop"]
    assert len(watch) == 1 and len(stop) == 1
    new = watch[0].args[1]["id"]  # (calendar, body)
    assert stop[0].args[0]["id"] == old
    assert [c.operation for c in calls] == ["watch", "stop"]  # make, then break
    assert set(stop[0].live_channels) == {old, new}  # the new one served while the old stopped
    live = [c["id"] for c in stack.sim.channels() if c["calendar"] == ALICE and not c["stopped"]]
    assert live == [new]
