"""Google Meet through ``conferenceData.createRequest`` (``conferenceDataVersion=1``).

Creating the conference is itself an ``events.patch``: the Meet link only exists in Google's
answer, so Meet costs one patch more than the other providers. Google ignores a
``createRequest`` whose ``requestId`` it has seen for the event before (Events reference:
"Clients should regenerate this ID for every new request"), so the id is derived from the
event *and its etag*: a retry of the same request (same etag) cannot create a second
conference, and a new request after the event changed (``@meet`` typed again after its
conference was removed) gets a fresh id and a fresh conference. Creation is asynchronous: an
answer with ``statusCode: pending`` and no link yet writes nothing
(:class:`~shared.keyword.providers.base.JoinDetailsPending`); Google's completion changes the
event, whose sync then finds the link. Some accounts may not create Meet conferences (Google
answers 400/403, or ``failure``): then the Personal Room is used and the reason logged.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from shared.google.errors import EtagMismatch, GooglePermanentError
from shared.keyword.providers.base import JoinDetails, JoinDetailsPending, ProviderContext
from shared.keyword.providers.webex import fallback

_LOGGER = logging.getLogger(__name__)


def meet_link(event: Mapping[str, Any]) -> str | None:
    """The Meet video entry point already on the event, if any."""
    conference = event.get("conferenceData") or {}
    for entry in conference.get("entryPoints") or []:
        if entry.get("entryPointType") == "video" and entry.get("uri"):
            uri: str = entry["uri"]
            return uri
    hangout_link: str | None = event.get("hangoutLink")
    return hangout_link


def meet(ctx: ProviderContext) -> JoinDetails:
    link = meet_link(ctx.event)
    if link is None:
        if ctx.calendar is None:
            return fallback(ctx, "google-meet", "no_calendar")
        if _pending(ctx.event):
            raise JoinDetailsPending("Meet conference creation still pending")
        request_id = hashlib.sha256(
            f"{ctx.user_id}|{ctx.event.get('id')}|{ctx.event.get('etag')}".encode()).hexdigest()
        body = {"conferenceData": {"createRequest": {
            "requestId": request_id[:32], "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}
        try:
            updated = ctx.calendar.patch(ctx.event["id"], body, etag=ctx.event.get("etag"),
                                         conference_data_version=1)
        except EtagMismatch:
            raise
        except GooglePermanentError as exc:
            return fallback(ctx, "google-meet", f"google_refused_{exc.status}_{exc.reason}")
        link = meet_link(updated)
        if link is None and _pending(updated):
            ctx.event.clear()
            ctx.event.update(updated)
            raise JoinDetailsPending("Meet conference creation pending")
        if link is None:
            return fallback(ctx, "google-meet", "no_meet_link_in_answer")
        ctx.event.clear()
        ctx.event.update(updated)  # the caller continues from the new etag
    return JoinDetails(url=link, service="google-meet", service_name="Google Meet",
                       provider="google-meet")


def _pending(event: Mapping[str, Any]) -> bool:
    request = (event.get("conferenceData") or {}).get("createRequest") or {}
    return bool((request.get("status") or {}).get("statusCode") == "pending")
