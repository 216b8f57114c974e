"""Every string the meetings page can show is translated in all 8 catalogues, with the same
placeholders, so no German or Japanese reader meets an English word or a broken "%(time)s"
(a new string added to ``page.py`` without ``make i18n`` and translations fails here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from shared.keyword import joinblock
from shared.meetings import page

PAGE = Path(page.__file__)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _page_strings() -> list[str]:
    found = [message for _line, message, _comments, _context
             in extract_from_file("python", str(PAGE), keywords={"_": None})]
    assert len(found) > 40  # the extraction sees the page's strings (none hidden in f-strings)
    return [str(m) for m in dict.fromkeys(found)]


@pytest.mark.parametrize("locale", [code for code in joinblock.SUPPORTED if code != "en"])
def test_every_page_string_is_translated_with_its_placeholders(locale: str) -> None:
    path = joinblock.LOCALES_DIR / locale / "LC_MESSAGES" / "hybridcal.po"
    with open(path, "rb") as handle:
        catalog = read_po(handle)
    missing, broken = [], []
    for text in _page_strings():
        message = catalog.get(text)
        if message is None or not message.string or message.fuzzy:
            missing.append(text)
        elif set(_PLACEHOLDER.findall(text)) != set(_PLACEHOLDER.findall(str(message.string))):
            broken.append(text)
    assert missing == [] and broken == [], (locale, missing, broken)


def test_pages_render_in_every_locale_without_english_leftovers() -> None:
    """The Today heading, one string every agenda with a meeting today shows, is the locale's
    own word in each catalogue (and the catalogues load at run time, .mo included)."""
    words = {code: page._Text(code)("Today") for code in joinblock.SUPPORTED}
    assert words["en"] == "Today"
    assert all(word != "Today" for code, word in words.items() if code != "en"), words
    assert len(set(words.values())) == len(words)
