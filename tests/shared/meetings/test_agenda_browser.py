"""The agenda page as people use it, in Debian's Chromium (Playwright), for an English, a
German and a Japanese user at phone (390x844) and desktop (1280x800) sizes:

grouping (Today, Tomorrow, weekday and date), the user's language and time zone (named on
the page), relative times that move with the clock without a reload, Join prominent only from
a few minutes before the start until the end, all-day events apart, declined meetings dimmed,
the empty state, refresh and the visible offline notice, HTML error pages in the reader's
language, and accessibility (axe-core: no serious violations; landmarks, keyboard focus,
44 px targets, no sideways scrolling at 320 px). Time is the browser's fake clock, moved by
the test; the page's own attributes (``data-updated``, ``data-error``) say when a refresh is
done. Screenshots are saved as artefacts (see ``browser.py``).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

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

BOB = "bob@example.com"
# What each user must read: the catalogue's words and Babel's dates, checked as text.
USERS = {
    "en": dict(email="ann@example.com", tz="UTC", browser="en-US", title="Meetings",
               today="Today", tomorrow="Tomorrow", thursday="Thu, November 5", join="Join",
               in12="in 12 min", in5="in 5 min", now="now", ended="ended",
               declined="Declined", all_day="All day", zone="UTC", first="8:12\u202fAM"),
    "de": dict(email="dora@example.com", tz="Europe/Berlin", browser="de-DE",
               title="Besprechungen", today="Heute", tomorrow="Morgen",
               thursday="Do., 5. November", join="Teilnehmen", in12="in 12 Min.",
               in5="in 5 Min.", now="jetzt", ended="beendet", declined="Abgelehnt",
               all_day="Ganztägig", zone="Mitteleuropäische Zeit (Europe/Berlin)",
               first="09:12"),
    "ja": dict(email="jun@example.com", tz="Asia/Tokyo", browser="ja-JP", title="会議",
               today="今日", tomorrow="明日", thursday="11月5日木曜日", join="参加",
               in12="12 分後", in5="5 分後", now="進行中", ended="終了", declined="辞退",
               all_day="終日", zone="日本時間 (Asia/Tokyo)", first="17:12"),
}


def _user_with_a_week(stack, code: str) -> tuple[dict, str]:
    """A user (``code``'s locale and zone) with a meeting in 12 minutes, one later today, one
    tomorrow, one on Thursday, an all-day event today and a meeting they declined."""
    user = USERS[code]
    email = user["email"]
    stack.add_user(email, locale=code, timezone=user["tz"])
    stack.add_user(BOB)
    assert stack.activate(email) == "active"
    event(stack, email, "Standup", minutes_from_now=12)
    event(stack, email, "Design review", minutes_from_now=180)
    event(stack, email, "Planning", minutes_from_now=26 * 60)
    event(stack, email, "Offsite prep", minutes_from_now=74 * 60)
    today = stack.now().astimezone(ZoneInfo(user["tz"])).date()
    stack.calendar(email).events().insert(calendarId="primary", body={
        "summary": "Company holiday", "start": {"date": today.isoformat()},
        "end": {"date": (today + timedelta(days=1)).isoformat()}}).execute()
    budget = event(stack, BOB, "Budget sync", minutes_from_now=240,
                   location="https://example.zoom.us/j/123456789", attendees=[{"email": email}])
    stack.settle()
    token = stack.api_token(f"user:{email}")
    answer = requests.post(f"{stack.url('meetings_api')}/users/{email}/meetings/{budget}:rsvp",
                           json={"response": "declined"}, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    stack.settle()
    return user, token


def _open(browser, stack, email: str, token: str, *, viewport, locale: str, refresh: int = 3600,
          bypass_csp: bool = False):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  locale=locale, bypass_csp=bypass_csp)
    context.set_default_timeout(10_000)  # bounds a broken page; nothing waits for time
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.clock.install(time=stack.now())  # the page's timers run on a clock this test moves
    answer = page.goto(f"{stack.url('meetings_api')}/users/{email}/page"
                       f"?access_token={token}&refresh={refresh}")
    assert answer is not None and answer.status == 200
    return context, page, refused


@pytest.mark.parametrize("code", ["en", "de", "ja"])
def test_agenda_in_the_users_language_zone_and_time(stack, code) -> None:
    from playwright.sync_api import sync_playwright

    user, token = _user_with_a_week(stack, code)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context, page, refused = _open(browser, stack, user["email"], token,
                                           viewport=DESKTOP, locale=user["browser"])
            # The long-lived token was traded for the page's cookie and left the address.
            assert "access_token" not in page.url and token not in page.content()
            assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
            assert page.locator("html").get_attribute("lang") == code
            assert page.locator("h1").inner_text() == user["title"]
            assert user["zone"] in page.locator(".zone").inner_text()

            days = page.locator("section.day h2")
            assert days.count() == 3
            assert days.nth(0).inner_text().startswith(user["today"])
            assert days.nth(1).inner_text().startswith(user["tomorrow"])
            assert user["thursday"] in [days.nth(i).inner_text() for i in range(days.count())]

            today = page.locator("section.day").nth(0)
            assert today.locator("ul.all-day").inner_text().count("Company holiday") == 1
            assert user["all_day"] in today.locator("ul.all-day").inner_text()
            assert "Company holiday" not in today.locator("ul.meetings").inner_text()

            standup = page.locator("li.meeting", has_text="Standup")
            join = standup.locator("a.join")
            assert user["first"] in standup.locator(".when").inner_text()
            assert standup.locator(".rel").inner_text() == user["in12"]
            assert join.inner_text().startswith(user["join"])
            assert "quiet" in join.get_attribute("class")  # 12 minutes out: a quiet link

            declined = page.locator("li.meeting", has_text="Budget sync")
            assert "declined" in declined.get_attribute("class")
            assert declined.locator(".badge").inner_text() == user["declined"]
            style = "e => [getComputedStyle(e).color, getComputedStyle(e).textDecorationLine]"
            dim, normal = (page.locator("li.meeting", has_text=title).locator(".title").evaluate(
                style) for title in ("Budget sync", "Design review"))
            assert dim[0] != normal[0] and dim[1] == "line-through" != normal[1]  # dimmed
            assert "quiet" in declined.locator("a.join").get_attribute("class")

            page.clock.run_for(7 * 60_000)  # no reload: the page's own tick moves the labels
            assert standup.locator(".rel").inner_text() == user["in5"]
            assert "primary" in join.get_attribute("class")  # Join is now the button
            assert "quiet" in page.locator("li.meeting", has_text="Design review").locator(
                "a.join").get_attribute("class")
            screenshot(page, f"agenda-{code}-{DESKTOP[0]}x{DESKTOP[1]}")
            page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
            screenshot(page, f"agenda-{code}-{PHONE[0]}x{PHONE[1]}")
            assert not overflows(page)

            page.clock.run_for(6 * 60_000)
            assert standup.locator(".rel").inner_text() == user["now"]
            assert "primary" in join.get_attribute("class")
            page.clock.run_for(30 * 60_000)
            assert standup.locator(".rel").inner_text() == user["ended"]
            assert "quiet" in join.get_attribute("class")
            assert refused == []  # the page's own script and style ran under its CSP
            context.close()
        finally:
            browser.close()


def test_agenda_is_accessible_at_every_width(stack) -> None:
    from playwright.sync_api import sync_playwright

    user, token = _user_with_a_week(stack, "de")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for viewport in (NARROW, PHONE, DESKTOP):
                context, page, _ = _open(browser, stack, user["email"], token,
                                         viewport=viewport, locale="de-DE", bypass_csp=True)
                page.clock.run_for(8 * 60_000)  # a prominent Join button, too
                assert serious_axe_violations(page) == [], viewport
                assert small_targets(page) == [], viewport
                assert not overflows(page), viewport
                assert page.get_by_role("banner").count() == 1
                assert page.get_by_role("main").count() == 1
                page.keyboard.press("Tab")  # the keyboard reaches the first Join, visibly
                focused = page.evaluate(
                    "() => [document.activeElement.className,"
                    " getComputedStyle(document.activeElement).outlineStyle]")
                assert focused[0].startswith("join") and focused[1] == "solid", focused
                context.close()
        finally:
            browser.close()


def test_empty_agenda_says_what_to_do(stack) -> None:
    from playwright.sync_api import sync_playwright

    stack.add_user("jun@example.com", locale="ja", timezone="Asia/Tokyo")
    assert stack.activate("jun@example.com") == "active"
    token = stack.api_token("user:jun@example.com")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            _, page, _ = _open(browser, stack, "jun@example.com", token, viewport=PHONE,
                               locale="ja-JP")
            empty = page.locator("section.empty")
            assert empty.locator("h2").inner_text() == "今後 7 日間の会議はありません"
            assert "@webex" in empty.inner_text()
            screenshot(page, "agenda-ja-empty-390x844")
        finally:
            browser.close()


def test_refresh_shows_new_meetings_and_says_when_it_is_offline(stack) -> None:
    from playwright.sync_api import sync_playwright

    stack.add_user("ann@example.com")
    assert stack.activate("ann@example.com") == "active"
    event(stack, "ann@example.com", "Standup", minutes_from_now=120)
    stack.settle()
    token = stack.api_token("user:ann@example.com")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            _, page, _ = _open(browser, stack, "ann@example.com", token, viewport=DESKTOP,
                               locale="en-US", refresh=30)
            app, offline = page.locator("#app"), page.locator("#offline")
            event(stack, "ann@example.com", "Added from a phone", minutes_from_now=180)
            stack.settle()
            assert page.locator("li.meeting").count() == 1  # nothing until the interval
            page.clock.run_for(30_000)
            page.locator("#app[data-updated], #app[data-error]").wait_for(state="attached")
            assert app.get_attribute("data-error") is None
            assert page.locator("li.meeting .title").all_inner_texts() == [
                "Standup", "Added from a phone"]
            assert offline.is_hidden()

            page.route("**/page?part=content", lambda route: route.abort())  # network gone
            page.clock.run_for(30_000)
            page.locator("#app[data-error]").wait_for(state="attached")
            assert offline.is_visible()
            assert offline.inner_text() == "Offline — last updated 8:00\u202fAM"
            assert page.locator("li.meeting").count() == 2  # the last list stays readable
            screenshot(page, "agenda-en-offline-1280x800")

            page.unroute("**/page?part=content")
            page.clock.run_for(30_000)
            page.locator("#app:not([data-error])").wait_for(state="attached")
            assert offline.is_hidden()

            config = stack.services.config  # the operator revokes the page's token
            stack.services.config = config.replace(api_tokens={
                k: v for k, v in config.api_tokens.items() if k != token})
            page.clock.run_for(30_000)
            page.locator('#app[data-error="signed out"]').wait_for(state="attached")
            assert offline.inner_text() == "Signed out: open this page again from its link"

            page.route("**/page?part=content", lambda route: None)  # answered never
            page.clock.run_for(30_000)  # the next refresh starts and hangs
            assert app.get_attribute("data-error") == "signed out"
            page.clock.run_for(15_000)  # its time is up: offline, not "still loading"
            page.locator('#app[data-error="refresh failed"]').wait_for(state="attached")
            assert offline.inner_text().startswith("Offline — last updated")
        finally:
            browser.close()


@pytest.mark.parametrize(("browser_locale", "status", "heading", "lang"), [
    ("de-DE", 401, "Dieser Link öffnet keine Besprechungen", "de"),
    ("ja-JP", 404, "このカレンダーは接続されていません", "ja"),
])
def test_errors_are_pages_in_the_readers_language(stack, browser_locale, status, heading,
                                                    lang) -> None:
    from playwright.sync_api import sync_playwright

    stack.add_user("kei@example.com", locale="ja", timezone="Asia/Tokyo")  # never activated
    token = "not-a-valid-token" if status == 401 else stack.api_token("user:kei@example.com")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(locale=browser_locale)
            answer = page.goto(f"{stack.url('meetings_api')}/users/kei@example.com/page"
                               f"?access_token={token}")
            assert answer is not None and answer.status == status
            assert answer.headers["content-type"].startswith("text/html")
            assert page.locator("html").get_attribute("lang") == lang
            assert page.locator("h1").inner_text() == heading
            assert page.get_by_role("main").inner_text().strip()  # says what to do next
            assert "{" not in page.locator("body").inner_text()  # no JSON
            screenshot(page, f"error-{status}-{lang}")
        finally:
            browser.close()
