"""The patch decision rules on events as Google returns them (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.keyword import joinblock
from shared.keyword.event_patch import KEY_HASH, block_hash, decide, remove_body, write_body
from shared.keyword.keywords import find_keyword
from shared.keyword.providers import JoinDetails

KEYWORDS = {"@webex": "webex-personal-room", "@meet": "webex-space"}
ROOM = JoinDetails("https://example.webex.com/meet/anna", "webex", "Webex",
                   "webex-personal-room", "anna@example.webex.com")
SPACE = JoinDetails("https://example.webex.com/example/j.php?MTID=m1", "webex", "Webex",
                    "webex-space", "251@example.webex.com", "251")


def _block(details: JoinDetails) -> str:
    return joinblock.render(joinblock.BlockContent(details.url, details.service_name,
                                                   details.sip_uri, details.meeting_number),
                            locale="en", timezone="UTC",
                            created=datetime(2026, 11, 2, tzinfo=UTC))


def _patched(location: str, details: JoinDetails = ROOM, description: str = "Agenda") -> dict:
    event = {"id": "e", "location": location, "description": description,
             "extendedProperties": {"private": {"other": "kept"}}}
    match = find_keyword(location, KEYWORDS)
    body = write_body(event, match, details, _block(details))
    private = {**event["extendedProperties"]["private"], **body["extendedProperties"]["private"]}
    return {**event, **body, "extendedProperties": {"private": private}}


def test_write_replaces_keyword_keeps_other_text_and_properties() -> None:
    event = _patched("Room 4, @webex; floor 2")
    assert event["location"] == f"Room 4, {ROOM.url}; floor 2"
    assert event["description"].startswith("Agenda\n\n" + joinblock.BEGIN)
    private = event["extendedProperties"]["private"]
    assert private["other"] == "kept" and private["hybridcal_keyword"] == "@webex"
    assert private[KEY_HASH] == block_hash(joinblock.find(event["description"]))
    assert set(write_body(event, find_keyword("@meet", KEYWORDS), SPACE, "b")) == {
        "location", "description", "extendedProperties"}  # only fields we change


def test_patched_event_and_unrelated_edits_need_nothing() -> None:
    event = _patched("Room 4, @webex")
    assert decide(event, KEYWORDS) is None
    assert decide({**event, "summary": "new title", "attendees": [{"email": "x"}],
                   "start": {"dateTime": "2026-11-09T10:00:00Z"}}, KEYWORDS) is None
    assert decide({**event, "location": event["location"] + ", Building B"}, KEYWORDS) is None


def test_switch_drops_the_url_we_wrote_before() -> None:
    event = _patched("Room 4, @webex")
    event["location"] += " @meet"
    decision = decide(event, KEYWORDS)
    assert decision and decision.action == "write"
    body = write_body(event, decision.match, SPACE, _block(SPACE))
    assert body["location"] == f"Room 4, {SPACE.url}"
    assert body["description"].count(joinblock.BEGIN) == 1 and ROOM.url not in body["description"]


def test_removal_when_link_and_keyword_are_gone() -> None:
    event = _patched("Room 4, @webex")
    event["location"] = "Room 4"
    decision = decide(event, KEYWORDS)
    assert decision and decision.action == "remove"
    body = remove_body(event)
    assert body["description"] == "Agenda"
    assert body["extendedProperties"]["private"] == {  # null deletes; "other" is untouched
        "hybridcal_keyword": None, "hybridcal_provider": None, KEY_HASH: None}


def test_user_who_deleted_the_block_is_left_alone() -> None:
    event = _patched("Room 4, @webex")
    event["description"] = "my own text"
    event["location"] = "Room 4"
    assert decide(event, KEYWORDS) is None


def test_plain_and_cancelled_events_need_nothing() -> None:
    assert decide({"location": "ops@webex.com"}, KEYWORDS) is None
    assert decide({"location": "https://acme.zoom.us/j/1"}, KEYWORDS) is None
    assert decide({"location": "@webex", "status": "cancelled"}, KEYWORDS) is None


def test_a_hostile_location_full_of_our_old_link_costs_a_bounded_number_of_removals() -> None:
    """The old link comes from a description the user can edit, so it may be as short as
    ``http://x`` and pasted thousands of times around the keyword: each removal rescans the
    Location, so only a few copies go (a real switch leaves one or two), and the rest of the
    text is kept instead of the patch taking quadratic time."""
    from shared.keyword.event_patch import MAX_OLD_LINK_COPIES

    short = JoinDetails("http://x", "webex", "Webex", "webex-personal-room", "a@x")
    copies = 2000
    location = "http://x " * copies + "@webex " + "http://x " * copies
    event = _patched(location, description=_block(short))
    left, _, right = event["location"].partition(ROOM.url)
    assert left.split().count("http://x") == copies - MAX_OLD_LINK_COPIES
    assert right.split().count("http://x") == copies - MAX_OLD_LINK_COPIES
