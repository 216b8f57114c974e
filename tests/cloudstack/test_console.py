"""``make cloud-local``'s console is ``make run``'s, on the deployed topology: the same
commands answer from what the function processes did (join notifications opened with the KMS
key as an operator would, a room booked through meetings_api as its device), plus ``denials``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from local.cloudstack.__main__ import answer
from tests.cloudstack.scenarios import insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALICE, ROOM = "alice@example.com", "room-1@example.com"


def test_the_console_answers_from_the_deployed_functions(cloud) -> None:
    cloud.add_user(ALICE, locale="de", timezone="Europe/Berlin")
    assert cloud.activate(ALICE) == "active"
    cloud.add_room(ROOM, "Board room")
    assert cloud.activate_workspace(ROOM) == "active"
    insert(cloud, ALICE, "Standup", "@webex", start=cloud.now() + timedelta(minutes=8))
    cloud.use_jobs({"join-notifications"})
    cloud.advance(minutes=8)

    status = answer(cloud, "status")
    notifications = answer(cloud, "notifications alice")
    booked = answer(cloud, "book room-1 30")
    meetings = answer(cloud, "meetings room-1")

    assert f"- {ALICE}: active" in status and f"- {ROOM}: active" in status
    assert "'Standup'" in notifications and "webex.com" in notifications
    assert booked.startswith(f"booked {ROOM} from "), booked
    assert len(meetings.splitlines()) == 1 and "(no meetings)" not in meetings
    assert answer(cloud, "denials") == "(none)"
    assert answer(cloud, "frobnicate").startswith("error: there is no command")
