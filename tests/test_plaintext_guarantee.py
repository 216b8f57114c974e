"""The data rule, checked end to end: user-written text never leaves the service in the clear.

The stack is driven like a real tenant with events whose title, description, location and
attendee addresses carry unique markers (and a vacation responder with markers); afterwards
every byte the service persisted (every file under the data dir: SQLite database, WAL, keyset),
every message it published on any topic (meeting index updates, join notifications, presence),
all log output and every meetings API answer to callers without rights are searched. Zero markers may be
found. Each feature issue extends the scenario with its own data.
"""

from __future__ import annotations

import io
import logging
import secrets
from datetime import timedelta

import pytest

from local.leakcheck import leaks, persisted_bytes, published_bytes
from shared import logs
from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration


def _markers() -> dict[str, str]:
    tag = secrets.token_hex(4)
    return {
        "title": f"TitleMarker{tag}",
        "description": f"DescriptionMarker{tag}",
        "location": f"LocationMarker{tag}",
        "attendee": f"attendeemarker{tag}",
        "vacation_subject": f"VacationSubjectMarker{tag}",
        "vacation_body": f"VacationBodyMarker{tag}",
    }


def _refused_api_answers(stack, email: str) -> bytes:
    """What callers without rights get from the meetings API (it must say nothing)."""
    import requests

    base = f"{stack.url('meetings_api')}/users/{email}"
    answers = []
    for token in (None, "not-a-token", stack.api_token("user:bob@example.com"),
                  stack.api_token("device:room-9@example.com")):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for path in ("/meetings", "/page", "/presence"):
            answer = requests.get(base + path, headers=headers, timeout=30)
            assert answer.status_code in (401, 403), (path, answer.status_code)
            answers.append(answer.content)
    return b"".join(answers)


def test_no_marker_is_persisted_published_or_logged(stack, capfd):
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    logging.getLogger().setLevel(logging.DEBUG)
    m = _markers()
    alice = "alice@example.com"
    stack.add_user(alice, locale="de", timezone="Europe/Berlin")
    stack.add_user("bob@example.com")
    assert stack.activate(alice) == "active"
    assert stack.activate("bob@example.com") == "active"

    cal = stack.calendar(alice)
    start = stack.now() + timedelta(minutes=8)
    attendees = [{"email": f"{m['attendee']}@external.example"}, {"email": "bob@example.com"}]
    cal.events().insert(calendarId="primary", sendUpdates="none", body={
        "summary": m["title"],
        "description": f"{m['description']} https://zoom.us/j/123456789?pwd=abc",
        "location": f"{m['location']} @webex",
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))},
        "attendees": attendees,
    }).execute()
    cal.events().insert(calendarId="primary", body={
        "summary": f"{m['title']} weekly",
        "description": m["description"],
        "location": m["location"],
        "start": {"dateTime": to_rfc3339(start + timedelta(hours=2)), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": to_rfc3339(start + timedelta(hours=3)), "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
        "attendees": attendees,
    }).execute()
    stack.settle()
    stack.gmail(alice).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True,
        "responseSubject": m["vacation_subject"],
        "responseBodyPlainText": m["vacation_body"],
    }).execute()
    stack.advance(minutes=15)  # vacation poll and join notifications run

    refused = _refused_api_answers(stack, alice)
    haystacks = {
        "api (refused callers)": refused,
        "persisted": persisted_bytes(stack),
        "published": published_bytes(stack),
        "logs": (stream.getvalue() + "".join(capfd.readouterr())).encode(),
    }
    assert haystacks["persisted"], "the scenario persisted nothing: the test would prove nothing"
    assert stack.published("meetings-updated"), "no meetings were indexed"
    assert stack.published("join-notifications"), "no join notification went out"
    # the responder was read (else its markers prove nothing) and only its window was kept
    assert stack.presence(alice)["status"] == "out_of_office"
    assert stack.published("presence-updated"), "no presence change was published"
    assert leaks(haystacks, m) == []


def test_reseal_moves_old_records_to_the_current_key_and_shredding_leaves_nothing_readable(
        stack):
    from shared.crypto.reseal import reseal_user
    from shared.crypto.sealer import UnknownDataKey
    from shared.store.base import Filter

    alice = "alice@example.com"
    stack.add_user(alice)
    assert stack.activate(alice) == "active"
    start = stack.now() + timedelta(days=40)
    stack.calendar(alice).events().insert(calendarId="primary", body={
        "summary": "Later", "location": "@webex", "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.calendar(alice).events().insert(calendarId="primary", body={
        "summary": "Soon", "location": "@webex",
        "start": {"dateTime": to_rfc3339(stack.now() + timedelta(days=1))},
        "end": {"dateTime": to_rfc3339(stack.now() + timedelta(days=1, hours=1))}}).execute()
    stack.settle()
    services, user_id = stack.services, stack.services.pseudonym(alice)
    rows = lambda: services.store.query("meetings", [Filter("user_id", "==", user_id)])  # noqa: E731
    old_keys = {services.sealer.key_id_of(doc["blob"]) for _, doc in rows()}
    assert old_keys
    stack.clock.advance(days=31)
    assert reseal_user(services, alice) == len(rows())
    new_keys = {services.sealer.key_id_of(doc["blob"]) for _, doc in rows()}
    assert new_keys.isdisjoint(old_keys)
    key, doc = rows()[0]
    assert services.sealer.open(user_id, f"meetings|{key}", doc["blob"])["join_url"]
    services.sealer.shred_user(user_id)
    with pytest.raises(UnknownDataKey):
        services.sealer.open(user_id, f"meetings|{key}", doc["blob"])


def test_published_meetings_open_with_kms_rights_alone_and_deactivation_shreds(stack):
    from shared.crypto.sealer import UnknownDataKey, open_published
    from shared.keys.local import LocalKeysetKek
    from shared.users.provisioning import deactivate

    alice = "alice@example.com"
    stack.add_user(alice)
    assert stack.activate(alice) == "active"
    start = stack.now() + timedelta(hours=3)
    stack.calendar(alice).events().insert(calendarId="primary", body={
        "summary": "Budget", "location": "@webex", "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()
    envelope = stack.published("meetings-updated")[-1]
    consumer_kek = LocalKeysetKek(stack.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    changes = open_published(envelope, consumer_kek)["changes"]
    assert any(c["record"] and "Budget" in str(c) for c in changes)

    user_id = stack.services.pseudonym(alice)
    blob = stack.services.store.query("meetings")[0][1]["blob"]
    place = "meetings|" + stack.services.store.query("meetings")[0][0]
    assert deactivate(stack.services, alice) == "deactivated"
    assert stack.user_status(alice)["status"] == "deactivated"
    assert stack.services.store.query("meetings") == []
    assert any(c["stopped"] for c in stack.sim.channels())
    with pytest.raises(UnknownDataKey):
        stack.services.sealer.open(user_id, place, blob)
    before = stack.api_calls()["calendar.events.list"]
    stack.calendar(alice).events().insert(calendarId="primary", body={
        "summary": "After", "location": "@webex", "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()
    assert stack.api_calls()["calendar.events.list"] == before  # nothing processed any more
