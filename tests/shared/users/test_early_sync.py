"""A channel's ``sync`` message may reach intake before ``events.watch`` has answered.

Google does not promise the order. Before the fix, intake took the fresh channel for an orphan
and the renewal worker stopped it: the user's pushes stopped arriving until the next renewal,
days later, and keyword events went unpatched meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.clock import to_rfc3339
from shared.store import names

pytestmark = pytest.mark.integration

ANN = "ann@example.com"


def _live_channels(stack: Any, email: str) -> list[dict[str, Any]]:
    return [c for c in stack.sim.channels()
            if c["calendar"] == email and not c["stopped"] and c["expiration"] > stack.now()]


def test_a_sync_that_overtakes_the_watch_answer_keeps_the_channel(stack) -> None:
    stack.faults.set(early_sync=1.0)
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.settle()
    assert stack.sim.faults.injected["early_sync"] == 1

    assert len(_live_channels(stack, ANN)) == 1, "the fresh channel was stopped as an orphan"
    assert stack.api_calls()["calendar.channels.stop"] == 0
    assert list(stack.services.store.query(names.ORPHAN_STOPS)) == []
    [(_key, channel)] = [(k, d) for k, d in stack.services.store.query(names.CHANNELS)]
    assert channel["state"] == "active"

    # and the channel works: a keyword typed now is patched through its push
    start = stack.now() + timedelta(days=1)
    event = stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "Design review", "location": "@webex",
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()
    seen = stack.calendar(ANN).events().get(calendarId="primary", eventId=event["id"]).execute()
    assert "webex.com" in seen["location"]


def test_an_orphan_stop_asked_before_the_channel_was_recorded_is_skipped(stack) -> None:
    """The worker re-checks: a stop queued for a then-unknown channel that is ours by now."""
    from shared.users.renewal import stop_orphan

    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.settle()
    [(channel_id, channel)] = list(stack.services.store.query(names.CHANNELS))
    answer = stop_orphan(stack.services, {"kind": "orphan", "channel_id": channel_id,
                                          "resource_id": channel["resource_id"]})
    assert answer == "known"
    assert len(_live_channels(stack, ANN)) == 1
