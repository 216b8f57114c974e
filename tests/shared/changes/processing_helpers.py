"""Helpers for the processing tests: act as users through the stack, look at what they see."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.store.base import Filter


def activate(stack: Any, email: str) -> str:
    """Activate through provisioning when it exists; otherwise write the active user document
    and ask for the initial sync, as provisioning would."""
    from shared.users import provisioning

    if hasattr(provisioning, "activate_now"):
        return stack.activate(email)
    services = stack.services
    user_id = services.pseudonym(email)
    settings = stack.calendar(email).settings()
    locale = settings.get(setting="locale").execute().get("value", "en")
    timezone = settings.get(setting="timezone").execute().get("value", "UTC")
    services.store.put("users", user_id, {
        "email": email, "user_id": user_id, "kind": "user", "status": "active",
        "locale": locale, "timezone": timezone, "activated_at": to_rfc3339(stack.now())})
    services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id, "reason": "initial"},
                         ordering_key=user_id)
    stack.settle()
    return "active"


def has_live_channel(stack: Any, email: str) -> bool:
    user_id = stack.services.pseudonym(email)
    rows = stack.services.store.query("channels", [Filter("user_id", "==", user_id)])
    return any(doc.get("state") != "stopped" for _key, doc in rows)


_numbers: dict[str, int] = {}


def push(stack: Any, email: str) -> Counter:
    """Deliver what Google would: a push for the user's calendar (the simulator's own when a
    watch exists, else the message intake would publish), then settle. Returns the Google
    calls the service made meanwhile (the test's own calls are outside this window)."""
    before = stack.api_calls()
    if not has_live_channel(stack, email) or stack.sim.pending_pushes() == 0:
        user_id = stack.services.pseudonym(email)
        _numbers[user_id] = _numbers.get(user_id, 1) + 1
        stack.services.bus.publish(
            Topics.CALENDAR_CHANGES,
            {"user_id": user_id, "channel_id": "test-channel", "message_number": _numbers[user_id]},
            ordering_key=user_id)
    stack.settle()
    return stack.api_calls() - before


def event_body(summary: str, location: str, *, attendees: list[str] = (), start_in_hours: int = 2,
               stack: Any, description: str = "", **extra: Any) -> dict[str, Any]:
    start = stack.now() + timedelta(hours=start_in_hours)
    return {
        "summary": summary, "location": location, "description": description,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(hours=1))},
        "attendees": [{"email": a} for a in attendees], **extra,
    }


def create(stack: Any, email: str, body: dict[str, Any]) -> tuple[dict[str, Any], Counter]:
    """The user creates an event; returns it and the service's Google calls that followed."""
    event = stack.calendar(email).events().insert(calendarId="primary", body=body).execute()
    return event, push(stack, email)


def edit(stack: Any, email: str, event_id: str, changes: dict[str, Any]) -> Counter:
    """The user edits an event; returns the service's Google calls that followed."""
    stack.calendar(email).events().patch(calendarId="primary", eventId=event_id,
                                         body=changes).execute()
    return push(stack, email)


def get(stack: Any, email: str, event_id: str) -> dict[str, Any]:
    return stack.calendar(email).events().get(calendarId="primary", eventId=event_id).execute()


def meetings(stack: Any, email: str) -> dict[str, dict[str, Any]]:
    """The user's index records, sealed blobs opened: event_id → clear fields + ``sealed``."""
    services = stack.services
    user_id = services.pseudonym(email)
    rows = services.store.query("meetings", [Filter("user_id", "==", user_id)])
    return {doc["event_id"]: {**doc, "sealed": services.sealer.open(user_id, f"meetings|{key}",
                                                                     doc["blob"])}
            for key, doc in rows}

