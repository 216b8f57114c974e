"""Push intake: trust a Calendar push only if its channel exists and its token matches.

One store read and one publish; no Google call and no decryption, so Google gets its 2xx fast.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.bus.base import Topics
from shared.errors import BadRequest
from shared.logs import fields
from shared.watch import token_hash

_LOGGER = logging.getLogger(__name__)
STATES = ("sync", "exists", "not_exists")


@dataclass(frozen=True)
class Outcome:
    name: str
    http_status: int


def accept_push(services: Any, headers: Mapping[str, str]) -> Outcome:
    channel_id = headers.get("X-Goog-Channel-ID") or ""
    state = headers.get("X-Goog-Resource-State") or ""
    number = headers.get("X-Goog-Message-Number") or ""
    if not channel_id or len(channel_id) > 256 or state not in STATES:
        raise BadRequest("missing or malformed X-Goog-Channel-ID / X-Goog-Resource-State")
    if not number.isdigit() or len(number) > 20:
        raise BadRequest("missing or malformed X-Goog-Message-Number")
    channel = services.store.get("channels", channel_id)
    if channel is None:
        _LOGGER.info("push for an unknown channel acknowledged",
                     extra=fields(resource_state=state))
        return Outcome("orphan", 200)
    given = headers.get("X-Goog-Channel-Token") or ""
    if not hmac.compare_digest(token_hash(given), str(channel.get("token_hash", ""))):
        _LOGGER.warning("security: push with a wrong channel token refused",
                        extra=fields(user=channel.get("user_id"), security=True))
        return Outcome("forbidden", 403)
    if channel.get("state") != "active":
        return Outcome("stopped", 200)
    if state == "sync":
        services.store.merge("channels", channel_id, {"confirmed": True})
        return Outcome("sync_confirmed", 200)
    services.bus.publish(Topics.CALENDAR_CHANGES, {
        "user_id": channel["user_id"], "channel_id": channel_id,
        "message_number": int(number)}, ordering_key=channel["user_id"])
    return Outcome("accepted", 200)
