"""Property tests: a recognised join URL survives whatever invitations do to it.

Wrapping (Outlook SafeLinks, Google redirect), bracketing (``<>``, quotes, parentheses),
trailing sentence punctuation, HTML escaping and ``href`` attributes must all give back the
very same URL and service, in any combination.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.joinlinks import SERVICES, find_join_link, find_sip_uris

ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
HEX = "0123456789abcdef"


def _text(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=low, max_size=high)


zoom_urls = st.builds(
    lambda sub, number, pwd: f"https://{sub}zoom.us/j/{number}" + (f"?pwd={pwd}" if pwd else ""),
    st.sampled_from(["", "us02web.", "acme.", "us06web."]), _text("0123456789", 9, 11),
    st.one_of(st.none(), _text(ALNUM, 8, 32)))
teams_urls = st.builds(
    lambda thread, tid: ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + thread
                         + "%40thread.v2/0?context=%7b%22Tid%22%3a%22" + tid + "%22%7d"),
    _text(ALNUM, 20, 60), _text(HEX, 32, 32))
webex_urls = st.one_of(
    st.builds(lambda site, name: f"https://{site}.webex.com/meet/{name}",
              _text("abcdefghijklmnopqrstuvwxyz", 2, 12), _text(ALNUM, 1, 20)),
    st.builds(lambda site, mtid: f"https://{site}.webex.com/{site}/j.php?MTID=m{mtid}",
              _text("abcdefghijklmnopqrstuvwxyz", 2, 12), _text(HEX, 32, 32)))
meet_urls = st.builds(lambda a, b, c: f"https://meet.google.com/{a}-{b}-{c}",
                      *(_text("abcdefghijklmnopqrstuvwxyz", n, n) for n in (3, 4, 3)))
example_urls = st.sampled_from([service.example for service in SERVICES])
join_urls = st.one_of(zoom_urls, teams_urls, webex_urls, meet_urls, example_urls)


def safelinks(url: str) -> str:
    return ("https://eur03.safelinks.protection.outlook.com/?url=" + quote(url, safe="")
            + "&data=05%7C02%7C%7Cabc%7C0%7C0%7C638612345678901234%7CUnknown&sdata=x%2By%3D&reserved=0")


def google(url: str) -> str:
    return "https://www.google.com/url?q=" + quote(url, safe=":/?") + "&sa=D&source=calendar&usg=AOvVaw1"


URL_WRAPPERS: list[Callable[[str], str]] = [safelinks, google]
BRACKETS = [("<", ">"), ('"', '"'), ("'", "'"), ("(", ")"), ("[", "]"), ("\u201c", "\u201d"),
            ("", "")]
PUNCTUATION = _text(".,;:!?", 0, 3)
HTML_FORMS: list[Callable[[str], str]] = [
    lambda text: text,
    html.escape,
    lambda text: f'<a href="{html.escape(text)}" target="_blank">Join the meeting</a>',
    lambda text: f"<p>Join: <a href='{html.escape(text)}'>{html.escape(text)}</a></p>",
]
PROSE = st.lists(st.sampled_from(["Join", "the", "meeting:", "Passcode", "482913", "+1", "425",
                                  "555-0123", "Meeting", "ID", "---", "\n", "\u2022"]),
                 max_size=8).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(url=join_urls, wrappers=st.lists(st.sampled_from(URL_WRAPPERS), max_size=2),
       bracket=st.sampled_from(BRACKETS), punctuation=PUNCTUATION,
       form=st.sampled_from(HTML_FORMS), before=PROSE, after=PROSE)
def test_join_url_survives_wrapping_bracketing_punctuation_and_html(
        url, wrappers, bracket, punctuation, form, before, after) -> None:
    expected = find_join_link(location=url)
    assert expected is not None and expected.url == url
    decorated = url
    for wrap in wrappers:
        decorated = wrap(decorated)
    decorated = bracket[0] + decorated + bracket[1] + punctuation
    description = f"{before} {form(decorated)} {after}"

    link = find_join_link(description=description)

    assert link is not None
    assert (link.url, link.service, link.source) == (url, expected.service, "description")


@settings(max_examples=100, deadline=None)
@given(url=join_urls, noise=st.lists(st.sampled_from([
    "https://zoom.us/pricing", "https://www.webex.com/", "https://teams.microsoft.com/",
    "https://aka.ms/JoinTeamsMeeting", "mailto:ops@zoom.us", "tel:+14255550123",
    "https://docs.google.com/document/d/1AbC/edit", "@webex", "https://meet.goto.com/install"]),
    max_size=5))
def test_non_meeting_links_before_the_join_link_do_not_change_it(url, noise) -> None:
    description = "\n".join([*noise, f"Join: {url}"])
    link = find_join_link(description=description)
    assert link is not None and link.url == url


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_link_or_none_and_never_fails(text) -> None:
    link = find_join_link(conference_data=None, location=text, description=text)
    assert link is None or link.url.lower().startswith(("https://", "http://", "zoommtg://",
                                                        "zoomgovmtg://"))
    assert isinstance(find_sip_uris(text), list)
