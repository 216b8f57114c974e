"""Webex Personal Rooms (a URL template, no API call) and space meetings (Webex REST API).

A space meeting is a Webex space named after the event's subject plus a meeting attached to it
(``POST /rooms`` then ``POST /meetings`` with ``roomId``), so the conversation lives on after the
call. Without a token, or when the API fails, the organizer's Personal Room is used instead and
the reason is logged.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from typing import Any

from shared.keyword.providers.base import JoinDetails, ProviderContext
from shared.logs import fields

_LOGGER = logging.getLogger(__name__)
_NAME_SAFE = re.compile(r"[^a-z0-9._-]")
TIMEOUT_SECONDS = 10


def room_name(email: str, user: Mapping[str, Any] | None) -> str:
    """Personal Room name: the user's setting, else their email's local part, URL-safe."""
    name = str((user or {}).get("webex_name") or email.split("@", 1)[0]).lower()
    return _NAME_SAFE.sub("", name) or "room"


def personal_room(ctx: ProviderContext) -> JoinDetails:
    site = ctx.services.config.webex_site
    name = room_name(ctx.email, ctx.user)
    return JoinDetails(url=f"https://{site}.webex.com/meet/{name}", service="webex",
                       service_name="Webex", provider="webex-personal-room",
                       sip_uri=f"{name}@{site}.webex.com")


def space_meeting(ctx: ProviderContext) -> JoinDetails:
    config = ctx.services.config
    if not config.webex_token:
        return fallback(ctx, "webex-space", "no_webex_token")
    try:
        details = _create_space_meeting(ctx, config.webex_api_url, config.webex_token)
    except _WebexApiError as exc:
        return fallback(ctx, "webex-space", exc.reason)
    return details


class _WebexApiError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _post(base: str, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    import requests

    try:
        response = requests.post(base + path, json=body, timeout=TIMEOUT_SECONDS,
                                 headers={"Authorization": f"Bearer {token}"})
    except requests.RequestException as exc:
        raise _WebexApiError(f"webex_unreachable:{type(exc).__name__}") from None
    if response.status_code >= 300:
        raise _WebexApiError(f"webex_{path}_http_{response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        raise _WebexApiError(f"webex_{path}_bad_json") from None
    if not isinstance(payload, dict):  # a JSON array or scalar has no .get: was an AttributeError
        raise _WebexApiError(f"webex_{path}_bad_json")
    return payload


def _create_space_meeting(ctx: ProviderContext, base: str, token: str) -> JoinDetails:
    event = ctx.event
    title = str(event.get("summary") or "Meeting")[:128]
    room = _post(base, "rooms", token, {"title": title})
    if not room.get("id"):
        raise _WebexApiError("webex_rooms_no_id")
    start = (event.get("start") or {}).get("dateTime") or (event.get("start") or {}).get("date")
    end = (event.get("end") or {}).get("dateTime") or (event.get("end") or {}).get("date")
    meeting = _post(base, "meetings", token,
                    {"title": title, "roomId": room["id"], "start": start, "end": end})
    if not meeting.get("webLink"):
        raise _WebexApiError("webex_meetings_no_link")
    return JoinDetails(url=meeting["webLink"], service="webex", service_name="Webex",
                       provider="webex-space", sip_uri=meeting.get("sipAddress"),
                       meeting_number=str(meeting["meetingNumber"])
                       if meeting.get("meetingNumber") else None)


def fallback(ctx: ProviderContext, provider: str, reason: str) -> JoinDetails:
    """The Personal Room, with the reason logged (pseudonymous user only)."""
    _LOGGER.warning("join details fell back to the Personal Room",
                    extra=fields(user=ctx.user_id, provider=provider, reason=reason))
    return dataclasses.replace(personal_room(ctx), fallback_reason=reason,
                               provider=f"{provider}>webex-personal-room")
