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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.keyword.providers import google_meet, jitsi, template, webex
from shared.keyword.providers.base import JoinDetails, ProviderContext
from shared.keyword.providers.webex import fallback

if TYPE_CHECKING:
    from shared.runtime import Services

__all__ = ["JoinDetails", "ProviderContext", "fallback", "generate", "keyword_map"]


def keyword_map(services: Services, user: Mapping[str, Any] | None) -> dict[str, str]:
    """Deployment keywords with the user's own overrides on top (keys lower-cased)."""
    merged = {k.lower(): v for k, v in dict(services.config.keywords).items()}
    for keyword, provider in dict((user or {}).get("keywords") or {}).items():
        if isinstance(keyword, str) and keyword.startswith("@") and provider:
            merged[keyword.lower()] = str(provider)
    return merged


def generate(ctx: ProviderContext, provider: str) -> JoinDetails:
    """Join details for ``provider``; unknown names fall back to the Personal Room."""
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
