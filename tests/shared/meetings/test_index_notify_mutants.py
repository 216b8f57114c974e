"""Which index records owe a join notification: :func:`shared.meetings.index.notify_fields`.

The notifier's tick queries ``notify_at`` only, so this decides who is notified at all: driven
through :func:`shared.meetings.index.upsert` with the real store and sealer on a fake clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.meetings import index
from tests.direct import google_free_services

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ZOOM = "https://zoom.us/j/81234567890?pwd=abc"
START = "2026-11-30T14:00:00Z"


@pytest.fixture
def services(tmp_path):
    yield from google_free_services(tmp_path, NOW)


def _upsert(services, etag='"1"', start=START, **extra):
    event = {"id": "e1", "summary": "Planning", "location": ZOOM, "start": {"dateTime": start},
             "end": {"dateTime": "2026-11-30T15:00:00Z"}, "updated": "u", "etag": etag, **extra}
    return index.upsert(services, "u1", "anna@example.com", event, None)


def _record(services):
    return services.store.get(index.COLLECTION, "u1|e1")


def test_a_joinable_meeting_owes_a_notification_at_its_start(services):
    _upsert(services)
    assert _record(services)["notify_at"] == START
    assert "notified" not in _record(services)  # only the notifier writes it


@pytest.mark.parametrize("extra", [
    {"location": "Room 4"},  # no join URL, no SIP URI
    {"status": "cancelled"},
    {"attendees": [{"email": "anna@example.com", "responseStatus": "declined"}]},
])
def test_a_meeting_that_cannot_or_will_not_be_joined_owes_nothing(services, extra):
    _upsert(services, **extra)
    assert _record(services)["notify_at"] == ""


def test_an_all_day_event_owes_nothing(services):
    index.upsert(services, "u1", "anna@example.com", {
        "id": "e1", "location": ZOOM, "start": {"date": "2026-11-30"},
        "end": {"date": "2026-12-01"}}, None)
    assert _record(services)["notify_at"] == ""


def test_a_sip_uri_alone_is_enough_and_a_tentative_answer_still_owes(services):
    _upsert(services, location="Room sip:room@example.webex.com",
            attendees=[{"email": "anna@example.com", "responseStatus": "tentative"}])
    assert _record(services)["notify_at"] == START


def test_an_edit_after_the_notification_owes_nothing_but_a_new_start_does(services):
    _upsert(services)
    services.store.merge(index.COLLECTION, "u1|e1", {"notify_at": "", "notified": START})
    assert _upsert(services, etag='"2"', summary="Planning (room 5)") is not None
    assert (_record(services)["notify_at"], _record(services)["notified"]) == ("", START)
    _upsert(services, etag='"3"', start="2026-11-30T14:30:00Z")
    assert (_record(services)["notify_at"], _record(services)["notified"]) == (
        "2026-11-30T14:30:00Z", START)


def test_an_unchanged_event_is_not_rewritten_once_notified(services):
    _upsert(services)
    services.store.merge(index.COLLECTION, "u1|e1", {"notify_at": "", "notified": START})
    assert _upsert(services) is None


def test_a_record_from_before_notify_at_is_rewritten_to_owe_its_notification(services):
    _upsert(services)
    legacy = {k: v for k, v in _record(services).items() if k != "notify_at"}
    services.store.put(index.COLLECTION, "u1|e1", legacy)
    assert _upsert(services) is not None
    assert _record(services)["notify_at"] == START


def test_the_indexer_keeps_the_notifiers_mark_it_did_not_read(services):
    # The notifier marked the record between the indexer's read and its write: a whole-record
    # write of the indexer's stale copy would undo the mark (and notify twice).
    _upsert(services)
    store = services.store
    real_get = store.get

    def get_then_notifier_marks(collection, key):
        doc = real_get(collection, key)
        store.merge(index.COLLECTION, "u1|e1", {"notify_at": "", "notified": START})
        return doc

    store.get = get_then_notifier_marks
    _upsert(services, etag='"2"', summary="Planning (room 5)")
    store.get = real_get
    assert _record(services)["notified"] == START


def test_the_notifiers_fields_are_not_listed_to_clients(services):
    _upsert(services)
    services.store.merge(index.COLLECTION, "u1|e1", {"notified": "2026-11-30T13:00:00Z"})
    (listed,) = index.snapshot(services, "u1")
    assert "notify_at" not in listed.record and "notified" not in listed.record
