"""Room booking from the room's device as deployed: meetings_api books through the
scheduling account from infra's variables, with no IAM grant beyond what the plan gives."""

from __future__ import annotations

import pytest
import requests

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOM = "room-b1@example.com"
SCHEDULING = "hybridcal-booking@example.com"


def _book(cloud, token: str, minutes: int) -> requests.Response:
    return requests.post(f"{cloud.url('meetings_api')}/users/{ROOM}/bookings", timeout=60,
                         json={"minutes": minutes}, headers={"Authorization": f"Bearer {token}"})


def test_a_room_device_books_its_room_through_the_scheduling_account(cloud_factory) -> None:
    cloud = cloud_factory(schedules=(), variables={
        "scheduling_account": SCHEDULING, "device_booking_provider": "webex-personal-room"})
    cloud.sim.add_user(SCHEDULING)  # the tenant's delegated user (docs/deploy.md)
    cloud.add_room(ROOM, "Room B1")
    assert cloud.activate_workspace(ROOM) == "active"
    device = cloud.api_token(f"device:{ROOM}")

    booked = _book(cloud, device, 30)
    cloud.settle()
    again = _book(cloud, device, 30)

    assert booked.status_code == 201, booked.text
    assert booked.json()["join_url"] == "https://example.webex.com/meet/room-b1"
    assert [(m["id"], m["join_url"]) for m in cloud.meetings(ROOM)] == [
        (booked.json()["id"], "https://example.webex.com/meet/room-b1")]
    assert again.status_code == 409 and again.json()["busy_until"]
    assert cloud.environment("meetings-api")["HYBRIDCAL_SCHEDULING_ACCOUNT"] == SCHEDULING
    assert cloud.iam_denials() == []
