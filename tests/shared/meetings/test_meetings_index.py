"""Which join link the meetings index keeps for an event."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.keyword import joinblock
from shared.meetings.index import join_details

MEET = {"entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}}}
WEBEX = "https://example.webex.com/meet/anna"


def _block() -> str:
    return joinblock.render(joinblock.BlockContent(WEBEX, "Webex", "anna@example.webex.com"),
                            locale="en", timezone="UTC", created=datetime(2026, 11, 2, tzinfo=UTC))


def test_keyword_details_beat_googles_automatic_meet_link() -> None:
    event = {"conferenceData": MEET, "location": WEBEX, "description": _block(),
             "extendedProperties": {"private": {"hybridcal_hash": "x"}}}
    url, service, sip = join_details(event)
    assert (url, sip) == (WEBEX, "anna@example.webex.com")
    assert "webex" in service


def test_conference_data_used_without_keyword_details() -> None:
    url, service, _sip = join_details({"conferenceData": MEET, "location": "Room 4"})
    assert url == "https://meet.google.com/abc-defg-hij" and "meet" in service


def test_typed_video_address_is_the_join_path() -> None:
    url, _service, _sip = join_details({"location": WEBEX})
    assert url == WEBEX
