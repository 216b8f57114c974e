"""Out-of-office presence as deployed: the Scheduler's vacation tick, poll-vacations shards the
active users, vacation-worker reads each responder (keyless delegation), meetings_api answers."""

from __future__ import annotations

import pytest

from tests.cloudstack.scenarios import active

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN, BEN = "ann@example.com", "ben@example.com"
INTERVAL = 600  # infra/'s default vacation_interval_seconds: the job runs */10 minutes


def test_the_vacation_responder_makes_a_user_out_of_office_and_back(cloud) -> None:
    cloud.use_jobs({"poll-vacations"})
    active(cloud, ANN, BEN)
    assert cloud.presence(ANN)["status"] == "available"

    cloud.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away",
        "responseBodyPlainText": "Back soon"}).execute()
    cloud.advance(seconds=INTERVAL)
    assert cloud.presence(ANN)["status"] == "out_of_office"
    assert cloud.presence(BEN)["status"] == "available"

    cloud.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": False}).execute()
    cloud.advance(seconds=INTERVAL)
    assert cloud.presence(ANN)["status"] == "available"

    ann = cloud.services.pseudonym(ANN)
    updates = [m for m in cloud.published("presence-updated") if m["user_id"] == ann]
    assert [m["status"] for m in updates] == ["out_of_office", "available"]
    assert {m.publisher for m in cloud.messages("presence-updated")} == {"vacation-worker"}
    assert {m.publisher for m in cloud.messages("vacation-shards")} == {"poll-vacations"}
    assert "Back soon" not in str(cloud.published("presence-updated"))
    assert cloud.iam_denials() == []
