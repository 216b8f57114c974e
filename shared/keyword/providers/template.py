"""A generic URL template for services without an API (``url:https://video.example.com/{name}``).
"""

from __future__ import annotations

import secrets
import string
from urllib.parse import quote, urlsplit

from shared.keyword.providers.base import JoinDetails, ProviderContext
from shared.keyword.providers.webex import fallback, room_name

_FIELDS = {"name", "site", "event_id", "random"}


def from_template(ctx: ProviderContext, template: str) -> JoinDetails:
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if not template.startswith("https://") or not names <= _FIELDS:
        return fallback(ctx, "url", "bad_url_template")
    values = {
        "name": quote(room_name(ctx.email, ctx.user)),
        "site": quote(ctx.services.config.webex_site),
        "event_id": quote(str(ctx.event.get("id", ""))),
        "random": secrets.token_hex(16),
    }
    url = template.format(**values)
    host = urlsplit(url).hostname or "link"
    return JoinDetails(url=url, service="custom", service_name=host, provider="url")
