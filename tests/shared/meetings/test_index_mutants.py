"""What the meetings index keeps for a user, found untested by mutation testing (#22).

The index is what the meetings list (API, page, room devices) and the ``meetings-updated``
messages show: these tests drive ``shared.meetings.index`` with the real store and sealer on a
fake clock and check what a user would see: which meetings are listed, at what time, with which
join link, response and organizer flag, and that a changed or cancelled meeting is updated.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import googleapiclient.discovery  # noqa: F401
import pytest
import tink.aead  # noqa: F401

import shared.google.factory  # noqa: F401
from shared.config import Config
from shared.keyword import joinblock
from shared.keyword.event_patch import KEY_HASH
from shared.meetings import index
from shared.store import names
from tests.direct import (
    NoGoogle,
    SimulatedBackoff,
    google_free_services,
    running_simulator,
    workspace_factory,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ZOOM = "https://zoom.us/j/81234567890?pwd=abc"
MEET = {"entryPoints": [{"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}}}
# googleapiclient, Tink and the factory are imported above, not on first use: the mutation
# run's fork server collects this module once, so each mutant's run starts with them loaded.
_backoff = SimulatedBackoff(NOW)
_people = itertools.count(1)


@pytest.fixture(scope="module")
def sim():
    yield from running_simulator(NOW)


@pytest.fixture(scope="module")
def factory(sim):
    return workspace_factory(sim, _backoff)


@pytest.fixture
def services(tmp_path):
    yield from google_free_services(tmp_path, NOW)


def _at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def _event(event_id="e1", start=2.0, minutes=30, **extra):
    return {"id": event_id, "start": {"dateTime": _at(start)},
            "end": {"dateTime": _at(start + minutes / 60)}, "updated": "u1", "etag": '"1"',
            **extra}


def _listed(services, user="u1"):
    return {c.record["event_id"]: c.record for c in index.snapshot(services, user)}


def test_an_indexed_meeting_shows_what_the_user_sees_in_their_calendar(services):
    event = _event(summary="Planning", location="Room 4", description=f"Join {ZOOM}",
                   organizer={"email": "Boss@Example.com"},
                   attendees=[{"email": "ANNA@example.com", "responseStatus": "tentative"},
                              {"email": "boss@example.com", "responseStatus": "accepted"}])
    change = index.upsert(services, "u1", "anna@example.com", event, None)
    assert change is not None and change.op == "upsert" and change.key == "u1|e1"
    record = _listed(services)["e1"]
    assert record == {k: v for k, v in change.record.items()}
    assert "blob_hash" not in record and "blob" not in record
    assert record["title"] == "Planning" and record["location"] == "Room 4"
    assert record["join_url"] == ZOOM and record["service"] == "zoom"
    assert record["response_status"] == "tentative"
    assert record["organizer"] is False and record["organizer_email"] == "Boss@Example.com"
    assert record["attendees"] == [{"email": "ANNA@example.com", "response": "tentative"},
                                   {"email": "boss@example.com", "response": "accepted"}]
    assert (record["start"], record["end"]) == (_at(2), _at(2.5))
    assert record["status"] == "confirmed" and record["all_day"] is False
    assert record["series_id"] == "" and record["user_id"] == "u1"


def test_the_organizer_sees_their_meeting_as_theirs_and_accepted(services):
    index.upsert(services, "u1", "anna@example.com",
                 _event(organizer={"email": "ANNA@example.com"}), None)
    index.upsert(services, "u1", "anna@example.com",
                 _event("e2", organizer={"email": "x@example.com", "self": True}), None)
    index.upsert(services, "u1", "anna@example.com",
                 _event("e3", attendees=[{"email": "x@example.com", "self": True,
                                          "responseStatus": "declined"}]), None)
    listed = _listed(services)
    assert listed["e1"]["organizer"] is True
    assert listed["e2"]["organizer"] is True and listed["e2"]["response_status"] == "accepted"
    assert listed["e3"]["organizer"] is False and listed["e3"]["response_status"] == "declined"


def test_a_meeting_without_title_location_or_link_is_listed_plainly(services):
    index.upsert(services, "u1", "anna@example.com", _event(status=None, updated=None,
                                                             etag=None), "s1")
    record = _listed(services)["e1"]
    assert (record["title"], record["location"], record["join_url"]) == ("", "", None)
    assert record["service"] == "" and record["status"] == "confirmed"
    assert record["series_id"] == "s1" and record["response_status"] is None
    # No stamps from Google: the app gets none either, not invented ones.
    assert (record["updated"], record["etag"]) == ("", "")


def test_times_in_any_offset_are_stored_in_utc_and_all_day_events_are_marked(services):
    index.upsert(services, "u1", "a@example.com", {
        "id": "e1", "start": {"dateTime": "2026-11-30T15:00:00+02:00"},
        "end": {"dateTime": "2026-11-30T16:00:00+02:00"}}, None)
    index.upsert(services, "u1", "a@example.com", {
        "id": "e2", "start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}}, None)
    listed = _listed(services)
    # stored in UTC: due notifications and the window compare these strings as times
    assert (listed["e1"]["start"], listed["e1"]["end"]) == ("2026-11-30T13:00:00Z",
                                                            "2026-11-30T14:00:00Z")
    assert listed["e1"]["all_day"] is False
    assert (listed["e2"]["start"], listed["e2"]["end"]) == ("2026-12-01T00:00:00Z",
                                                            "2026-12-02T00:00:00Z")
    assert listed["e2"]["all_day"] is True


@pytest.mark.parametrize(("start", "minutes", "listed"), [
    (-24.5, 30, False),  # ended exactly when the window opens (a day ago)
    (-24.5, 31, True),  # still running a minute into the window
    (28 * 24, 30, False),  # starts exactly when the window closes (28 days ahead)
    (28 * 24 - 0.5, 30, True),
])
def test_the_index_keeps_meetings_from_yesterday_to_four_weeks_ahead(services, start, minutes,
                                                                     listed):
    index.upsert(services, "u1", "a@example.com", _event(start=start, minutes=minutes), None)
    assert ("e1" in _listed(services)) is listed


def test_a_meeting_moved_out_of_the_window_or_losing_its_times_is_removed(services):
    index.upsert(services, "u1", "a@example.com", _event(), None)
    change = index.upsert(services, "u1", "a@example.com", _event(start=40 * 24), None)
    assert change == index.Change("u1|e1", "delete")
    index.upsert(services, "u1", "a@example.com", _event(), None)
    assert index.upsert(services, "u1", "a@example.com", {"id": "e1"}, None).op == "delete"
    assert index.upsert(services, "u1", "a@example.com", {"id": "e1"}, None) is None


def test_an_unchanged_meeting_publishes_nothing_and_a_changed_one_does(services):
    assert index.upsert(services, "u1", "a@example.com", _event(), None) is not None
    assert index.upsert(services, "u1", "a@example.com", _event(), None) is None
    change = index.upsert(services, "u1", "a@example.com", _event(etag='"2"', summary="New"),
                          None)
    assert change is not None and change.record["title"] == "New"
    assert _listed(services)["e1"]["title"] == "New"


def test_a_series_loses_only_the_occurrences_not_kept_and_only_for_its_user(services):
    for user in ("u1", "u2"):
        for n in range(3):
            index.upsert(services, user, "a@example.com", _event(f"s_{n}", start=2 + n), "s")
    index.upsert(services, "u1", "a@example.com", _event("other", start=1), "t")
    changes = index.delete_series(services, "u1", "s", keep={"u1|s_0"})
    assert sorted(c.key for c in changes) == ["u1|s_1", "u1|s_2"]
    assert all(c.op == "delete" for c in changes)
    assert sorted(_listed(services, "u1")) == ["other", "s_0"]
    assert len(_listed(services, "u2")) == 3
    assert sorted(c.key for c in index.delete_series(services, "u1", "s")) == ["u1|s_0"]


def test_clearing_a_user_drops_their_meetings_and_series_and_nobody_elses(services):
    for user in ("u1", "u2"):
        index.upsert(services, user, "a@example.com", _event(), None)
        services.store.put(names.SERIES, index.record_key(user, "s"),
                           {"user_id": user, "event_id": "s"})
    assert index.series_ids(services, "u1") == ["s"]
    assert index.clear_user(services, "u1") == 1
    assert _listed(services, "u1") == {} and index.series_ids(services, "u1") == []
    assert list(_listed(services, "u2")) == ["e1"] and index.series_ids(services, "u2") == ["s"]


def test_a_cancelled_meeting_disappears_and_a_cancelled_series_takes_its_occurrences(services):
    index.upsert(services, "u1", "a@example.com", _event("single"), None)
    for n in range(2):
        index.upsert(services, "u1", "a@example.com", _event(f"s_{n}", start=3 + n), "s")
    services.store.put(names.SERIES, "u1|s", {"user_id": "u1", "event_id": "s"})
    gateway = NoGoogle()
    changes = index.index_event(services, gateway, "u1", "a@example.com",
                                {"id": "s_1", "status": "cancelled", "recurringEventId": "s"})
    assert [c.key for c in changes] == ["u1|s_1"]
    assert sorted(_listed(services)) == ["s_0", "single"]
    assert index.series_ids(services, "u1") == ["s"]
    changes = index.index_event(services, gateway, "u1", "a@example.com",
                                {"id": "s", "status": "cancelled"})
    assert [c.key for c in changes] == ["u1|s_0"]
    assert index.series_ids(services, "u1") == []
    changes = index.index_event(services, gateway, "u1", "a@example.com",
                                {"id": "single", "status": "cancelled"})
    assert [(c.key, c.op) for c in changes] == [("u1|single", "delete")]
    assert _listed(services) == {}


def _block(url, sip=None):
    return joinblock.render(joinblock.BlockContent(url, "Video", sip), locale="en",
                            timezone="UTC", created=NOW)


def _ours(description, **extra):
    return {"description": description,
            "extendedProperties": {"private": {KEY_HASH: "h"}}, **extra}


def test_a_join_block_copied_by_hand_does_not_beat_googles_meet_link():
    copied = {"description": _block("https://example.webex.com/meet/other"),
              "conferenceData": MEET}
    assert index.join_details(copied)[0] == "https://meet.google.com/abc-defg-hij"


def test_our_block_with_an_unknown_service_is_listed_as_custom_without_sip():
    assert index.join_details(_ours(_block("https://video.example.org/room/42"))) == (
        "https://video.example.org/room/42", "custom", None)


def test_our_block_and_the_event_name_a_self_hosted_service_only_on_our_domains(services):
    url = "https://meet.example.com/anna/ABCD1234"
    assert index.join_details(_ours(_block(url)), ("example.com",))[1] == "skype-for-business"
    assert index.join_details(_ours(_block(url)))[1] == "custom"
    services.config = Config(org_domains=("example.com",))
    index.upsert(services, "u1", "a@example.com", _event(location=url), None)
    assert _listed(services)["e1"]["service"] == "skype-for-business"


def test_the_sip_address_comes_from_location_then_description(services):
    sip_a, sip_b = "sip:anna@example.webex.com", "sip:room@example.webex.com"
    index.upsert(services, "u1", "a@example.com",
                 _event("e1", location=f"Room {sip_a}", description=f"Dial {sip_b}"), None)
    index.upsert(services, "u1", "a@example.com", _event("e2", description=f"Dial {sip_b}"),
                 None)
    listed = _listed(services)
    assert (listed["e1"]["sip_uri"], listed["e2"]["sip_uri"]) == (sip_a, sip_b)
    assert index.join_details(_ours(_block(ZOOM, sip_b)))[2] == sip_b


def test_a_tentative_meeting_is_listed_as_tentative(services):
    index.upsert(services, "u1", "a@example.com", _event(status="tentative"), None)
    assert _listed(services)["e1"]["status"] == "tentative"


def test_an_occurrence_with_a_start_but_no_end_is_not_listed(services):
    event = _event()
    del event["end"]
    assert index.upsert(services, "u1", "a@example.com", event, None) is None
    assert _listed(services) == {}


def test_a_change_google_stamps_as_updated_is_published_even_with_the_same_etag(services):
    index.upsert(services, "u1", "a@example.com", _event(), None)
    change = index.upsert(services, "u1", "a@example.com", _event(updated="u2", summary="New"),
                          None)
    assert change is not None and change.record["title"] == "New"


def test_a_snapshot_lists_every_meeting_as_an_upsert_under_its_key(services):
    index.upsert(services, "u1", "a@example.com", _event(), None)
    assert [(c.key, c.op) for c in index.snapshot(services, "u1")] == [("u1|e1", "upsert")]


def test_a_series_is_listed_per_occurrence_and_follows_its_cancellations(stack):
    from shared.clock import to_rfc3339

    email = "anna@example.com"
    stack.add_user(email)
    stack.activate(email)
    events = stack.calendar(email).events()
    start = stack.now() + timedelta(hours=2)
    series = events.insert(calendarId="primary", body={
        "summary": "Daily", "location": ZOOM, "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        "start": {"dateTime": to_rfc3339(start), "timeZone": "UTC"},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30)), "timeZone": "UTC"},
    }).execute()
    stack.settle()
    services, user_id = stack.services, stack.services.pseudonym(email)
    listed = _listed(services, user_id)
    assert len(listed) == 3
    assert {r["series_id"] for r in listed.values()} == {series["id"]}
    assert {r["join_url"] for r in listed.values()} == {ZOOM}
    assert index.series_ids(services, user_id) == [series["id"]]
    occurrences = sorted(listed, key=lambda key: listed[key]["start"])
    events.delete(calendarId="primary", eventId=occurrences[1]).execute()
    stack.settle()
    assert sorted(_listed(services, user_id)) == sorted([occurrences[0], occurrences[2]])
    events.delete(calendarId="primary", eventId=series["id"]).execute()
    stack.settle()
    assert _listed(services, user_id) == {} and index.series_ids(services, user_id) == []


def test_indexing_an_invitation_says_exactly_what_changed_for_the_invitee(stack):
    """index_event with the invitee's real calendar (the simulator through the Google client):
    the changes it answers are what ``meetings-updated`` publishes to their devices."""
    from shared.clock import to_rfc3339

    anna, bob = "anna@example.com", "bob@example.com"
    for email in (anna, bob):
        stack.add_user(email)
    organizer = stack.calendar(bob).events()
    start = stack.now() + timedelta(hours=2)

    def body(summary, **extra):
        return {"summary": summary, "attendees": [{"email": anna}],
                "start": {"dateTime": to_rfc3339(start), "timeZone": "UTC"},
                "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30)),
                        "timeZone": "UTC"}, **extra}

    series = organizer.insert(calendarId="primary", body=body(
        "Daily", recurrence=["RRULE:FREQ=DAILY;COUNT=3"])).execute()
    single = organizer.insert(calendarId="primary", body=body("Once")).execute()
    services, user_id = stack.services, stack.services.pseudonym(anna)
    gateway = services.workspace.calendar(anna, "primary")

    changes = index.index_event(services, gateway, user_id, anna, gateway.get(series["id"]))
    assert [c.op for c in changes] == ["upsert"] * 3
    assert {c.record["series_id"] for c in changes} == {series["id"]}
    assert {(c.record["organizer"], c.record["response_status"]) for c in changes} == {
        (False, "needsAction")}
    assert index.index_event(services, gateway, user_id, anna, gateway.get(series["id"])) == []

    changes = index.index_event(services, gateway, user_id, anna, gateway.get(single["id"]))
    assert [(c.key, c.op, c.record["series_id"]) for c in changes] == [
        (index.record_key(user_id, single["id"]), "upsert", "")]
    assert index.index_event(services, gateway, user_id, anna, gateway.get(single["id"])) == []

    # The organizer renames the series and ends it a day earlier: two upserts and one delete.
    organizer.patch(calendarId="primary", eventId=series["id"], body={
        "summary": "Daily, renamed", "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"]}).execute()
    changes = index.index_event(services, gateway, user_id, anna, gateway.get(series["id"]))
    assert sorted(c.op for c in changes) == ["delete", "upsert", "upsert"]
    assert len(_listed(services, user_id)) == 3  # two occurrences and the single meeting

    # One occurrence moved by the organizer is indexed as part of its series.
    first = organizer.instances(calendarId="primary", eventId=series["id"]).execute()["items"][0]
    organizer.patch(calendarId="primary", eventId=first["id"], body={
        "summary": "Moved"}).execute()
    moved = gateway.get(first["id"])
    changes = index.index_event(services, gateway, user_id, anna, moved)
    assert [(c.op, c.record["series_id"], c.record["title"]) for c in changes] == [
        ("upsert", series["id"], "Moved")]


def test_times_are_stored_in_utc_whatever_the_hosts_time_zone(services):
    """``make run`` on a laptop set to New York must index as Cloud Functions (UTC) do."""
    import os
    import time

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        index.upsert(services, "u1", "a@example.com", {
            "id": "e1", "start": {"dateTime": "2026-11-30T15:00:00+02:00"},
            "end": {"dateTime": "2026-11-30T16:00:00+02:00"}}, None)
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    record = _listed(services)["e1"]
    assert (record["start"], record["end"]) == ("2026-11-30T13:00:00Z", "2026-11-30T14:00:00Z")


# -- what a change costs and what the app receives (#20: billed operations are behaviour) ------

def _spent(services, before):
    """Billed operations on the index's collections (meetings, series) since ``before`` (the
    sealer's first use of a user's keys is its own, counted under its collection)."""
    after = services.store.meter.snapshot()
    return {kind: sum(after[f"firestore.{kind}:{c}"] - before[f"firestore.{kind}:{c}"]
                      for c in (index.COLLECTION, names.SERIES))
            for kind in ("reads", "writes", "deletes")}


def test_the_app_receives_the_meetings_fields_and_no_bookkeeping_of_the_index(services):
    """The published change and a snapshot carry what the app shows, never the index's own
    change-detection hash or the notifier's fields."""
    fields = {"user_id", "event_id", "series_id", "start", "end", "all_day", "service",
              "status", "updated", "etag", "title", "join_url", "sip_uri", "organizer",
              "organizer_email", "attendees", "location", "response_status"}
    change = index.upsert(services, "u1", "a@example.com", _event(location=ZOOM), None)
    assert change is not None and set(change.record) == fields
    assert set(_listed(services)["e1"]) == fields


