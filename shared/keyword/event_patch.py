"""Keyword → join details written into the organizer's event, with one ``events.patch``.

Decision rules (issue 7), evaluated on the event as Google returns it:

* a keyword in Location → write: the keyword is replaced by the join URL (other Location text
  kept; a URL we wrote earlier is dropped, on a keyword switch or when the keyword is typed
  again next to it), the localized join block is put at the end of the description between
  stable delimiters, and private extendedProperties record the keyword, the provider and a
  hash of the block;
* no keyword, our markers and our block present, but the block's URL no longer in Location →
  the user removed the join details: remove the block and the markers;
* anything else (our own patch coming back, title/time/attendee edits, a user who deleted the
  block) → no patch.

Only fields we change are sent, with ``If-Match``; a 412 means the user edited concurrently, so
we read the event again and decide again on the fresh copy (bounded), never overwriting their
edit with stale text.

Google refuses some patches for good: events created from Gmail (``eventType: fromGmail``)
accept changes only to reminders, colour, visibility, status and extended properties (Google
Workspace Updates, 30 May 2024), and other events can be locked or too large. Such an event is
skipped with a logged reason (no patch is even tried on a ``fromGmail`` event) and the sync
goes on: the round still indexes it and commits its token, so one event can never hold a
user's sync back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import TransientError
from shared.google.errors import EtagMismatch, GoneOrMissing, GooglePermanentError
from shared.keyword import joinblock
from shared.keyword.keywords import KeywordMatch, find_keyword, remove_span
from shared.keyword.providers import JoinDetails, ProviderContext, generate
from shared.keyword.providers.base import JoinDetailsPending
from shared.logs import fields

if TYPE_CHECKING:
    from shared.changes.sync import CalendarGateway
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

KEY_KEYWORD = "hybridcal_keyword"
KEY_PROVIDER = "hybridcal_provider"
KEY_HASH = "hybridcal_hash"
MAX_ATTEMPTS = 4
# Copies of our earlier link removed from each side of a keyword (see write_body).
MAX_OLD_LINK_COPIES = 8
# Fields an event created from Gmail lets anyone change; join details need others.
FROM_GMAIL = "fromGmail"


@dataclass(frozen=True)
class Decision:
    action: str  # "write" | "remove"
    match: KeywordMatch | None = None


def block_hash(block: str) -> str:
    """Hash of what we wrote, recorded on the event to recognise our own untouched block."""
    return hashlib.sha256(block.encode()).hexdigest()[:32]


def markers(event: Mapping[str, Any]) -> dict[str, str]:
    return dict((event.get("extendedProperties") or {}).get("private") or {})


def is_organizer_copy(event: Mapping[str, Any], email: str) -> bool:
    organizer = event.get("organizer") or {}
    if "self" in organizer:
        return bool(organizer.get("self"))
    return str(organizer.get("email", "")).lower() == email.lower()


def decide(event: Mapping[str, Any], keywords: Mapping[str, str]) -> Decision | None:
    """What the event needs from us (None: nothing)."""
    if event.get("status") == "cancelled":
        return None
    location = event.get("location") or ""
    match = find_keyword(location, keywords)
    if match is not None:
        return Decision("write", match)
    if not markers(event).get(KEY_HASH):
        return None
    block = joinblock.find(event.get("description"))
    if block is None:
        return None  # the user deleted our block: leave their event alone
    url = joinblock.url_in(block)
    if url and url in location:
        return None  # intact (our own patch coming back, or an unrelated edit)
    return Decision("remove")


def write_body(event: Mapping[str, Any], match: KeywordMatch, details: JoinDetails,
               block: str) -> dict[str, Any]:
    location = event.get("location") or ""
    url = details.url
    # Each side of the keyword with the new link next to it, so that a removal tidies the
    # separators as it would in the whole Location.
    head, tail = location[:match.start] + url, url + location[match.end:]
    # The link we wrote earlier goes, every copy the user left of it (a keyword switch, or the
    # keyword typed again next to it), looked for in their text only: never cut out of the
    # link that replaces the keyword, which may start with it.
    # At most MAX_OLD_LINK_COPIES on each side: each removal rescans the Location, and the old
    # link is read from a description the user can edit, so an unbounded loop would be
    # quadratic in hostile text (a short "link" pasted 100,000 times).
    old_url = joinblock.url_in(joinblock.find(event.get("description")))
    if old_url:
        for _copy in range(MAX_OLD_LINK_COPIES):
            index = head.find(old_url)
            if not 0 <= index <= len(head) - len(url) - len(old_url):
                break
            head = remove_span(head, index, index + len(old_url))
        for _copy in range(MAX_OLD_LINK_COPIES):
            index = tail.find(old_url, len(url))
            if index < 0:
                break
            tail = remove_span(tail, index, index + len(old_url))
    new_location = head + tail[len(url):]
    # Patch semantics merge the private map: only our keys are sent, the rest stays as it is.
    private = {KEY_KEYWORD: match.token, KEY_PROVIDER: details.provider[:1024],
               KEY_HASH: block_hash(block)}
    return {"location": new_location,
            "description": joinblock.append(event.get("description"), block),
            "extendedProperties": {"private": private}}


def remove_body(event: Mapping[str, Any]) -> dict[str, Any]:
    # A null value deletes a private property in a patch (Calendar guide, extended properties).
    return {"description": joinblock.strip(event.get("description")),
            "extendedProperties": {"private": {KEY_KEYWORD: None, KEY_PROVIDER: None,
                                               KEY_HASH: None}}}


def apply_keyword(services: Services, gateway: CalendarGateway, user_id: str,
                  user: Mapping[str, Any], event: dict[str, Any],
                  keywords: Mapping[str, str]) -> tuple[dict[str, Any], int]:
    """Patch the organizer's ``event`` if it needs it. Returns the event as it now is (the
    patched copy, a re-read one, or the input) and how many patches were sent."""
    email = str(user.get("email", ""))
    ctx = ProviderContext(services=services, user_id=user_id, email=email, user=user,
                          event=event, calendar=gateway)
    patches = 0
    for _attempt in range(MAX_ATTEMPTS):
        decision = decide(ctx.event, keywords)
        if decision is None:
            return ctx.event, patches
        if ctx.event.get("eventType") == FROM_GMAIL:
            _LOGGER.info("join details skipped: Google lets nobody change an event created "
                         "from Gmail", extra=fields(user=user_id, action=decision.action,
                                                    reason="from_gmail"))
            return ctx.event, patches
        try:
            if decision.action == "write" and decision.match is not None:
                details = generate(ctx, decision.match.provider)
                block = joinblock.render(
                    joinblock.BlockContent(details.url, details.service_name, details.sip_uri,
                                           details.meeting_number),
                    locale=services.config.org_locale or user.get("locale"),
                    timezone=user.get("timezone"), created=services.clock.now())
                body = write_body(ctx.event, decision.match, details, block)
            else:
                body = remove_body(ctx.event)
            patches += 1
            patched = gateway.patch(ctx.event["id"], body, etag=ctx.event.get("etag"))
            _LOGGER.info("join details %s", "written" if decision.action == "write"
                         else "removed", extra=fields(user=user_id, action=decision.action))
            return patched, patches
        except EtagMismatch:
            _LOGGER.info("event changed under our patch, re-reading", extra=fields(user=user_id))
            try:
                fresh = gateway.get(ctx.event["id"])
            except GoneOrMissing:
                return ctx.event, patches
            ctx.event.clear()
            ctx.event.update(fresh)
        except GoneOrMissing:
            return ctx.event, patches
        except JoinDetailsPending:
            _LOGGER.info("join details pending: written when the meeting exists",
                         extra=fields(user=user_id, action=decision.action))
            return ctx.event, patches
        except GooglePermanentError as exc:  # after its subclasses above: a final refusal
            _LOGGER.warning("join details refused by Google: event skipped", extra=fields(
                user=user_id, action=decision.action, status=exc.status, reason=exc.reason))
            return ctx.event, patches
    raise TransientError("event kept changing while we patched it; retry later")
