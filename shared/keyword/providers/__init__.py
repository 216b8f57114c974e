"""Join-details providers: what a keyword in Location turns into.

A provider name comes from the keyword configuration (``HYBRIDCAL_KEYWORDS``, optionally
overridden per user by the ``keywords`` field of ``users/{user_id}``) or from a modifier
(``@meet:myroom``). Names: ``webex-personal-room``, ``webex-space``, ``google-meet``, ``jitsi``
(optionally ``jitsi:<base URL>``) and ``url:<template>`` (placeholders ``{name}``, ``{site}``,
``{event_id}``, ``{random}``). Providers that call a remote API fall back to something that
always works (the Personal Room) and log why, so a keyword never leaves an event without join
details.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.logs import fields

if TYPE_CHECKING:
    from shared.changes.sync import CalendarGateway
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class JoinDetails:
    """What gets written into the event; ``service`` is the joinlinks slug for the index."""

    url: str
    service: str
    service_name: str
    provider: str
    sip_uri: str | None = None
    meeting_number: str | None = None
    fallback_reason: str | None = None


@dataclass
class ProviderContext:
    """Everything a provider may need; ``calendar`` is the organizer's calendar."""

    services: Services
    user_id: str
    email: str
    user: Mapping[str, Any]
    event: dict[str, Any]
    calendar: CalendarGateway | None = None
    cache: dict[str, JoinDetails] = field(default_factory=dict)  # survives 412 re-evaluations


def keyword_map(services: Services, user: Mapping[str, Any] | None) -> dict[str, str]:
    """Deployment keywords with the user's own overrides on top (keys lower-cased)."""
    merged = {k.lower(): v for k, v in dict(services.config.keywords).items()}
    for keyword, provider in dict((user or {}).get("keywords") or {}).items():
        if isinstance(keyword, str) and keyword.startswith("@") and provider:
            merged[keyword.lower()] = str(provider)
    return merged


def generate(ctx: ProviderContext, provider: str) -> JoinDetails:
    """Join details for ``provider``; unknown names fall back to the Personal Room."""
    from shared.keyword.providers import google_meet, jitsi, template, webex

    cached = ctx.cache.get(provider)
    if cached is not None:
        return cached
    name, _, argument = provider.partition(":")
    if name == "webex-personal-room":
        details = webex.personal_room(ctx)
    elif name == "webex-space":
        details = webex.space_meeting(ctx)
    elif name == "google-meet":
        details = google_meet.meet(ctx)
    elif name == "jitsi":
        details = jitsi.room(ctx, argument or None)
    elif name == "url":
        details = template.from_template(ctx, argument)
    else:
        details = fallback(ctx, provider, "unknown_provider")
    ctx.cache[provider] = details
    return details


def fallback(ctx: ProviderContext, provider: str, reason: str) -> JoinDetails:
    """The Personal Room, with the reason logged (pseudonymous user only)."""
    from shared.keyword.providers import webex

    _LOGGER.warning("join details fell back to the Personal Room",
                    extra=fields(user=ctx.user_id, provider=provider, reason=reason))
    return dataclasses.replace(webex.personal_room(ctx), fallback_reason=reason,
                               provider=f"{provider}>webex-personal-room")
