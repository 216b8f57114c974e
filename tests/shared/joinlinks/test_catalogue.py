"""The catalogue table: breadth, exact slugs, every row recognising its own example."""

from __future__ import annotations

import pytest
import re2

from shared.joinlinks import SERVICES, JoinLink, find_join_link

REQUIRED_SLUGS = {"webex", "zoom", "zoom-gov", "microsoft-teams", "google-meet", "jitsi",
                  "gotomeeting", "gotowebinar", "bluejeans", "amazon-chime", "skype",
                  "skype-for-business", "whereby", "ringcentral", "zoho-meeting", "slack",
                  "discord", "lifesize", "vonage", "facetime", "around"}
KEBAB = re2.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


# MeetingBar's services (MeetingBar/Meetings/MeetingProvider.swift, 2026) and the row that
# covers each: the floor the catalogue must not fall below. Not listed: "Phone", "Zoom
# native", "Facetime Audio", "Any Link" and "Other" (no web link to recognise).
MEETINGBAR = {
    "Google Meet": "google-meet", "Proton Meet": "proton-meet", "Google Hangouts": "google-hangouts",
    "Zoom": "zoom", "Microsoft Teams": "microsoft-teams", "Cisco Webex": "webex",
    "Jitsi": "jitsi", "Amazon Chime": "amazon-chime", "Ring Central": "ringcentral",
    "GoToMeeting": "gotomeeting", "GoToWebinar": "gotowebinar", "BlueJeans": "bluejeans",
    "8x8": "jitsi", "Demio": "demio", "Join.me": "join-me", "ZoomGov": "zoom-gov",
    "Whereby": "whereby", "Uber Conference": "uberconference", "Blizz": "blizz",
    "Teamviewer Meeting": "teamviewer-meeting", "VSee": "vsee", "StarLeaf": "starleaf",
    "Google Duo": "google-duo", "Tencent VooV": "voov-meeting", "Facebook Workspace": "workplace",
    "Lifesize": "lifesize", "Skype": "skype", "Skype For Business": "skype-for-business",
    "Skype For Business (SH)": "skype-for-business", "Facetime": "facetime", "Pop": "pop",
    "Chorus": "chorus", "Gong": "gong", "Livestorm": "livestorm", "YouTube": "youtube-live",
    "Vonage Meetings": "vonage", "Google Meet Stream": "google-meet-stream", "Around": "around",
    "Jam": "jam", "Discord": "discord", "Blackboard Collaborate": "blackboard-collaborate",
    "CoScreen": "coscreen", "Vowel": "vowel", "Zhumu": "zhumu", "Lark": "lark",
    "Feishu": "feishu", "Vimeo": "vimeo", "oVice": "ovice", "Luma": "luma", "Preply": "preply",
    "UserZoom": "userzoom", "Venue": "venue", "Teemyco": "teemyco", "Demodesk": "demodesk",
    "Zoho Cliq": "zoho-cliq", "Slack": "slack", "Gather": "gather", "Reclaim.ai": "reclaim",
    "Tuple": "tuple", "Pumble": "pumble", "Suit Conference": "suit-conference",
    "Doxy.me": "doxy-me", "Cal Video": "cal-video", "zm.page": "zm-page",
    "LiveKit Meet": "livekit-meet", "Meetecho": "meetecho", "StreamYard": "streamyard",
    "Riverside": "riverside",
}


def test_every_meetingbar_service_has_a_row() -> None:
    assert set(MEETINGBAR.values()) <= {service.slug for service in SERVICES}


def test_catalogue_has_at_least_90_services_with_unique_kebab_slugs() -> None:
    slugs = [service.slug for service in SERVICES]
    assert len(slugs) >= 90
    assert len(set(slugs)) == len(slugs)
    assert all(KEBAB.fullmatch(slug) for slug in slugs)


def test_issue_slugs_are_exact() -> None:
    assert REQUIRED_SLUGS <= {service.slug for service in SERVICES}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.slug)
def test_every_service_recognises_its_example(service) -> None:
    assert find_join_link(location=service.example) == JoinLink(service.example, service.slug,
                                                                "location")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.slug)
def test_no_service_claims_its_bare_vendor_domain(service) -> None:
    for domain in service.domains:
        if not domain.endswith(".*"):
            assert find_join_link(description=f"https://{domain}/") is None
            assert find_join_link(description=f"see https://{domain} for details") is None


@pytest.mark.parametrize("url", [
    "https://preply.com/en/online/english-tutors", "https://tuple.app/pricing",
    "https://vk.com/id12345", "https://talky.io/about", "https://doxy.me/pricing",
    "https://www.zm.page/", "https://www.daily.co/pricing", "https://docs.daily.co/reference",
    "https://telemost.yandex.ru/", "https://lu.ma/discover", "https://reclaim.ai/pricing",
    "https://meet.proton.me/", "https://cliq.zoho.eu/index.do", "https://www.crowdcast.io/pricing",
    "https://signal.link/", "https://meetings.conf.meetecho.com/ietf118/",
    "https://meet.livekit.io/", "https://app.teemyco.com/login", "https://riverside.com/pricing",
    "https://www.ovice.com/features", "https://events.ringcentral.com/", "https://live.remo.co/",
])
def test_vendor_pages_that_are_not_meetings_are_not_join_links(url: str) -> None:
    assert find_join_link(description=f"see {url} for details") is None
