"""Find the link a person clicks to join an event's meeting, and say why.

Precedence (issue 4): the conferenceData video entry point (Google wrote it, it is the
truth), then the Location (people paste the link there), then the description; within a
field the first meeting link wins. :func:`explain` is the same search keeping notes on every
field and rejected link, for the admin CLI ("why no Join button?"); the notes carry hosts and
paths, never queries (they hold meeting passwords). ``org_domains`` are the organisation's own
domains, the only ones where a self-hosted service's URL is a meeting link
(:mod:`.classify`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import re2

from shared.joinlinks.classify import Verdict, classify
from shared.joinlinks.cleanup import MAX_CANDIDATES, MAX_FIELD_CHARS, candidates, clean

_LOGGER = logging.getLogger(__name__)
_MAX_NOTES_PER_FIELD = 12
_KEBAB = re2.compile(r"[^a-z0-9]+")
# conferenceSolution.key.type values Google defines, and the slug each stands for.
_SOLUTION_TYPES = {"hangoutsMeet": "google-meet", "eventHangout": "google-hangouts",
                   "eventNamedHangout": "google-hangouts"}


@dataclass(frozen=True)
class JoinLink:
    """The link to join a meeting: ``url`` cleaned, ``service`` a catalogue slug, and the
    event field it came from (``"conference_data"``, ``"location"`` or ``"description"``)."""

    url: str
    service: str
    source: str


@dataclass(frozen=True)
class Explanation:
    """The result of a search and the notes that justify it, in the order fields were read."""

    link: JoinLink | None
    notes: tuple[str, ...]


def find_join_link(conference_data: Mapping[str, Any] | None = None, location: str | None = None,
                   description: str | None = None,
                   org_domains: Iterable[str] = ()) -> JoinLink | None:
    """The event's join link (see module docstring for precedence), or None."""
    link = _search(conference_data, location, description, notes=None,
                   org_domains=tuple(org_domains))
    _LOGGER.debug("join link: %s", f"{link.service} from {link.source}" if link else "none")
    return link


def find_in_event(event: Mapping[str, Any], org_domains: Iterable[str] = ()) -> JoinLink | None:
    """:func:`find_join_link` over a Calendar v3 event resource."""
    return find_join_link(conference_data=event.get("conferenceData"),
                          location=event.get("location"), description=event.get("description"),
                          org_domains=org_domains)


def explain(conference_data: Mapping[str, Any] | None = None, location: str | None = None,
            description: str | None = None, org_domains: Iterable[str] = ()) -> Explanation:
    """Like :func:`find_join_link`, with notes saying what each field held and why."""
    notes: list[str] = []
    link = _search(conference_data, location, description, notes=notes,
                   org_domains=tuple(org_domains))
    return Explanation(link, tuple(notes))


def _search(conference_data: object, location: object, description: object,
            notes: list[str] | None, org_domains: tuple[str, ...]) -> JoinLink | None:
    # object: callers pass whatever the event JSON held; each field is type-checked below
    link = _from_conference_data(conference_data, notes, org_domains)
    if link is None:
        link = _from_text("location", location, notes, org_domains)
    if link is None:
        link = _from_text("description", description, notes, org_domains)
    return link


def _from_conference_data(data: object, notes: list[str] | None,
                          org_domains: tuple[str, ...]) -> JoinLink | None:
    if not isinstance(data, Mapping):
        _note(notes, "conference_data: none")
        return None
    for entry in data.get("entryPoints") or ():
        if not (isinstance(entry, Mapping) and entry.get("entryPointType") == "video"):
            continue
        uri = entry.get("uri")
        url = clean(uri)[0] if isinstance(uri, str) else None
        if url is None:
            _note(notes, "conference_data: the video entry point has no usable http(s) uri")
            continue
        verdict = classify(url, org_domains)
        service = verdict.service.slug if verdict and verdict.service else _solution_slug(data)
        _note(notes, f"conference_data: video entry point, service {service}")
        return JoinLink(url, service, "conference_data")
    status = ((data.get("createRequest") or {}).get("status") or {}).get("statusCode")
    if status == "pending":
        _note(notes, "conference_data: the conference is still being created (pending)")
    else:
        _note(notes, "conference_data: no video entry point")
    return None


def _solution_slug(data: Mapping[str, Any]) -> str:
    """A slug for a conference whose URL is not in the catalogue (e.g. an add-on's)."""
    solution = data.get("conferenceSolution") or {}
    kind = (solution.get("key") or {}).get("type")
    if kind in _SOLUTION_TYPES:
        return _SOLUTION_TYPES[kind]
    name = solution.get("name")
    slug = _KEBAB.sub("-", name.lower()).strip("-") if isinstance(name, str) else ""
    return slug or "custom"


def _from_text(source: str, text: object, notes: list[str] | None,
               org_domains: tuple[str, ...]) -> JoinLink | None:
    if not isinstance(text, str) or not text.strip():
        _note(notes, f"{source}: empty")
        return None
    if notes is not None and len(text) > MAX_FIELD_CHARS:
        notes.append(f"{source}: only the first {MAX_FIELD_CHARS} characters were read")
    seen = 0
    for candidate in candidates(text):
        seen += 1
        verdict = classify(candidate.url, org_domains)
        if verdict is not None and verdict.service is not None:
            how = " (unwrapped from a redirect)" if candidate.wrapped else ""
            _note(notes, f"{source}: {verdict.service.name} meeting link{how}, "
                         f"service {verdict.service.slug}")
            return JoinLink(candidate.url, verdict.service.slug, source)
        if notes is not None and seen <= _MAX_NOTES_PER_FIELD and verdict is not None:
            notes.append(_rejection(source, verdict))
    if notes is not None:
        notes.append(f"{source}: no links" if not seen
                     else f"{source}: {seen} link(s), none is a meeting link")
        if seen >= MAX_CANDIDATES:
            notes.append(f"{source}: only the first {MAX_CANDIDATES} links were read")
    return None


def _rejection(source: str, verdict: Verdict) -> str:
    page = verdict.target.split("?", 1)[0].split("#", 1)[0]
    host, _, path = page.partition("/")
    shown = page if len(page) <= 80 else page[:77] + "..."
    vendor = verdict.vendor
    if verdict.foreign is not None:
        return (f"{source}: {host} looks like a self-hosted {verdict.foreign.name} link but is "
                f"not in the organisation's domains (HYBRIDCAL_ORG_DOMAINS): a plain link, "
                f"no Join button ({shown})")
    if vendor is None:
        return f"{source}: {host} is not a known meeting service ({shown})"
    kind = "home page" if not path.strip("/") else "page that is not a meeting link"
    return f"{source}: has a {vendor.name} link but it is a {kind} ({shown})"


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
