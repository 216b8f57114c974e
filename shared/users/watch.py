"""Calendar push channels: start one for a user, stop one, record them hashed.

The channel token is random per channel and stored only as a SHA-256 hash, so a store leak does
not let anyone forge pushes; intake compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from shared.clock import to_rfc3339
from shared.google.errors import call_google

COLLECTION = "channels"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_channel(services: Any, user_id: str, email: str,
                  calendar_id: str = "primary") -> dict[str, Any]:
    """``events.watch`` on a calendar (the user's primary, or a room's acting as ``email``);
    returns the stored channel doc."""
    channel_id = f"hc-{uuid.uuid4()}"
    token = secrets.token_urlsafe(32)
    calendar = services.workspace.calendar(email)
    answer = call_google(lambda: calendar.events().watch(calendarId=calendar_id, body={
        "id": channel_id, "type": "web_hook", "address": services.config.intake_url,
        "token": token, "params": {"ttl": str(services.config.watch_ttl_seconds)},
    }).execute(), sleep=services.sleep)
    expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000,
                                     tz=services.clock.now().tzinfo) \
        if answer.get("expiration") else services.clock.now() + timedelta(
            seconds=services.config.watch_ttl_seconds)
    doc = {"user_id": user_id, "resource_id": answer["resourceId"],
           "token_hash": token_hash(token), "expires": to_rfc3339(expires), "state": "active",
           "confirmed": False, "created": to_rfc3339(services.clock.now())}
    services.store.put(COLLECTION, channel_id, doc)
    return {"id": channel_id, **doc}


def stop_channel(services: Any, email: str, channel_id: str, resource_id: str, *,
                 record: bool = True) -> None:
    """``channels.stop``; a channel Google no longer knows is already stopped.

    ``record=False`` for channels we never recorded (orphans): no document is created for them.
    """
    from shared.google.errors import GoneOrMissing

    calendar = services.workspace.calendar(email)
    try:
        call_google(lambda: calendar.channels().stop(body={
            "id": channel_id, "resourceId": resource_id}).execute(), sleep=services.sleep)
    except GoneOrMissing:
        pass
    if record:
        services.store.merge(COLLECTION, channel_id, {"state": "stopped"})
