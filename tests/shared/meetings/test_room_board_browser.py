"""A room device's screen (#21 item 2) in Debian's Chromium: ``GET /users/{room}/page`` with
the room's device credential shows "now / next" in large type (the current meeting with time
left and Join, the next ones, or "free until…") and the booking controls, whose buttons
book, extend and end through ``/users/{room}/bookings…`` and redraw the board.

Time is the browser's fake clock and the stack's; a board's refresh and a booking's answer
are awaited by the page's own signals (``data-updated``, ``data-booking``).
"""

from __future__ import annotations

import pytest

from tests.shared.meetings.browser import (
    DESKTOP,
    NARROW,
    PHONE,
    event,
    launch,
    needs_chromium,
    overflows,
    screenshot,
    serious_axe_violations,
    small_targets,
)

pytestmark = [pytest.mark.integration, needs_chromium]

ANN = "ann@example.com"
BUSY_ROOM, FREE_ROOM = "room-1@example.com", "room-2@example.com"
REFRESH = 300  # longer than any run_for below but the one that waits for a refresh


@pytest.fixture
def rooms(stack):
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    for room, name in ((BUSY_ROOM, "Room 1"), (FREE_ROOM, "Room 2")):
        stack.add_room(room, name)
        assert stack.activate_workspace(room) == "active"
    # Room 1: a review that began 10 minutes ago, a sync in an hour and a half.
    event(stack, ANN, "Sprint review", minutes_from_now=-10, attendees=[{"email": BUSY_ROOM}])
    event(stack, ANN, "Team sync", minutes_from_now=90, attendees=[{"email": BUSY_ROOM}])
    # Room 2: free until a design crit at 8:45 (UTC; the stack starts at 8:00).
    event(stack, ANN, "Design crit", minutes_from_now=45, attendees=[{"email": FREE_ROOM}])
    stack.settle()
    return stack


def _board(browser, stack, room: str, viewport, *, bypass_csp: bool = False):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  locale="en-US", bypass_csp=bypass_csp)
    context.set_default_timeout(10_000)  # bounds a broken page; nothing waits for time
    page = context.new_page()
    page.clock.install(time=stack.now())
    token = stack.api_token(f"device:{room}")
    answer = page.goto(f"{stack.url('meetings_api')}/users/{room}/page"
                       f"?access_token={token}&refresh={REFRESH}")
    assert answer is not None and answer.status == 200
    return context, page


def _refreshed(page) -> None:
    """Let one refresh interval pass on the page's clock and wait for its redraw."""
    before = page.locator("#app").get_attribute("data-updated") or ""
    page.clock.run_for(REFRESH * 1000)
    page.locator(f'#app[data-updated]:not([data-updated="{before}"])').wait_for(
        state="attached")


def _press(page, stack, button: str, path_end: str, body: dict) -> str:
    """Press a booking button; check what it sent; the stack then syncs the room and the
    board redraws. Returns the status line the board showed."""
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(path_end)) as sent:
        page.locator(button).click()
    request = sent.value
    assert request.post_data_json == body
    headers = request.all_headers()
    assert headers["x-hybridcal-page"] == "1" and "hc_page=" in headers.get("cookie", "")
    assert "authorization" not in headers  # the page holds no token to send
    page.locator('#app[data-booking]:not([data-booking="pending"])').wait_for(state="attached")
    # Chromium's Intl writes "9:15 AM" with a plain or a narrow no-break space (ICU version).
    said = page.locator("#booking-status").inner_text().replace("\u202f", " ")
    stack.settle()  # Google tells the room's watch; the room's meetings are synced
    _refreshed(page)
    return said


