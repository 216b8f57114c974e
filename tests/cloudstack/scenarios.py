"""Helpers of the CloudStack scenarios: act as users and admins, look at what is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.clock import to_rfc3339
from shared.store import names


def active(cloud: Any, *emails: str, **user: Any) -> None:
    for email in emails:
        cloud.add_user(email, **user)
        assert cloud.activate(email) == "active", cloud.user_status(email)


def insert(cloud: Any, email: str, summary: str, location: str, *, start: Any = None,
           minutes: int = 30, **extra: Any) -> dict[str, Any]:
    start = start or cloud.now() + timedelta(hours=2)
    return cloud.calendar(email).events().insert(calendarId="primary", body={  # type: ignore[no-any-return]
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=minutes))},
        **extra}).execute()


def footprint(cloud: Any, email: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored document of this user in Firestore, by collection."""
    uid = cloud.services.pseudonym(email)
    found: dict[str, list[dict[str, Any]]] = {}
    collections = (*names.PER_USER_BY_KEY, *names.PER_USER_BY_FIELD,
                   *names.PER_USER_HANDLED_APART, *names.NOT_PER_USER)
    for collection in collections:
        for key, doc in cloud.store.iter_all(collection):
            if key == uid or doc.get("user_id") == uid or key.startswith(uid):
                found.setdefault(collection, []).append(doc)
    return found


def live_channels(cloud: Any, email: str) -> list[dict[str, Any]]:
    now = cloud.now()
    return [c for c in cloud.sim.channels()
            if c["calendar"] == email and not c["stopped"] and c["expiration"] > now]
