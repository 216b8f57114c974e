"""The HTML meetings page in a real headless Chromium (Debian's, driven by Playwright):
Join buttons, live refresh when a meeting is added elsewhere, hostile titles shown as text."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANN = "ann@example.com"


def _meeting(stack, summary, location, hours):
    start = stack.now() + timedelta(hours=hours)
    stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make test "
                                             "installs it when run as root)")
def test_meetings_page_shows_join_buttons_and_updates_live(stack, tmp_path):
    from playwright.sync_api import sync_playwright

    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    _meeting(stack, "Standup", "@webex", 2)
    _meeting(stack, '<img src=x onerror="document.title=1">', "", 3)
    token = stack.api_token(f"user:{ANN}")
    url = f"{stack.url('meetings_api')}/users/{ANN}/page?access_token={token}&refresh=1"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.clock.install()  # the page's timers run on a clock this test moves
            page.goto(url)
            rows = page.locator("li.meeting")
            assert rows.count() == 2
            assert rows.nth(0).locator(".title").inner_text() == "Standup"
            join = rows.nth(0).locator("a.join")
            assert join.text_content() == "Join: Standup"  # "Join" and, for screen readers, what
            assert "webex.com" in join.get_attribute("href")
            assert page.locator("img").count() == 0 and page.title() == "Meetings"
            assert page.evaluate("document.title") == "Meetings"  # the onerror never ran
            assert rows.nth(1).locator("a.join").count() == 0  # no link, no button

            _meeting(stack, "Added from a phone", "https://example.zoom.us/j/987654321", 4)
            assert rows.count() == 2  # nothing redraws until the refresh interval passes
            assert page.locator("#app").get_attribute("data-updated") is None
            page.clock.run_for(1_000)  # one refresh interval (refresh=1): the script fetches
            # The page's own signal that a refresh finished: data-updated (or data-error).
            # The timeout only bounds a broken page; nothing here depends on how long it took.
            page.locator("#app[data-updated], #app[data-error]").wait_for(
                state="attached", timeout=10_000)
            assert page.locator("#app").get_attribute("data-error") is None
            assert rows.count() == 3
            assert page.locator("li.meeting .title").nth(2).inner_text() == "Added from a phone"
            assert page.locator("img").count() == 0  # still text after the script redraws
            shot = tmp_path / "meetings-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 1000
        finally:
            browser.close()


def test_page_refuses_callers_without_rights(stack):
    import requests

    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    _meeting(stack, "Secret board meeting", "@webex", 2)
    base = f"{stack.url('meetings_api')}/users/{ANN}/page"

    for token, status in ((None, 401), ("wrong", 401),
                          (stack.api_token("user:ben@example.com"), 403)):
        answer = requests.get(base, params={"access_token": token} if token else {}, timeout=30)
        assert answer.status_code == status
        assert "Secret board" not in answer.text