def test_busy_room_shows_now_and_next_in_large_type(rooms) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context, page = _board(browser, rooms, BUSY_ROOM, DESKTOP)
            now = page.locator("section.now")
            assert now.locator(".state").inner_text() == "Busy"
            assert now.locator(".big-title").inner_text() == "Sprint review"
            assert now.locator(".left").inner_text() == "20 min left"
            join = now.locator("a.join")
            assert "primary" in join.get_attribute("class") and "big" in join.get_attribute(
                "class")
            size = float(now.locator(".state").evaluate(
                "e => parseFloat(getComputedStyle(e).fontSize)"))
            assert size >= 32  # read from across the room
            upcoming = page.locator("section.next li.meeting")
            assert upcoming.count() == 1
            assert upcoming.locator(".title").inner_text() == "Team sync"
            assert upcoming.locator(".rel").inner_text() == "in 1 h"
            assert page.locator("#extend").is_visible() and page.locator("#release").is_visible()
            assert page.locator("button[data-action=book]").count() == 0

            page.clock.run_for(60_000)  # the time left moves without a reload
            assert now.locator(".left").inner_text() == "19 min left"
            screenshot(page, f"board-busy-{DESKTOP[0]}x{DESKTOP[1]}")
            page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
            screenshot(page, f"board-busy-{PHONE[0]}x{PHONE[1]}")
            context.close()

            for viewport in (NARROW, PHONE, DESKTOP):
                context, page = _board(browser, rooms, BUSY_ROOM, viewport, bypass_csp=True)
                assert serious_axe_violations(page) == [], viewport
                assert small_targets(page) == [] and not overflows(page), viewport
                context.close()
        finally:
            browser.close()


def test_booking_from_the_board(rooms) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context, page = _board(browser, rooms, FREE_ROOM, DESKTOP)
            state = page.locator("section.now .state")
            assert state.inner_text() == "Free until 8:45\u202fAM"
            assert [b.inner_text() for b in page.locator("button[data-action=book]").all()] \
                == ["15 min", "30 min", "60 min"]
            group = page.get_by_role("group", name="Book this room now for")
            assert group.get_by_role("button", name="30 min").count() == 1  # labelled buttons
            screenshot(page, f"board-free-{DESKTOP[0]}x{DESKTOP[1]}")

            # An hour would run into the crit: refused, and the board says until when.
            said = _press(page, rooms, "#book-60", "/bookings", {"minutes": 60})
            assert page.locator("#app").get_attribute("data-booking") == "409"
            assert said == "The room is busy until 9:15 AM"
            assert state.inner_text() == "Free until 8:45\u202fAM"

            said = _press(page, rooms, "#book-15", "/bookings", {"minutes": 15})
            assert page.locator("#app").get_attribute("data-booking") == "201"
            assert said == "Booked until 8:15 AM"
            assert state.inner_text() == "Busy"
            assert page.locator("section.now .left").inner_text() == "15 min left"
            screenshot(page, f"board-booked-{DESKTOP[0]}x{DESKTOP[1]}")

            said = _press(page, rooms, "#extend", ":extend", {"minutes": 15})
            assert said == "Booked until 8:30 AM"
            assert page.locator("section.now .left").inner_text() == "30 min left"
            said = _press(page, rooms, "#extend", ":extend", {"minutes": 15})
            assert said == "Booked until 8:45 AM"  # up to the crit's start exactly
            said = _press(page, rooms, "#extend", ":extend", {"minutes": 15})
            assert page.locator("#app").get_attribute("data-booking") == "409"
            assert said == "Not possible: it would run into the next meeting"

            said = _press(page, rooms, "#release", ":release", {})
            assert page.locator("#app").get_attribute("data-booking") == "200"
            assert said == "The room is free again"
            assert state.inner_text() == "Free until 8:45\u202fAM"
            context.close()
        finally:
            browser.close()


def test_a_user_sees_a_rooms_board_without_booking_controls(rooms) -> None:
    """An admin reading a room's board (a user may not read it at all) sees the board; the
    buttons are for the device and admins."""
    import requests

    base = f"{rooms.url('meetings_api')}/users/{BUSY_ROOM}/page"
    admin = requests.get(base, timeout=30, headers={
        "Authorization": f"Bearer {rooms.api_token('admin')}"})
    assert admin.status_code == 200 and 'id="extend"' in admin.text
    user = requests.get(base, timeout=30, headers={
        "Authorization": f"Bearer {rooms.api_token(f'user:{ANN}')}"})
    assert user.status_code == 403 and "Sprint review" not in user.text
