"""The meetings page's credential and headers (#19, the meetings-page item), over HTTP:

the long-lived token in a URL is traded once for a short-lived HttpOnly cookie scoped to one
calendar and the address is cleaned by a redirect; the token never reaches the HTML; the
cookie opens nothing but that calendar's page (and a room's booking buttons, only with the
page's header); it ends when it expires or when its API token is removed; every answer has
CSP, nosniff, frame and referrer protection.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.meetings import page_session
from tests.shared.meetings.browser import event

pytestmark = pytest.mark.integration

ANN, BEN, ROOM = "ann@example.com", "ben@example.com", "room-1@example.com"


@pytest.fixture
def people(stack):
    for email in (ANN, BEN):
        stack.add_user(email)
        assert stack.activate(email) == "active"
    stack.add_room(ROOM, "Room 1")
    assert stack.activate_workspace(ROOM) == "active"
    event(stack, ANN, "Quarterly numbers", minutes_from_now=60)
    stack.settle()
    return stack


def _page(stack, email: str) -> str:
    return f"{stack.url('meetings_api')}/users/{email}/page"


def _opened(stack, principal: str, email: str) -> tuple[requests.Session, str, requests.Response]:
    """A browser-like session that opened ``email``'s page with a token in the URL."""
    token = stack.api_token(principal)
    browser = requests.Session()
    first = browser.get(_page(stack, email), params={"access_token": token, "refresh": "60"},
                        allow_redirects=False, timeout=30)
    return browser, token, first


def test_a_token_in_the_url_becomes_a_cookie_and_leaves_the_address(people) -> None:
    browser, token, first = _opened(people, f"user:{ANN}", ANN)

    assert first.status_code == 303 and first.headers["Location"] == "page?refresh=60"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=" not in cookie
    assert token not in cookie and token not in first.text
    page = browser.get(_page(people, ANN), params={"refresh": "60"}, timeout=30)
    assert page.status_code == 200 and "Quarterly numbers" in page.text
    assert token not in page.text  # nothing in the page can give the token away
    headers = page.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp and "script-src 'nonce-" in csp
    nonce = csp.split("script-src 'nonce-")[1].split("'")[0]
    assert page.text.count(f'nonce="{nonce}"') == 2  # our one style and one script
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_the_cookie_opens_only_its_own_calendars_page(people) -> None:
    browser, _, first = _opened(people, f"user:{ANN}", ANN)
    value = first.cookies[page_session.COOKIE]
    cookie = {"Cookie": f"{page_session.COOKIE}={value}"}
    api = people.url("meetings_api")

    # Another calendar's page, even with the cookie sent on purpose: no credentials.
    assert requests.get(_page(people, BEN), headers=cookie, timeout=30).status_code == 401
    # The JSON API takes no page cookie: it is not a general credential.
    assert requests.get(f"{api}/users/{ANN}/meetings", headers=cookie,
                        timeout=30).status_code == 401
    # A forged or altered cookie is no cookie.
    forged = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    assert requests.get(_page(people, ANN), timeout=30, headers={
        "Cookie": f"{page_session.COOKIE}={forged}"}).status_code == 401
    assert browser.get(_page(people, ANN), timeout=30).status_code == 200


def test_the_session_ends_with_its_token_or_its_time(people) -> None:
    browser, token, _ = _opened(people, f"user:{ANN}", ANN)
    assert browser.get(_page(people, ANN), timeout=30).status_code == 200

    people.clock.advance(page_session.TTL_SECONDS + 60)  # unused for longer than its life
    assert browser.get(_page(people, ANN), timeout=30).status_code == 401

    browser, token, _ = _opened(people, f"user:{ANN}", ANN)
    config = people.services.config  # the operator removes the token from the secret
    people.services.config = config.replace(api_tokens={
        k: v for k, v in config.api_tokens.items() if k != token})
    assert browser.get(_page(people, ANN), timeout=30).status_code == 401


def test_a_refresh_renews_a_device_session(people) -> None:
    browser, _, _ = _opened(people, f"device:{ROOM}", ROOM)
    assert f"Max-Age={page_session.DEVICE_TTL_SECONDS}" in browser.get(
        _page(people, ROOM), timeout=30).headers["Set-Cookie"]
    for _ in range(3):  # a board that refreshes keeps working past one lifetime
        people.clock.advance(page_session.DEVICE_TTL_SECONDS - 3600)
        answer = browser.get(_page(people, ROOM), params={"part": "content"}, timeout=30)
        assert answer.status_code == 200 and 'id="content"' in answer.text


def test_booking_with_the_cookie_needs_the_pages_header_and_a_device(people) -> None:
    api = people.url("meetings_api")
    device, _, _ = _opened(people, f"device:{ROOM}", ROOM)
    book = f"{api}/users/{ROOM}/bookings"

    # A cross-site form can send the cookie (were SameSite ignored) but not this header.
    assert device.post(book, json={"minutes": 15}, timeout=30).status_code == 401
    # An admin reading the room's page gets a session that books; a user's never does.
    user, _, _ = _opened(people, f"user:{ANN}", ANN)
    other = user.cookies[page_session.COOKIE]
    assert requests.post(book, json={"minutes": 15}, timeout=30, headers={
        "Cookie": f"{page_session.COOKIE}={other}", "X-Hybridcal-Page": "1"}).status_code == 401
    answer = device.post(book, json={"minutes": 15}, headers={"X-Hybridcal-Page": "1"},
                         timeout=30)
    assert answer.status_code == 201, answer.text
    assert answer.json()["end"]


def test_errors_are_html_in_the_browsers_language(people) -> None:
    answer = requests.get(_page(people, ANN), params={"access_token": "nope"}, timeout=30,
                          headers={"Accept-Language": "fr-CH, de;q=0.8"})
    assert answer.status_code == 401 and answer.headers["Content-Type"].startswith("text/html")
    assert '<html lang="fr">' in answer.text and "Ce lien n&#x27;ouvre aucune réunion" in \
        answer.text
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    refused = requests.get(_page(people, BEN), timeout=30, headers={
        "Authorization": f"Bearer {people.api_token(f'user:{ANN}')}",
        "Accept-Language": "pt-BR"})
    assert refused.status_code == 403 and "Você não pode ver estas reuniões" in refused.text
    assert "Quarterly" not in refused.text


def test_meetings_page_fragment_is_the_refreshed_part(people) -> None:
    browser, _, _ = _opened(people, f"user:{ANN}", ANN)
    people.clock.advance(timedelta(minutes=50).total_seconds())
    part = browser.get(_page(people, ANN), params={"part": "content"}, timeout=30)
    assert part.status_code == 200 and part.text.startswith('<div id="content"')
    assert "in 10 min" in part.text and "<html" not in part.text


def test_a_trailing_slash_is_sent_to_the_pages_one_address(people) -> None:
    token = people.api_token(f"user:{ANN}")
    browser = requests.Session()
    answer = browser.get(_page(people, ANN) + "/", params={"access_token": token}, timeout=30)
    assert answer.status_code == 200 and answer.url == _page(people, ANN)  # 308, then 303
    assert [r.status_code for r in answer.history] == [308, 303]
    part = browser.get(_page(people, ANN), params={"part": "content"}, timeout=30)
    assert part.status_code == 200  # the cookie was scoped to where the page lives
