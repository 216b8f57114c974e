"""A private meeting a room was invited to (#19 item 1).

Rooms were shared with the room reader as ``reader``; Google hides a private event's details
from a reader, so the room's devices had no join link for it. Rooms are now shared as
``writer`` and a device shows a private meeting's time and join link, not its title or people.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN, ROOM = "ann@example.com", "room-4@example.com"
SECRET = "Acquisition board QX-7731"  # a title the organizer marked private


def test_a_rooms_device_can_join_a_private_meeting_without_seeing_its_title(stack):
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.add_room(ROOM, "Room 4")
    assert stack.activate_workspace(ROOM) == "active"
    start = stack.now() + timedelta(hours=2)
    for title, visibility in ((SECRET, "private"), ("Sprint review", "default")):
        stack.calendar(ANN).events().insert(calendarId="primary", body={
            "summary": title, "location": "@webex", "visibility": visibility,
            "attendees": [{"email": ROOM}, {"email": "bob@example.com"}],
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
        start += timedelta(hours=1)
    stack.settle()

    device = stack.api_token(f"device:{ROOM}")
    listed = requests.get(stack.url("meetings_api") + f"/users/{ROOM}/meetings", timeout=30,
                          headers={"Authorization": f"Bearer {device}"}).json()["meetings"]

    private, public = listed
    assert "webex.com/meet/ann" in (private["join_url"] or "")
    assert SECRET not in str(private)
    assert "bob@example.com" not in str(private)
    assert public["title"] == "Sprint review" and "webex.com" in public["join_url"]
    # the organizer still sees their own meeting in full
    assert SECRET in [m["title"] for m in stack.meetings(ANN)]
