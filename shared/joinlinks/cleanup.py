"""From raw event text to clean URL candidates, in linear time.

Invitations reach us as HTML or plain text, with entities (``&amp;``), links in ``href``
attributes, Outlook SafeLinks and Google redirect wrappers, and URLs glued to brackets,
quotes and sentence punctuation. The steps, in order:

1. bound: only the first :data:`MAX_FIELD_CHARS` characters of a field are read, and at most
   :data:`MAX_CANDIDATES` URL-looking tokens of it (a real invitation is a few KB with tens of
   links; the bounds cap the work an attacker can ask for);
2. one RE2 scan finds every URL-looking token, ``href`` values included (the scan stops at
   quotes and ``<>``, so ``href="..."`` yields exactly the attribute value);
3. HTML unescape of the token (named entities need their ``;``: ``&reg`` in ``&reserved=0``
   stays text), cut where an unescaped quote, bracket or space ends the URL (``&quot;``,
   ``&gt;``, ``&nbsp;``). Unescaping tokens rather than the whole field gives the same URLs and
   keeps a field made of ``&amp;`` runs cheap;
4. strip leading/trailing brackets, quotes and sentence punctuation (a closing bracket is kept
   when the URL opened it);
5. unwrap SafeLinks / Google redirects / Proofpoint URL Defense, decoding the target once,
   then strip again. The URL's own query (Zoom ``pwd=``) is kept.

Every regular expression here is RE2 (no backtracking); the rest are single passes over a
token of bounded size, so the cost is linear in the input.
"""

from __future__ import annotations

import html
import html.entities
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import re2

MAX_FIELD_CHARS = 1_000_000  # per field; the rest of a longer field is ignored
MAX_CANDIDATES = 2_000  # URL-looking tokens read per field; later ones are ignored
MAX_URL_CHARS = 8_192  # longer tokens are not links a person clicks
_MAX_UNWRAP = 3  # SafeLinks around a Google redirect around the link, and no deeper

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False

_ENTITY = re2.compile(r"&(?:#[0-9]{1,7};?|#[xX][0-9a-fA-F]{1,6};?|[A-Za-z][A-Za-z0-9]{1,31};)",
                      _OPTIONS)
_URL_CHARS = (r"""[^\s\p{Z}\p{Cc}<>"'`{}|\\^"""  # ASCII, then typographic quotes, CJK
              r"\x{2018}\x{2019}\x{201C}\x{201D}\x{00AB}\x{00BB}\x{2039}\x{203A}"
              r"\x{3002}\x{FF0C}\x{3001}\x{FF1B}\x{FF1A}\x{FF01}\x{FF1F}\x{FF08}\x{FF09}"
              r"\x{3010}\x{3011}\x{300C}\x{300D}\x{300A}\x{300B}\x{3008}\x{3009}]")
# A host (labels, a letter TLD), an optional port, then anything a URL may contain. Quotes,
# angle brackets, back-ticks, braces, pipes, whitespace (Unicode too) and typographic quotes
# end a URL, and so does CJK punctuation; ``()[]`` may be part of one and are balanced in strip().
_CANDIDATE = re2.compile(
    r"(?i)(?:(?:https?|zoommtg|zoomgovmtg)://)?"
    r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,63}"
    r"(?::[0-9]{1,5})?"
    r"(?:[/?#]" + _URL_CHARS + "*)?",
    _OPTIONS)
_URL_BODY = re2.compile(_URL_CHARS + "*", _OPTIONS)
_SCHEMES = ("https://", "http://", "zoommtg://", "zoomgovmtg://")
_WRAPPER_HOST_SUFFIXES = (".safelinks.protection.outlook.com", ".safelinks.protection.office365.us")
_WRAPPER_HOSTS = frozenset({"www.google.com", "google.com", "urldefense.com"})
_BEFORE_BARE_HOST = frozenset("@./-_=%+~")  # a scheme-less host glued to these is no host
_LEADING = "<([{\"'`*\u201c\u2018\u00ab"
_TRAILING = ".,;:!?*'\"`>\u201c\u201d\u2018\u2019\u00ab\u00bb"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Candidate:
    """A URL found in a text: as written (``raw``) and after cleanup (``url``)."""

    raw: str
    url: str
    wrapped: bool  # it was inside a SafeLinks / redirect wrapper