def test_events_planned_one_after_another_are_all_published_and_written(services):
    """A sync page gathers every event's changes into one Pending before it publishes them:
    the first event's change is not lost when the second's is added."""
    pending = index.Pending()
    for event_id in ("e1", "e2", "e3"):
        pending.extend(index.plan_event(services, NoGoogle(), "u1", "a@example.com",
                                        _event(event_id)))
    assert [c.key for c in pending.changes] == ["u1|e1", "u1|e2", "u1|e3"]
    assert _listed(services) == {}  # planned, not written: the sync publishes first
    pending.write(services)
    assert sorted(_listed(services)) == ["e1", "e2", "e3"]


def test_a_meeting_removed_twice_is_announced_as_removed_once(services):
    index.upsert(services, "u1", "a@example.com", _event(), None)
    assert index.delete(services, "u1|e1") == index.Change("u1|e1", "delete")
    assert index.delete(services, "u1|e1") is None
    assert index.delete(services, "u1|never") is None


def test_a_full_sync_reads_no_record_for_a_single_event_in_or_out_of_the_window(services):
    """``fresh``: the index was cleared by this sync, so a meeting is known to be absent: a
    full sync of a long calendar pays no read per event (most of them long past)."""
    gateway = NoGoogle()
    before = services.store.meter.snapshot()
    planned = index.plan_event(services, gateway, "u1", "a@example.com", _event(), fresh=True)
    past = index.plan_event(services, gateway, "u1", "a@example.com",
                            _event("old", start=-24 * 60), fresh=True)
    assert _spent(services, before) == {"reads": 0, "writes": 0, "deletes": 0}
    assert [(c.key, c.op) for c in planned.changes] == [("u1|e1", "upsert")]
    assert past.changes == []
    # An incremental sync does read each one (the record may be stored).
    before = services.store.meter.snapshot()
    planned = index.plan_event(services, gateway, "u1", "a@example.com", _event())
    past = index.plan_event(services, gateway, "u1", "a@example.com",
                            _event("old", start=-24 * 60))
    assert _spent(services, before)["reads"] == 2
    assert len(planned.changes) == 1 and past.changes == []


