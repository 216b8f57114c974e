"""What users type in Location and what the matcher makes of it, found by mutation testing (#22).

The rules are in ``shared/keyword/keywords.py``'s docstring; these cases pin the ones the
broader tests in test_keywords.py left open: every modifier, the keyword a deployment configures
on top of another, the leftmost keyword among several ``@``s, and how removing a link from
Location tidies only the separators next to it. Pure functions, fast enough for the module's
mutation run (mutation/config.toml).
"""

from __future__ import annotations

import pytest

from shared.keyword.keywords import find_keyword, remove_span

KEYWORDS = {"@webex": "webex-personal-room", "@meet": "webex-space"}


@pytest.mark.parametrize(("typed", "provider"), [
    ("@webex:myroom", "webex-personal-room"),
    ("@meet:room", "webex-personal-room"),
    ("@webex:space", "webex-space"),
    ("@webex:gmeet", "google-meet"),
    ("@webex:jitsi", "jitsi"),
])
def test_every_modifier_picks_its_provider(typed: str, provider: str) -> None:
    match = find_keyword(f"Room 4, {typed}", KEYWORDS)
    assert match is not None
    assert (match.token, match.provider) == (typed, provider)


def test_a_keyword_with_a_modifier_after_other_text_is_found_where_it_was_typed() -> None:
    text = "Room 4, @meet:myroom; floor 2"
    match = find_keyword(text, KEYWORDS)
    assert match is not None
    assert (match.start, match.end) == (8, 20)
    assert text[:match.start] + "URL" + text[match.end:] == "Room 4, URL; floor 2"


def test_a_one_letter_modifier_is_still_a_keyword() -> None:
    match = find_keyword("@webex:x", KEYWORDS)
    assert match is not None
    assert (match.token, match.provider) == ("@webex:x", "webex-personal-room")


@pytest.mark.parametrize("text", ["@webexX", "@webexX, Room 4", "@meetZ"])
def test_a_keyword_followed_by_a_capital_letter_is_a_longer_word(text: str) -> None:
    assert find_keyword(text, KEYWORDS) is None


@pytest.mark.parametrize("text", ["@webex;Room 4", "@webex,Room 4", "@webex\tRoom 4"])
def test_a_keyword_ends_at_a_separator(text: str) -> None:
    match = find_keyword(text, KEYWORDS)
    assert match is not None and match.token == "@webex" and match.end == 6


def test_a_configured_keyword_that_extends_another_wins_over_a_modifier() -> None:
    """A deployment may configure ``@meet:lab`` next to ``@meet``: typing it asks for the lab's
    provider, not for ``@meet`` with an unknown modifier (which would be the default)."""
    keywords = {**KEYWORDS, "@meet:lab": "url:https://lab.example/{name}"}
    match = find_keyword("Lab, @meet:lab", keywords)
    assert match is not None
    assert (match.keyword, match.provider) == ("@meet:lab", "url:https://lab.example/{name}")
    assert match.token == "@meet:lab" and match.modifier is None


def test_the_leftmost_keyword_after_an_address_wins() -> None:
    match = find_keyword("mail ops@example.com, then @webex or @meet", KEYWORDS)
    assert match is not None and match.token == "@webex"


def test_no_location_and_no_keywords_find_nothing() -> None:
    assert find_keyword(None, KEYWORDS) is None
    assert find_keyword("@webex", {}) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Room 4 https://x B3", "Room 4 B3"),
    ("Room 4, https://x B3", "Room 4, B3"),
    ("Room 4 https://x, B3", "Room 4, B3"),
    ("Room 4 https://x; B3", "Room 4; B3"),
    ("Room 4, https://x, B3", "Room 4, B3"),
    ("Room 4; https://x", "Room 4"),
    ("Room 4 , https://x", "Room 4"),
    ("https://x; Room 4", "Room 4"),
    ("https://x,Room 4", "Room 4"),
    ("  Room 4, https://x", "  Room 4"),
])
def test_removing_a_link_tidies_only_the_separators_next_to_it(text: str, expected: str) -> None:
    start = text.index("https://x")
    assert remove_span(text, start, start + len("https://x")) == expected


def test_replacing_a_keyword_keeps_every_other_character() -> None:
    text = "Room 4,  @webex ;B3"
    assert remove_span(text, 9, 15, "https://x") == "Room 4,  https://x ;B3"
