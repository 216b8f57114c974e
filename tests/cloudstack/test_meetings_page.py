"""The meetings page and a room's board as deployed (meetings_api behind its Cloud Run front):
a user opens their agenda with a Google ID token, in their language and zone; a room device
opens its board from a URL with its token, which is traded for the page's cookie and dropped
from the address; the cookie then carries the board's refresh; the security headers reach the
browser through the front; errors are HTML pages."""

from __future__ import annotations

import pytest
import requests

from shared.meetings import page_session
from tests.cloudstack.scenarios import active, insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DORA, ROOM = "dora@example.com", "room-2@example.com"


def test_agenda_and_board_through_the_deployed_api(cloud) -> None:
    active(cloud, DORA, locale="de", timezone="Europe/Berlin")
    cloud.add_room(ROOM, "Room 2")
    assert cloud.activate_workspace(ROOM) == "active"
    insert(cloud, DORA, "Sprint review", "@webex", attendees=[{"email": ROOM}])
    cloud.settle()
    base = cloud.url("meetings_api")

    agenda = requests.get(f"{base}/users/{DORA}/page", timeout=60, headers={
        "Authorization": f"Bearer {cloud.api_token(f'user:{DORA}')}"})  # a Google ID token
    assert agenda.status_code == 200, agenda.text
    assert '<html lang="de">' in agenda.text and "Besprechungen" in agenda.text
    assert "Europe/Berlin" in agenda.text and "Sprint review" in agenda.text
    assert "frame-ancestors 'none'" in agenda.headers["Content-Security-Policy"]
    assert agenda.headers["X-Content-Type-Options"] == "nosniff"
    assert agenda.headers["X-Frame-Options"] == "DENY"
    assert agenda.headers["Referrer-Policy"] == "no-referrer"

    device = cloud.api_token(f"device:{ROOM}")  # from the api-tokens secret
    board = requests.Session()
    opened = board.get(f"{base}/users/{ROOM}/page", params={"access_token": device},
                       allow_redirects=False, timeout=60)
    assert opened.status_code == 303 and "access_token" not in opened.headers["Location"]
    assert page_session.COOKIE in board.cookies
    page = board.get(f"{base}/users/{ROOM}/page", timeout=60)
    assert page.status_code == 200 and "Sprint review" in page.text and device not in page.text
    part = board.get(f"{base}/users/{ROOM}/page", params={"part": "content"}, timeout=60)
    assert part.status_code == 200 and part.text.startswith('<div id="content"')
    # Without the page's header the cookie books nothing (and Google is never asked).
    assert board.post(f"{base}/users/{ROOM}/bookings", json={"minutes": 15},
                      timeout=60).status_code == 401

    refused = requests.get(f"{base}/users/{ROOM}/page", params={"access_token": "nope"},
                           headers={"Accept-Language": "ja"}, timeout=60)
    # (CloudStack's front adds its own text/plain before the container's type: a front bug,
    # reported; the container's own type is what Cloud Run passes on.)
    assert refused.status_code == 401 and "text/html" in refused.headers["Content-Type"]
    assert "このリンクでは会議を開けません" in refused.text
    assert cloud.iam_denials() == []