def test_a_cancelled_occurrence_costs_one_read_and_one_delete_and_keeps_its_series(services):
    for n in range(2):
        index.upsert(services, "u1", "a@example.com", _event(f"s_{n}", start=3 + n), "s")
    services.store.put(names.SERIES, "u1|s", {"user_id": "u1", "event_id": "s"})
    before = services.store.meter.snapshot()
    changes = index.index_event(services, NoGoogle(), "u1", "a@example.com",
                                {"id": "s_1", "status": "cancelled", "recurringEventId": "s"})
    assert [(c.key, c.op) for c in changes] == [("u1|s_1", "delete")]
    # Its record read and deleted; no query for "a series s_1", no delete of its series record.
    assert _spent(services, before) == {"reads": 1, "writes": 0, "deletes": 1}
    assert sorted(_listed(services)) == ["s_0"] and index.series_ids(services, "u1") == ["s"]


def _series(sim, services, factory, count=3):
    """A daily series in a new user's simulated calendar, as the sync gets its master."""
    from shared.clock import to_rfc3339

    sim.clock = _backoff.clock = services.clock
    email = f"series{next(_people)}@example.com"
    sim.add_user(email)
    start = NOW + timedelta(hours=2)
    master = sim.user_call(email, "calendar.events.insert", {"cal": "primary"}, {
        "summary": "Daily", "location": ZOOM, "recurrence": [f"RRULE:FREQ=DAILY;COUNT={count}"],
        "start": {"dateTime": to_rfc3339(start), "timeZone": "UTC"},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30)), "timeZone": "UTC"}})
    gateway = factory.calendar(email)
    return email, gateway, gateway.get(master["id"])


def test_a_series_costs_one_query_and_nothing_more_when_unchanged(sim, factory, services):
    """A series is compared with its stored occurrences in one query (billed one read per
    record it returns), not one read per occurrence; a full sync does not even query."""
    email, gateway, master = _series(sim, services, factory)
    before = services.store.meter.snapshot()
    pending = index.plan_event(services, gateway, "u1", email, master, fresh=True)
    assert _spent(services, before)["reads"] == 0
    assert [c.op for c in pending.changes] == ["upsert"] * 3
    pending.write(services)
    assert index.series_ids(services, "u1") == [master["id"]]

    before = services.store.meter.snapshot()
    assert index.plan_event(services, gateway, "u1", email, master).changes == []
    assert _spent(services, before) == {"reads": 3, "writes": 0, "deletes": 0}
