"""The join block as the user reads it in their event's description, found by mutation testing
(#22): every line in their language, the date in their language and zone, the fallbacks for
locales and zones we have no catalogue or data for, and the delimiters earlier releases wrote.

Pure functions (no stack), fast enough for the module's mutation run (mutation/config.toml);
test_locale_fallback.py checks the same fallbacks once more on the embedded stack.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from shared.keyword import joinblock

CONTENT = joinblock.BlockContent("https://example.webex.com/meet/anna", "Webex",
                                 "anna@example.webex.com", "2512345678")
CREATED = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
# The delimiters as every release so far has written them into users' descriptions: a later
# release must still find, replace and remove those blocks, so they are spelled out here.
BEGIN = "-::~:~::~:~:~ hybridcal join details ~:~:~::~:~::-"
END = "-::~:~::~:~:~ end of hybridcal join details ~:~:~::~:~::-"

ENGLISH = "\n".join([
    BEGIN,
    "Join the Webex meeting:",
    "https://example.webex.com/meet/anna",
    "Join from a video system (SIP):",
    "anna@example.webex.com",
    "Meeting number: 2512345678",
    "Join details added on November 2, 2026, 8:00:00\u202fAM UTC.",
    "To change them, type another keyword in Location; to remove them, delete the link from "
    "Location.",
    END,
])
GERMAN = "\n".join([
    BEGIN,
    "An der Webex-Besprechung teilnehmen:",
    "https://example.webex.com/meet/anna",
    "Mit einem Videosystem teilnehmen (SIP):",
    "anna@example.webex.com",
    "Meeting-Nummer: 2512345678",
    "Einwahldaten hinzugefügt am 2. November 2026, 09:00:00 MEZ.",
    "Zum Ändern ein anderes Schlüsselwort in den Ort eintragen; zum Entfernen den Link aus dem "
    "Ort löschen.",
    END,
])


def _render(content: joinblock.BlockContent = CONTENT, *, locale: str | None = "en",
            timezone: str | None = "UTC") -> str:
    return joinblock.render(content, locale=locale, timezone=timezone, created=CREATED)


def test_the_english_block_reads_line_by_line() -> None:
    assert _render() == ENGLISH


def test_the_german_block_reads_line_by_line_with_a_german_date_in_berlin_time() -> None:
    assert _render(locale="de", timezone="Europe/Berlin") == GERMAN


def test_a_block_without_sip_or_meeting_number_has_no_empty_lines_for_them() -> None:
    block = _render(joinblock.BlockContent("https://meet.jit.si/hybridcal-x", "Jitsi Meet"))
    assert block.splitlines() == [
        BEGIN, "Join the Jitsi Meet meeting:", "https://meet.jit.si/hybridcal-x",
        "Join details added on November 2, 2026, 8:00:00\u202fAM UTC.",
        "To change them, type another keyword in Location; to remove them, delete the link "
        "from Location.",
        END]


@pytest.mark.parametrize(("locale", "expected"), [
    (None, "en"), ("", "en"), ("en", "en"), ("en-GB", "en"), ("EN-us", "en"),
    ("de", "de"), ("de-AT", "de"), ("fr-CA", "fr"), ("es-419", "es"), ("it_CH", "it"),
    ("ja-JP", "ja"), ("pt-BR", "pt_BR"), ("pt", "pt_BR"), ("pt-PT", "pt_BR"),
    ("zh-CN", "zh_CN"), ("zh", "zh_CN"), ("zh-TW", "zh_CN"),
    ("ko", "en"), ("sw", "en"), ("xx", "en"), ("not a locale!!", "en"), ("en_", "en"),
])
def test_each_calendar_locale_gets_the_catalogue_we_have_for_it(locale: str | None,
                                                                expected: str) -> None:
    assert joinblock.normalise_locale(locale) == expected


@pytest.mark.parametrize(("locale", "phrase", "date"), [
    ("de-AT", "An der Webex-Besprechung teilnehmen:", "2. November 2026"),
    ("zh-TW", "加入 Webex 会议", "2026年11月2日"),
    ("pt-PT", "Participar da reunião do Webex:", "2 de novembro de 2026"),
    ("fr-CA", "Rejoindre la réunion Webex", "2 novembre 2026"),
])
def test_a_regional_locale_gets_its_languages_sentences_and_date(locale: str, phrase: str,
                                                                  date: str) -> None:
    block = _render(locale=locale)
    assert phrase in block and date in block
    assert "November 2," not in block  # no English date ("November 2, 2026") inside


@pytest.mark.parametrize("locale", ["ko", "xx", "not a locale!!", None, ""])
def test_a_locale_without_a_catalogue_gets_the_english_block_with_an_english_date(
        locale: str | None) -> None:
    block = _render(locale=locale)
    assert block == ENGLISH
    assert not HANGUL.search(block)


@pytest.mark.parametrize("timezone", [None, "", "Not/AZone", "../etc/passwd"])
def test_an_unknown_time_zone_dates_the_block_in_utc(timezone: str | None) -> None:
    assert _render(timezone=timezone) == ENGLISH


def test_a_block_an_earlier_release_wrote_is_found_replaced_and_removed() -> None:
    old = f"{BEGIN}\nJoin the Webex meeting:\nhttps://example.webex.com/meet/old\n{END}"
    description = f"Agenda\n\n{old}"
    assert joinblock.find(description) == old
    assert joinblock.url_in(joinblock.find(description)) == "https://example.webex.com/meet/old"
    assert joinblock.strip(description) == "Agenda"
    assert joinblock.append(description, _render()) == f"Agenda\n\n{ENGLISH}"


def test_a_description_that_is_only_our_block_is_recognised() -> None:
    assert joinblock.find(ENGLISH) == ENGLISH
    assert joinblock.strip(ENGLISH) == ""
    assert joinblock.append(ENGLISH, _render(locale="de", timezone="Europe/Berlin")) == GERMAN


def test_a_stray_end_delimiter_before_our_block_does_not_hide_it() -> None:
    description = f"{END}\nnotes\n\n{ENGLISH}"
    assert joinblock.find(description) == ENGLISH
    assert joinblock.strip(description) == f"{END}\nnotes"


def test_the_users_indentation_and_text_after_our_block_are_kept() -> None:
    description = f"   indented agenda\n\n{ENGLISH}\n\n  PS: bring slides"
    assert joinblock.strip(description) == "   indented agenda\n\n\n\n  PS: bring slides"
    assert joinblock.find(description) == ENGLISH


def test_the_url_in_a_block_is_its_first_link() -> None:
    assert joinblock.url_in(ENGLISH) == "https://example.webex.com/meet/anna"
    assert joinblock.url_in(f"{BEGIN}\nno link here\n{END}") is None
    assert joinblock.url_in(None) is None
    assert joinblock.url_in("see <http://x.example/j?a=1> now") == "http://x.example/j?a=1"


def test_a_first_block_goes_alone_into_an_empty_description() -> None:
    assert joinblock.append(None, ENGLISH) == ENGLISH
    assert joinblock.append("", ENGLISH) == ENGLISH
    assert joinblock.append("  \n", ENGLISH) == ENGLISH
    assert joinblock.find(None) is None and joinblock.strip(None) == ""
