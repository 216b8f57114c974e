"""Self-hosted services' links count only on the organisation's own domains (issue #19).

``meet.*``, ``join.*`` and ``lync.*`` hosts are how Skype for Business Server and its kin are
reached, and anyone can name a host that way: ``https://meet.attacker-phish.example/corp/
ABCDEF12`` in an invitation was a Join button and a room device's join notification. Now such
a URL is a meeting link only under ``HYBRIDCAL_ORG_DOMAINS``; vendors' own hosts are unaffected.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.clock import to_rfc3339
from shared.joinlinks import SERVICES, JoinLink, explain, find_join_link

ORG = ("example.com",)
PHISH = "https://meet.attacker-phish.example/corp/ABCDEF12"
OWN = "https://meet.example.com/corp/ABCDEF12"


@pytest.mark.parametrize("url", [
    PHISH,
    "https://join.attacker-phish.example/alice/4BMQ7QKL",
    "https://lync.attacker-phish.example/alice/4BMQ7QKL",
    "https://meet.notexample.com/corp/ABCDEF12",  # ends like the org's domain, is not under it
    "https://meet.example.com.attacker.example/corp/ABCDEF12",
])
def test_a_self_hosted_looking_link_elsewhere_is_no_join_link(url: str) -> None:
    assert find_join_link(location=url, org_domains=ORG) is None
    assert find_join_link(description=f"Join here: {url}", org_domains=ORG) is None
    notes = " ".join(explain(location=url, org_domains=ORG).notes)
    assert "not in the organisation's domains" in notes and "no Join button" in notes


@pytest.mark.parametrize("url", [
    OWN, "https://join.emea.example.com/alice/4BMQ7QKL", "https://lync.example.com/a/b/X7Y8Z9Q1"])
def test_on_the_organisations_domains_it_is_a_join_link(url: str) -> None:
    assert find_join_link(location=url, org_domains=ORG) == JoinLink(
        url, "skype-for-business", "location")
    assert find_join_link(location=url) is None  # no organisation domains configured: none


def test_a_phishing_link_does_not_outrank_the_real_one_after_it() -> None:
    zoom = "https://us02web.zoom.us/j/81234567890"
    link = find_join_link(description=f"{PHISH}\n{zoom}", org_domains=ORG)
    assert link == JoinLink(zoom, "zoom", "description")


@pytest.mark.parametrize("service", [s for s in SERVICES if not all(
    d.endswith(".*") for d in s.domains)], ids=lambda s: s.slug)
def test_vendors_own_links_need_no_organisation_domain(service: Any) -> None:
    assert find_join_link(location=service.example) == JoinLink(
        service.example, service.slug, "location")


@pytest.mark.integration
def test_users_and_room_devices_see_no_join_button_for_a_phishing_link(stack: Any) -> None:
    """What a user notices: the meetings list (app, page, room device) offers Join only for the
    organisation's own self-hosted service, and no join notification goes out for the other."""
    ann, room = "ann@example.com", "room-1@example.com"
    stack.add_user(ann)
    assert stack.activate(ann) == "active"
    stack.sim.add_room(room)
    assert stack.activate_workspace(room) == "active"
    start = stack.now() + timedelta(minutes=20)
    for title, location in (("Phish", PHISH), ("Own", OWN)):
        stack.calendar(ann).events().insert(calendarId="primary", sendUpdates="all", body={
            "summary": title, "location": location, "attendees": [{"email": room}],
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()

    for email in (ann, room):
        seen = {m["title"]: (m["join_url"], m["service"]) for m in stack.meetings(email)}
        assert seen == {"Phish": (None, None), "Own": (OWN, "skype-for-business")}, email

    from shared.bus.base import Topics

    stack.advance(seconds=16 * 60)  # within the lead time: the notification tick sees both
    stack.tick(Topics.NOTIFY_TICK)
    stack.settle()
    sent = stack.join_notifications()
    assert sent and all(n["title"] == "Own" and n["join_url"] == OWN for n in sent), sent
