"""Deactivation forgets everything kept about a user, and nothing about anyone else.

What to forget is derived from :mod:`shared.store.names`, so these tests check the two things
that keep that honest: every collection is classified, and after a user with a full footprint
(index, recurring series, join-notification claim, presence, sync state, data keys, channel)
is deactivated, the store holds nothing of theirs but the status record and stopped channels.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from shared.clock import to_rfc3339
from shared.store import names

pytestmark = pytest.mark.integration

ANN, BEN = "ann@example.com", "ben@example.com"


def test_every_collection_has_a_deactivation_rule() -> None:
    constants = {value for key, value in vars(names).items()
                 if key.isupper() and isinstance(value, str)}
    rules = [names.PER_USER_BY_KEY, names.PER_USER_BY_FIELD, names.PER_USER_HANDLED_APART,
             names.NOT_PER_USER]
    classified = [c for rule in rules for c in rule]
    assert sorted(classified) == sorted(constants)  # each exactly once


def _footprint(stack: Any, email: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored document of this user, by collection (read straight from SQLite)."""
    uid = stack.services.pseudonym(email)
    rows = sqlite3.connect(stack.data_dir / "hybridcal.sqlite3").execute(
        "SELECT collection, key, data FROM documents").fetchall()
    found: dict[str, list[dict[str, Any]]] = {}
    for collection, key, data in rows:
        doc = json.loads(data)
        if key == uid or doc.get("user_id") == uid or key.startswith(uid):
            found.setdefault(collection, []).append(doc)
    return found


def _busy_user(stack: Any, email: str) -> None:
    stack.add_user(email)
    assert stack.activate(email) == "active"
    start = stack.now() + timedelta(minutes=7)
    calendar = stack.calendar(email)
    calendar.events().insert(calendarId="primary", body={
        "summary": "Standup", "location": "@webex",
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    calendar.events().insert(calendarId="primary", body={
        "summary": "Weekly", "location": "https://example.webex.com/meet/team",
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
        "start": {"dateTime": to_rfc3339(start + timedelta(days=1)), "timeZone": "UTC"},
        "end": {"dateTime": to_rfc3339(start + timedelta(days=1, minutes=30)),
                "timeZone": "UTC"}}).execute()
    stack.gmail(email).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away"}).execute()


def test_deactivation_leaves_only_the_status_record_and_stopped_channels(stack) -> None:
    _busy_user(stack, ANN)
    _busy_user(stack, BEN)
    stack.settle()
    stack.advance(seconds=600)  # vacation poll and the join notification for the standup
    before = _footprint(stack, ANN)
    expected = {names.USERS, names.CHANNELS, names.SYNC, names.MEETINGS,
                names.SERIES, names.DATA_KEYS}
    assert expected <= set(before), "the scenario must touch every per-user collection"
    fields = set(names.USER_FIELDS_PER_FEATURE)
    assert all(before[names.USERS][0].get(f) for f in fields), "and every feature's field"

    from shared.users.provisioning import deactivate

    assert deactivate(stack.services, ANN) == "deactivated"

    after = _footprint(stack, ANN)
    assert set(after) == {names.USERS, names.CHANNELS}
    assert [d["status"] for d in after[names.USERS]] == ["deactivated"]
    assert [f for f in fields if after[names.USERS][0].get(f)] == []
    assert {d["state"] for d in after[names.CHANNELS]} == {"stopped"}
    assert _footprint(stack, BEN).keys() >= expected  # the other user keeps everything
    assert all(_footprint(stack, BEN)[names.USERS][0].get(f) for f in fields)
