"""The meetings list through meetings_api as deployed (public ingress, the handler checks
callers): a user with a Google ID token, a room device with a token from the api-tokens
secret; and a join notification from the per-minute Scheduler job."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from tests.cloudstack.scenarios import active, insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN, BEN = "ann@example.com", "ben@example.com"
DORA, JOE = "dora@example.com", "joe@example.com"
ROOM = "room-1@example.com"


def _get(cloud, path: str, token: str) -> requests.Response:
    return requests.get(cloud.url("meetings_api") + path, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def test_a_user_reads_their_meetings_with_an_id_token_and_no_one_elses(cloud) -> None:
    active(cloud, ANN, BEN)
    event = insert(cloud, ANN, "Design review", "@webex", attendees=[{"email": BEN}])
    cloud.settle()
    ann = cloud.api_token(f"user:{ANN}")  # a Google-signed ID token for the API's audience

    mine = _get(cloud, f"/users/{ANN}/meetings", ann)
    theirs = _get(cloud, f"/users/{BEN}/meetings", ann)

    assert mine.status_code == 200
    [meeting] = mine.json()["meetings"]
    assert meeting["id"] == event["id"] and meeting["title"] == "Design review"
    assert meeting["join_url"] == "https://example.webex.com/meet/ann"
    assert theirs.status_code == 403
    assert [m["id"] for m in cloud.meetings(BEN)] == [event["id"]]  # an admin sees both
    assert cloud.iam_denials() == []


def test_a_room_device_reads_its_workspace_with_a_token_from_the_secret(cloud) -> None:
    active(cloud, DORA)
    cloud.add_room(ROOM, "Room 1")
    assert cloud.activate_workspace(ROOM) == "active"
    insert(cloud, DORA, "Sprint review", "@webex", attendees=[{"email": ROOM}])
    cloud.settle()
    device = cloud.api_token(f"device:{ROOM}")  # new secret version, meetings-api redeployed

    listed = _get(cloud, f"/users/{ROOM}/meetings", device)
    other = _get(cloud, f"/users/{DORA}/meetings", device)

    assert listed.status_code == 200
    assert [m["title"] for m in listed.json()["meetings"]] == ["Sprint review"]
    assert "webex.com" in listed.json()["meetings"][0]["join_url"]
    assert other.status_code == 403
    assert cloud.iam_denials() == []


def test_a_meeting_with_a_join_link_is_notified_once_before_it_starts(cloud) -> None:
    active(cloud, JOE)
    start = cloud.now() + timedelta(minutes=12)
    event = insert(cloud, JOE, "Standup", "@webex", start=start)
    cloud.settle()
    ticks_before = len(cloud.messages("join-notifications-tick"))
    cloud.use_jobs({"join-notifications"})  # Cloud Scheduler, every minute

    cloud.advance(minutes=15)

    joe = cloud.services.pseudonym(JOE)
    sent = [m for m in cloud.messages("join-notifications") if m.json()["user_id"] == joe]
    assert [m.json()["event_id"] for m in sent] == [event["id"]]
    assert sent[0].publisher == "dispatch-joins"
    assert "Standup" not in sent[0].data.decode()  # sealed
    ticks = cloud.messages("join-notifications-tick")[ticks_before:]
    assert len(ticks) == 15 and {t.publisher for t in ticks} == {"cloud-scheduler"}
    assert cloud.iam_denials() == []
