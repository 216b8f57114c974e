"""Find a join-details keyword such as ``@webex`` or ``@meet:myroom`` in an event's Location.

Users type keywords in any calendar client, so the matcher must be forgiving about case and
surrounding punctuation yet never fire on an email address (``ops@webex.com``) or a longer word
(``@webexinar``). It is a hand-written single pass over the text (each ``@`` position is tried
against the handful of configured keywords), so its cost is linear in the Location's length
whatever a user types: no regular-expression backtracking on user input.

Rules (issue 7): a keyword starts the text or follows whitespace/punctuation; it may carry a
``:modifier``; it ends the text or is followed by whitespace, ``,`` or ``;``. An unknown
modifier keeps the keyword's default provider. When several keywords appear the leftmost wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Power-user overrides of the admin's choice: ``@meet:myroom`` / ``@webex:space``.
MODIFIERS: dict[str, str] = {
    "myroom": "webex-personal-room",
    "room": "webex-personal-room",
    "space": "webex-space",
    "gmeet": "google-meet",
    "jitsi": "jitsi",
}

_END = frozenset(",;")
_MODIFIER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class KeywordMatch:
    """A keyword found in a text: what was typed, where, and which provider it asks for."""

    keyword: str  # the configured keyword, lower case, e.g. "@meet"
    modifier: str | None  # lower case, e.g. "myroom"; None when absent
    provider: str  # provider name after applying a known modifier
    start: int  # span of keyword + modifier in the original text
    end: int

    @property
    def token(self) -> str:
        """Canonical form recorded in the event's private properties."""
        return self.keyword + (f":{self.modifier}" if self.modifier else "")


def _boundary_before(text: str, index: int) -> bool:
    if index == 0:
        return True
    previous = text[index - 1]
    return not (previous.isalnum() or previous in "._%+-@")


def _boundary_after(text: str, index: int) -> bool:
    return index >= len(text) or text[index].isspace() or text[index] in _END


def find_keyword(text: str | None, keywords: Mapping[str, str]) -> KeywordMatch | None:
    """The leftmost configured keyword in ``text``, or None.

    ``keywords`` maps lower-case keywords (``"@webex"``) to provider names. Longer keywords are
    tried first at each position so ``@meetnow`` is not read as ``@meet`` + garbage.
    """
    if not text or not keywords:
        return None
    ordered = sorted(keywords, key=len, reverse=True)
    position = text.find("@")
    while position != -1:
        if _boundary_before(text, position):
            match = _match_at(text, position, ordered, keywords)
            if match is not None:
                return match
        position = text.find("@", position + 1)
    return None


def _match_at(
    text: str, position: int, ordered: list[str], keywords: Mapping[str, str]
) -> KeywordMatch | None:
    for keyword in ordered:
        end = position + len(keyword)
        if text[position:end].lower() != keyword:
            continue
        if _boundary_after(text, end):
            return KeywordMatch(keyword, None, keywords[keyword], position, end)
        if end < len(text) and text[end] == ":":
            cursor = end + 1
            while cursor < len(text) and text[cursor].lower() in _MODIFIER_CHARS:
                cursor += 1
            if cursor > end + 1 and _boundary_after(text, cursor):
                modifier = text[end + 1:cursor].lower()
                provider = MODIFIERS.get(modifier, keywords[keyword])
                return KeywordMatch(keyword, modifier, provider, position, cursor)
    return None


def remove_span(text: str, start: int, end: int, replacement: str = "") -> str:
    """Replace ``text[start:end]``; on removal tidy only the separators next to the hole, so the
    rest of what the user typed is kept exactly (``"Room 4, @webex"`` → ``"Room 4"``)."""
    if replacement:
        return text[:start] + replacement + text[end:]
    left = text[:start].rstrip()
    right = text[end:].lstrip()
    if left.endswith((",", ";")) and (not right or right.startswith((",", ";"))):
        left = left[:-1].rstrip()
    if not left and right.startswith((",", ";")):
        right = right[1:].lstrip()
    if left and right:
        return left + ("" if right.startswith((",", ";")) else " ") + right
    return left or right
