"""The localized join block: delimiters, languages, dates in the user's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.keyword import joinblock

CONTENT = joinblock.BlockContent("https://example.webex.com/meet/anna", "Webex",
                                 "anna@example.webex.com", "2512345678")
CREATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("locale", "phrase"), [
    ("en", "Join the Webex meeting:"),
    ("de", "An der Webex-Besprechung teilnehmen:"),
    ("fr", "Rejoindre la réunion Webex"),
    ("es", "Unirse a la reunión de Webex:"),
    ("it", "Partecipa alla riunione Webex:"),
    ("pt-BR", "Participar da reunião do Webex:"),
    ("ja", "Webex 会議に参加:"),
    ("zh-CN", "加入 Webex 会议"),
    ("en-GB", "Join the Webex meeting:"),
    ("sw", "Join the Webex meeting:"),  # no catalogue → English
    (None, "Join the Webex meeting:"),
])
def test_block_in_the_users_language(locale: str | None, phrase: str) -> None:
    block = joinblock.render(CONTENT, locale=locale, timezone="UTC", created=CREATED)
    assert block.startswith(joinblock.BEGIN) and block.endswith(joinblock.END)
    assert phrase in block
    assert CONTENT.url in block and CONTENT.sip_uri in block and "2512345678" in block


def test_dates_in_the_users_locale_and_time_zone() -> None:
    german = joinblock.render(CONTENT, locale="de", timezone="Europe/Berlin", created=CREATED)
    japanese = joinblock.render(CONTENT, locale="ja", timezone="Asia/Tokyo", created=CREATED)
    assert "2. November 2026" in german and "09:00:00" in german
    assert "2026年11月2日" in japanese and "17:00:00" in japanese


def test_block_replaced_and_removed_without_touching_user_text() -> None:
    user_text = "Agenda:\n1. budget"
    first = joinblock.append(user_text, joinblock.render(CONTENT, locale="en", timezone="UTC",
                                                         created=CREATED))
    other = joinblock.BlockContent("https://meet.jit.si/hybridcal-x", "Jitsi Meet")
    second = joinblock.append(first, joinblock.render(other, locale="en", timezone="UTC",
                                                      created=CREATED))
    assert second.count(joinblock.BEGIN) == 1
    assert joinblock.url_in(joinblock.find(second)) == "https://meet.jit.si/hybridcal-x"
    assert joinblock.strip(second) == user_text


def test_every_catalogue_is_complete_and_compiled() -> None:
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    for locale in joinblock.SUPPORTED:
        folder = joinblock.LOCALES_DIR / locale / "LC_MESSAGES"
        with open(folder / "hybridcal.po", "rb") as handle:
            catalog = read_po(handle)
        with open(folder / "hybridcal.mo", "rb") as handle:
            compiled = read_mo(handle)
        ids = [m.id for m in catalog if m.id]
        assert ids, locale
        if locale != "en":
            assert all(catalog[i].string and not catalog[i].fuzzy for i in ids), locale
            assert all(compiled[i].string == catalog[i].string for i in ids), locale


# -- scanning user text: the innermost block, in linear time --------------------------------
_PIECES = [joinblock.BEGIN, joinblock.END, "x", "\n", " https://a.example/j ", "-::~"]


_ORACLE = (re.escape(joinblock.BEGIN) + "(?:(?!" + re.escape(joinblock.BEGIN) + ").)*?"
           + re.escape(joinblock.END))


def _oracle_find(text: str) -> str | None:
    """Reference for small inputs: an END with the nearest BEGIN before it (a tempered token:
    no BEGIN inside), as a backtracking regex would say it."""
    match = re.search(_ORACLE, text, re.DOTALL)
    return match.group(0) if match else None


def _oracle_strip(text: str) -> str:
    return re.sub(_ORACLE, "", text, flags=re.DOTALL).rstrip()


@given(st.lists(st.sampled_from(_PIECES), max_size=12))
def test_block_scanning_finds_the_innermost_block(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert joinblock.find(text) == _oracle_find(text)
    assert joinblock.strip(text) == _oracle_strip(text)


def test_a_description_of_start_delimiters_keeps_the_users_text_and_finds_no_block() -> None:
    """800 KB of our own start delimiter (an attack that stalled processing for 70 s per edit
    with the lazy regex): no block is found and nothing the user wrote is removed."""
    hostile = "agenda\n" + joinblock.BEGIN * 16_000
    assert joinblock.find(hostile) is None
    assert joinblock.strip(hostile) == hostile.rstrip()
    real = joinblock.render(joinblock.BlockContent("https://example.webex.com/meet/a", "Webex"),
                            locale="en", timezone="UTC", created=datetime(2026, 1, 1, tzinfo=UTC))
    appended = joinblock.append(hostile, real)
    assert joinblock.find(appended) is not None
    assert joinblock.strip(appended) == hostile.rstrip()  # all the user's text survives
    assert joinblock.url_in(joinblock.find(appended)) == "https://example.webex.com/meet/a"
