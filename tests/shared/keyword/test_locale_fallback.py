"""Which language the join block speaks when we have no catalogue for the user's locale.

The block has two localized parts: the sentences (gettext catalogues) and the date (Babel,
CLDR data for every language). A fallback must move both, or the user reads an English sentence
around a Korean date. "sw" in ``test_joinblock.py`` cannot tell: Babel's own fallback produces
English either way, and its date is never looked at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.keyword import joinblock
from tests.shared.changes.processing_helpers import create, event_body, get

CONTENT = joinblock.BlockContent("https://example.webex.com/meet/anna", "Webex")
CREATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday
HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


def _block(locale: str) -> str:
    return joinblock.render(CONTENT, locale=locale, timezone="UTC", created=CREATED)


@pytest.mark.parametrize("locale", ["ko", "ko-KR", "ko_KR"])
def test_unsupported_locale_gets_the_english_block_and_an_english_date(locale: str) -> None:
    block = _block(locale)

    assert "Join the Webex meeting:" in block
    assert "Join details added on November 2, 2026" in block  # month in English
    assert not HANGUL.search(block), block  # no Korean date (2026년 11월 2일 ...)
    assert block == _block("en")


@pytest.mark.parametrize("locale", ["pt-PT", "pt_PT", "pt"])
def test_european_portuguese_gets_the_brazilian_catalogue_and_a_portuguese_date(
        locale: str) -> None:
    block = _block(locale)

    assert "Participar da reunião do Webex:" in block
    assert "2 de novembro de 2026" in block  # month in Portuguese
    assert "November" not in block
    assert block == _block("pt-BR")


@pytest.mark.integration
@pytest.mark.parametrize(("locale", "phrase", "month"), [
    ("ko", "Join the Webex meeting:", "November"),
    ("pt-PT", "Participar da reunião do Webex:", "novembro"),
])
def test_users_calendar_locale_reaches_the_block_in_their_event(stack, locale, phrase,
                                                                month) -> None:
    email = "sam@example.com"
    stack.add_user(email, locale=locale)
    assert stack.activate(email) == "active"
    assert stack.now().month == 11  # the fake clock's November: the month the block names

    event, _ = create(stack, email, event_body("Weekly", "@webex", stack=stack))

    block = joinblock.find(get(stack, email, event["id"])["description"]) or ""
    assert phrase in block
    assert month in block
    assert not HANGUL.search(block)