def bound(text: str) -> str:
    """The part of a field that is read (see :data:`MAX_FIELD_CHARS`)."""
    return text[:MAX_FIELD_CHARS]


def unescape(text: str) -> str:
    """HTML-unescape once; named entities only with their ``;`` (as in URLs in attributes)."""
    if "&" not in text:
        return text
    unescaped: str = _ENTITY.sub(_entity, text)
    return unescaped


def _entity(match: re2._Match) -> str:
    token: str = match.group()
    if token[1] == "#":
        return html.unescape(token)
    return html.entities.html5.get(token[1:], token)


def has_scheme(url: str) -> bool:
    """Whether ``url`` starts with a scheme we read (http(s), Zoom's app schemes)."""
    return url[:13].lower().startswith(_SCHEMES)


def host_of(url: str) -> tuple[str, str]:
    """``(host, rest)`` of an absolute URL without parsing it fully: lower-case host without
    user info or port, and everything from the path on (path, query, fragment)."""
    start = url.find("://") + 3
    end = len(url)
    for mark in "/?#":
        found = url.find(mark, start, end)
        if found != -1:
            end = found
    host = url[start:end].rpartition("@")[2].partition(":")[0].lower().rstrip(".")
    return host, url[end:]


def candidates(text: str) -> Iterator[Candidate]:
    """The URL-looking tokens of ``text`` in order (at most :data:`MAX_CANDIDATES`), cleaned
    and unwrapped."""
    text = bound(text)
    for count, match in enumerate(_CANDIDATE.finditer(text)):
        if count >= MAX_CANDIDATES:
            return
        raw = match.group()
        if len(raw) > MAX_URL_CHARS:
            continue
        if "&" in raw:
            raw = _URL_BODY.match(unescape(raw)).group()
        if not has_scheme(raw):
            start = match.start()
            if "/" not in raw or (start and text[start - 1] in _BEFORE_BARE_HOST):
                continue  # a bare domain, an e-mail's domain, or the tail of another token
            raw_url = "https://" + raw
        else:
            raw_url = raw
        url, wrapped = clean(raw_url)
        if url:
            yield Candidate(raw=raw, url=url, wrapped=wrapped)


def clean(url: str) -> tuple[str | None, bool]:
    """``url`` stripped and unwrapped; None when nothing usable is left."""
    wrapped = False
    url = strip(url)
    for _ in range(_MAX_UNWRAP):
        inner = unwrap(url)
        if inner is None:
            break
        wrapped, url = True, strip(inner)
    if not url or len(url) > MAX_URL_CHARS or not has_scheme(url):
        return None, wrapped
    return url, wrapped


def strip(url: str) -> str:
    """Remove surrounding brackets, quotes and trailing sentence punctuation."""
    url = url.strip().lstrip(_LEADING)
    counts = {bracket: url.count(bracket) for bracket in "()[]{}"}
    end = len(url)
    while end:  # one pass from the end: linear however many closers there are
        last = url[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _CLOSERS and counts[last] > counts[_CLOSERS[last]]:
            counts[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


def unwrap(url: str) -> str | None:
    """The target of a SafeLinks / Google redirect / URL Defense wrapper, decoded once."""
    if len(url) > MAX_URL_CHARS or "://" not in url:
        return None
    host = host_of(url)[0]
    if not (host in _WRAPPER_HOSTS or host.endswith(_WRAPPER_HOST_SUFFIXES)):
        return None
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if host.endswith(_WRAPPER_HOST_SUFFIXES):
        return _param(parts.query, ("url",))
    if host in ("www.google.com", "google.com") and parts.path == "/url":
        return _param(parts.query, ("q", "url"))
    if host == "urldefense.com" and parts.path.startswith("/v3/__"):
        inner = url[url.index("/v3/__") + 6:]
        end = inner.find("__;")
        return inner[:end] if end > 0 else None
    return None


def _param(query: str, names: tuple[str, ...]) -> str | None:
    """The first non-empty parameter called one of ``names``, percent-decoded once.

    ``unquote`` rather than ``parse_qsl``: a ``+`` in the wrapped URL stays a ``+``.
    """
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if unquote(name) in names and value:
            words = unquote(value).split()
            return words[0] if words else None
    return None
