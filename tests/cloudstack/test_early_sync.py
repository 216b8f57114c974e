"""A channel's ``sync`` message may reach intake_push before ``events.watch`` has answered
(issue 18, defect 6): on the deployed topology the fresh channel must survive, and keyword
events typed afterwards must still be patched through its pushes."""

from __future__ import annotations

import pytest

from shared.store import names
from tests.cloudstack.scenarios import insert, live_channels

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN = "ann@example.com"


def test_a_sync_that_overtakes_the_watch_answer_keeps_the_channel(cloud) -> None:
    cloud.faults.set(early_sync=1.0)
    cloud.add_user(ANN)
    assert cloud.activate(ANN) == "active"
    cloud.settle()
    assert cloud.sim.faults.injected["early_sync"] == 1

    assert len(live_channels(cloud, ANN)) == 1, "the fresh channel was stopped as an orphan"
    assert cloud.api_calls()["calendar.channels.stop"] == 0
    [(_key, channel)] = list(cloud.store.iter_all(names.CHANNELS))
    assert channel["state"] == "active"

    event = insert(cloud, ANN, "Design review", "@webex")
    cloud.settle()
    seen = cloud.calendar(ANN).events().get(calendarId="primary", eventId=event["id"]).execute()
    assert "webex.com" in seen["location"]
    assert cloud.iam_denials() == []
