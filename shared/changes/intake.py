"""Push intake: trust a Calendar push only if its channel exists and its token matches.

One store read and one publish; no Google call and no decryption, so Google gets its 2xx fast.
The message carries when the push was received, so processing can tell a push that a sync
already covered from one it must list for, without a write at either end.

What Google does with the answer (Calendar guide "Push notifications", responding to
notifications): 200, 201, 202, 204 and 102 acknowledge; 500, 502, 503 and 504 are retried with
exponential backoff; *every other status loses the notification*. So a push intake cannot take
in (a busy store or Pub/Sub: :class:`~shared.errors.TransientError`) is answered 503, and an
unexpected failure 500 — never 429, which Google would not retry. Refusals that must not be
retried (a forged token: 403, malformed headers: 400) are the only 4xx.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.errors import BadRequest
from shared.http.messages import HeaderLookup
from shared.logs import fields
from shared.store import names
from shared.users.watch import ACCEPTING, token_hash

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)
STATES = ("sync", "exists", "not_exists")
ORPHAN_STOPS_PER_MINUTE = 60


@dataclass(frozen=True)
class Outcome:
    name: str
    http_status: int


def accept_push(services: Services, headers: HeaderLookup) -> Outcome:
    """``headers`` are looked up by Google's mixed-case names: Flask's case-insensitive
    ``Headers`` deployed, or a dict holding those exact names."""
    channel_id = headers.get("X-Goog-Channel-ID") or ""
    state = headers.get("X-Goog-Resource-State") or ""
    number = headers.get("X-Goog-Message-Number") or ""
    if not channel_id or len(channel_id) > 256 or state not in STATES:
        raise BadRequest("missing or malformed X-Goog-Channel-ID / X-Goog-Resource-State")
    # isascii: str.isdigit() also accepts "²" or "①", which int() refuses (that was a 500)
    if not (number.isascii() and number.isdigit()) or len(number) > 20:
        raise BadRequest("missing or malformed X-Goog-Message-Number")
    channel = services.store.get(names.CHANNELS, channel_id)
    if channel is None:
        _LOGGER.info("push for an unknown channel acknowledged",
                     extra=fields(resource_state=state))
        _request_orphan_stop(services, channel_id, headers.get("X-Goog-Resource-ID") or "")
        return Outcome("orphan", 200)
    given = headers.get("X-Goog-Channel-Token") or ""
    if not hmac.compare_digest(token_hash(given), str(channel.get("token_hash", ""))):
        _LOGGER.warning("security: push with a wrong channel token refused",
                        extra=fields(user=channel.get("user_id"), security=True))
        return Outcome("forbidden", 403)
    if channel.get("state") not in ACCEPTING:  # "opening": its watch call has not answered
        return Outcome("stopped", 200)
    if state == "sync":  # the channel is open; nothing changed and nothing reads a mark of it
        return Outcome("sync_confirmed", 200)
    # ``received``: processing acknowledges the push without listing when a sync that began
    # after this moment was already committed (shared/changes/sync.py, "Coalescing").
    services.bus.publish(Topics.CALENDAR_CHANGES, {
        "user_id": channel["user_id"], "channel_id": channel_id,
        "message_number": int(number),
        "received": to_rfc3339(services.clock.now(), "milliseconds")},
        ordering_key=channel["user_id"])
    return Outcome("accepted", 200)


def _request_orphan_stop(services: Services, channel_id: str, resource_id: str) -> None:
    """Ask the renewal worker to stop a channel we do not know, at most once per channel and
    at most ``ORPHAN_STOPS_PER_MINUTE`` a minute, so forged pushes cannot make us a call
    amplifier. Stale channels die; a flood of made-up ids costs one counter write each."""
    if not resource_id or len(resource_id) > 256:
        return
    now = services.clock.now()
    expire_at = to_rfc3339(now + timedelta(days=1))

    def count(doc: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
        n = int((doc or {}).get("n", 0)) + 1
        return {"n": n, "expire_at": expire_at}, n

    if services.store.transact(names.RATELIMITS, f"orphan-stops|{now:%Y%m%d%H%M}", count) \
            > ORPHAN_STOPS_PER_MINUTE:
        _LOGGER.warning("orphan stop skipped: rate limit reached")
        return
    if not services.store.create(names.ORPHAN_STOPS, channel_id, {"expire_at": expire_at}):
        return  # already asked for this channel
    services.bus.publish(Topics.RENEW_USER, {"kind": "orphan", "channel_id": channel_id,
                                             "resource_id": resource_id})
