"""SIP / H.323 addresses for room devices."""

from __future__ import annotations

from shared.joinlinks import find_sip_uris, sip_uris_in_event


def test_sip_uris_keep_their_scheme_and_order() -> None:
    text = "Dial sip:25123456789@acme.webex.com or sips:room@video.example.org;transport=tls."
    assert find_sip_uris(text) == ["sip:25123456789@acme.webex.com",
                                   "sips:room@video.example.org;transport=tls"]


def test_bare_addresses_on_video_domains_are_found() -> None:
    text = ("Join from a video system: Dial 25123456789@acme.webex.com\n"
            "Join by SIP \u2022 81234567890@zoomcrc.com\nRoom system: 123456789@bjn.vc")
    assert find_sip_uris(text) == ["25123456789@acme.webex.com", "81234567890@zoomcrc.com",
                                   "123456789@bjn.vc"]


def test_h323_addresses_are_found() -> None:
    assert find_sip_uris("H.323: h323:10.1.2.3##4321 (legacy rooms)") == ["h323:10.1.2.3##4321"]


def test_e_mail_addresses_are_not_sip_addresses() -> None:
    text = ("Questions: ops@webex.com, anna@example.com, mailto:anna@acme.webex.com, "
            "x@acme.webex.com.evil.org")
    assert find_sip_uris(text) == []


def test_duplicates_collapse_and_html_is_read() -> None:
    text = ('<a href="sip:25123456789@acme.webex.com">25123456789@acme.webex.com</a> '
            "sip:25123456789@acme.webex.com")
    assert find_sip_uris(text) == ["sip:25123456789@acme.webex.com", "25123456789@acme.webex.com"]


def test_nothing_in_empty_or_missing_text() -> None:
    assert find_sip_uris(None) == []
    assert find_sip_uris("") == []
    assert find_sip_uris("@webex") == []


def test_event_sip_entry_points_come_first() -> None:
    event = {"conferenceData": {"entryPoints": [
        {"entryPointType": "video", "uri": "https://us02web.zoom.us/j/81234567890"},
        {"entryPointType": "sip", "uri": "sip:81234567890@zoomcrc.com"}]},
        "location": "anna.berg@acme.webex.com", "description": "sip:81234567890@zoomcrc.com"}
    assert sip_uris_in_event(event) == ["sip:81234567890@zoomcrc.com", "anna.berg@acme.webex.com"]
