"""Push channels past their seven-day lifetime on the deployed topology: the hourly Scheduler
job, renew-watches fanning out to renew-watches-worker, pushes still flowing after a week."""

from __future__ import annotations

import pytest

from tests.cloudstack.scenarios import active, insert, live_channels

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALICE = "alice@example.com"


def test_channels_are_renewed_and_keywords_still_patched_after_eight_days(cloud) -> None:
    cloud.use_jobs({"renew-watches"})  # hourly; the others would add 12,000 idle ticks
    active(cloud, ALICE)
    [first] = live_channels(cloud, ALICE)

    cloud.advance(days=8)

    [live] = live_channels(cloud, ALICE)
    assert live["id"] != first["id"]
    stopped = {c["id"] for c in cloud.sim.channels() if c["stopped"]}
    assert first["id"] in stopped
    assert {m.publisher for m in cloud.messages("watch-renewals")} == {"renew-watches"}
    # the reconciliation syncs (every 6 h) went through calendar-changes too, from the tick
    assert any(m.publisher == "renew-watches" for m in cloud.messages("calendar-changes"))

    event = insert(cloud, ALICE, "Review", "@webex")
    cloud.settle()
    patched = cloud.calendar(ALICE).events().get(calendarId="primary",
                                                 eventId=event["id"]).execute()
    assert "webex.com" in patched["location"]
    assert cloud.iam_denials() == []
