"""Jitsi Meet: a room on a configurable base URL whose name cannot be guessed.

Jitsi rooms are open to anyone who knows the name, so the name carries 128 random bits.
"""

from __future__ import annotations

import secrets

from shared.keyword.providers.base import JoinDetails, ProviderContext

DEFAULT_BASE = "https://meet.jit.si/"


def room(ctx: ProviderContext, base: str | None = None) -> JoinDetails:
    base = base or getattr(ctx.services.config, "jitsi_base_url", None) or DEFAULT_BASE
    name = "hybridcal-" + secrets.token_hex(16)
    return JoinDetails(url=base.rstrip("/") + "/" + name, service="jitsi",
                       service_name="Jitsi Meet", provider="jitsi")
