"""The Location keyword matcher: what users type in any calendar client."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.keyword.keywords import find_keyword, remove_span

KEYWORDS = {"@webex": "webex-personal-room", "@meet": "webex-space"}


@pytest.mark.parametrize(("text", "token", "provider"), [
    ("@webex", "@webex", "webex-personal-room"),
    ("Room 4, @WEBEX", "@webex", "webex-personal-room"),
    ("@Meet", "@meet", "webex-space"),
    ("Room 4;@meet", "@meet", "webex-space"),
    ("@meet:myroom", "@meet:myroom", "webex-personal-room"),
    ("@webex:Space, Room 4", "@webex:space", "webex-space"),
    ("@webex:bogus", "@webex:bogus", "webex-personal-room"),  # unknown modifier → default
    ("(@webex ", "@webex", "webex-personal-room"),
    ("@meet, @webex", "@meet", "webex-space"),  # leftmost wins
    ("B3 @webex @meet", "@webex", "webex-personal-room"),
])
def test_keyword_found(text: str, token: str, provider: str) -> None:
    match = find_keyword(text, KEYWORDS)
    assert match is not None
    assert (match.token, match.provider) == (token, provider)
    assert text[match.start:match.end].lower() == token


@pytest.mark.parametrize("text", [
    "ops@webex.com", "@webex.com", "mail ops@webex.com please", "@webexinar", "@meeting",
    "x@meet", "@meet:myroom:x", "@meet:", "", "no keyword here", "@", "@@webex.",
])
def test_not_a_keyword(text: str) -> None:
    assert find_keyword(text, KEYWORDS) is None


def test_longer_keyword_preferred_over_its_prefix() -> None:
    match = find_keyword("@meetnow", {**KEYWORDS, "@meetnow": "jitsi"})
    assert match is not None and match.provider == "jitsi"


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=80),
       st.sampled_from(list("abz09._%+-")))
def test_never_fires_inside_an_address(prefix: str, letter: str) -> None:
    text = f"{prefix}{letter}@webex.example"
    match = find_keyword(text, KEYWORDS)
    assert match is None or match.end <= len(prefix)


def test_long_hostile_input_is_scanned_in_one_pass() -> None:
    text = "@webe" * 20_000 + " @webex"
    match = find_keyword(text, KEYWORDS)
    assert match is not None and match.start == len(text) - 6


@pytest.mark.parametrize(("text", "expected"), [
    ("Room 4, https://x", "Room 4"),
    ("https://x, Room 4", "Room 4"),
    ("Room 4, https://x; B3", "Room 4; B3"),
    ("https://x", ""),
])
def test_removal_keeps_the_rest_of_the_location(text: str, expected: str) -> None:
    start = text.index("https://x")
    assert remove_span(text, start, start + len("https://x")) == expected
