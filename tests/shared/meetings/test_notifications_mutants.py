"""Join notifications driven directly on the real store, sealer and bus with a fake clock (#22).

Found by mutation testing and probing: which meetings a user is (not) notified of, and when.
The stack-level scenarios are in test_notifications.py; these are fast enough for the module's
mutation run (mutation/config.toml).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from shared.bus.local import LocalBus
from shared.clock import FakeClock
from shared.config import Config
from shared.crypto.sealer import Sealer, open_published
from shared.keys.local import LocalKeysetKek
from shared.meetings import index, notifications
from shared.runtime import Services
from shared.store import names
from shared.store.sqlite import SqliteStore
from tests.direct import NoGoogle

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ZOOM = "https://zoom.us/j/81234567890?pwd=abc"


@pytest.fixture
def kek(tmp_path):
    return LocalKeysetKek(tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json")


@pytest.fixture
def services(tmp_path, kek):
    clock = FakeClock(NOW)
    store = SqliteStore(tmp_path / "s.sqlite3")
    services = Services(config=Config(), clock=clock, store=store, bus=LocalBus(clock),
                        sealer=Sealer(store, kek, clock), workspace=NoGoogle())
    store.put(names.USERS, "u1", {"status": "active"})
    yield services
    store.close()


def _meeting(services, event_id="e1", start="2026-11-30T12:03:00Z", minutes=30, user="u1",
             **extra):
    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    event = {"id": event_id, "summary": "Standup", "location": ZOOM,
             "start": {"dateTime": start},
             "end": {"dateTime": (begin + timedelta(minutes=minutes)).isoformat()}, **extra}
    index.upsert(services, user, "anna@example.com", event, None)


def _sent(services):
    return [(m.data["user_id"], m.data["event_id"]) for m in
            services.bus.published("join-notifications")]


def test_a_meeting_in_a_calendar_with_an_offset_is_notified_before_it_starts(services):
    # Google answers dateTime in the calendar's zone: 14:03+02:00 is 12:03 UTC.
    _meeting(services, start="2026-11-30T14:03:00+02:00")
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "e1")]


def test_the_notification_opens_to_the_title_and_join_link_and_names_its_occurrence(services,
                                                                                      kek):
    _meeting(services)
    notifications.on_tick(services)
    (message,) = services.bus.published("join-notifications")
    assert message.data["start"] == "2026-11-30T12:03:00Z"
    claim = "u1|e1|2026-11-30T12:03:00Z"
    assert message.attributes["notification_id"] == hashlib.sha256(claim.encode()).hexdigest()[:32]
    assert message.data["sealed"]["place"] == f"join-notifications|{claim}"
    assert message.ordering_key == "u1"
    envelope = {**message.data["sealed"], "user_id": "u1"}
    assert open_published(envelope, kek) == {"title": "Standup", "join_url": ZOOM,
                                             "sip_uri": None}


@pytest.mark.parametrize(("start", "due"), [
    ("2026-11-30T12:05:00Z", True),  # exactly the lead time ahead
    ("2026-11-30T12:05:01Z", False),
    ("2026-11-30T11:55:00Z", True),  # started exactly the grace ago
    ("2026-11-30T11:54:59Z", False),
])
def test_a_meeting_is_notified_from_the_lead_time_before_until_the_grace_after(services, start,
                                                                               due):
    _meeting(services, start=start, minutes=60)
    assert notifications.on_tick(services) == int(due)


def test_a_meeting_already_over_is_not_notified(services):
    _meeting(services, start="2026-11-30T11:56:00Z", minutes=4)  # ended right now
    _meeting(services, "e2", start="2026-11-30T11:57:00Z", minutes=5)
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "e2")]


def test_declined_cancelled_linkless_and_all_day_meetings_and_inactive_users_are_skipped(
        services):
    _meeting(services, "declined", attendees=[{"email": "anna@example.com",
                                              "responseStatus": "declined"}])
    _meeting(services, "tentative", attendees=[{"email": "anna@example.com",
                                               "responseStatus": "tentative"}])
    _meeting(services, "linkless", location="Room 4")
    _meeting(services, "sip", location="Room sip:room@example.webex.com")
    _meeting(services, "other", user="u2")
    services.store.put(names.USERS, "u2", {"status": "deactivated"})
    _meeting(services, "gone", user="u3")
    _meeting(services, "cancelled", status="cancelled")
    assert notifications.on_tick(services) == 2
    assert sorted(_sent(services)) == [("u1", "sip"), ("u1", "tentative")]


def test_each_occurrence_is_notified_once_and_a_rescheduled_one_again(services):
    _meeting(services)
    assert notifications.on_tick(services) == 1
    services.clock.advance(seconds=60)
    assert notifications.on_tick(services) == 0
    _meeting(services, start="2026-11-30T12:04:00Z", etag='"2"')
    services.clock.advance(seconds=60)
    assert notifications.on_tick(services) == 1
    assert [m.data["start"] for m in services.bus.published("join-notifications")] == [
        "2026-11-30T12:03:00Z", "2026-11-30T12:04:00Z"]


@pytest.mark.parametrize("damage", [
    {"notice": "v1.u1~p0.AAAA"},  # its key record does not exist
    {"notice": "v1.u2~p0.AAAA"},  # another user's
    {"notice": None},  # damaged
])
def test_an_unreadable_record_does_not_hold_back_the_others(services, damage):
    _meeting(services, "e1")
    _meeting(services, "e2", start="2026-11-30T12:04:00Z")
    services.store.merge(index.COLLECTION, "u1|e1", damage)
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "e2")]


class FailingBus(LocalBus):
    fail = True

    def publish(self, *args, **kwargs):
        if self.fail:
            raise ConnectionError("Pub/Sub unavailable")
        return super().publish(*args, **kwargs)


def test_a_failed_publish_is_retried_by_the_next_tick(services):
    bus = FailingBus(services.clock)
    services.bus = bus
    _meeting(services)
    with pytest.raises(ConnectionError):
        notifications.on_tick(services)
    bus.fail = False
    assert notifications.on_tick(services) == 1


def test_a_tick_while_another_holds_the_lease_does_nothing_until_it_runs_out(services):
    _meeting(services, start="2026-11-30T12:04:00Z")
    services.store.put(names.RATELIMITS, notifications.LEASE_KEY, {
        "holder": "other", "until": "2026-11-30T12:00:50Z"})
    assert notifications.on_tick(services) == 0  # another tick is at work right now
    services.clock.advance(seconds=49)
    assert notifications.on_tick(services) == 0
    services.clock.advance(seconds=1)
    assert notifications.on_tick(services) == 1
    lease = services.store.get(names.RATELIMITS, notifications.LEASE_KEY)
    assert lease["until"] == "2026-11-30T12:01:40Z"  # 50 s
    assert lease["expire_at"] == "2026-12-01T12:00:50Z"  # a day: TTL once ticks stop
    assert lease["holder"] != "other"


def test_an_all_day_event_is_not_a_meeting_to_join(services):
    services.clock.set(datetime(2026, 11, 30, 23, 58, tzinfo=UTC))
    index.upsert(services, "u1", "anna@example.com", {
        "id": "allday", "location": ZOOM, "start": {"date": "2026-12-01"},
        "end": {"date": "2026-12-02"}}, None)
    _meeting(services, "late", start="2026-12-01T00:01:00Z")
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "late")]


def test_a_meeting_without_a_title_is_notified_with_an_empty_one_and_its_sip_address(services,
                                                                                        kek):
    _meeting(services, summary=None, location="Room sip:room@example.webex.com")
    notifications.on_tick(services)
    (message,) = services.bus.published("join-notifications")
    assert open_published({**message.data["sealed"], "user_id": "u1"}, kek) == {
        "title": "", "join_url": None, "sip_uri": "sip:room@example.webex.com"}


def test_a_sent_notification_is_not_repeated_by_later_ticks(services):
    _meeting(services, start="2026-11-30T12:04:00Z")
    assert notifications.on_tick(services) == 1
    for _ in range(8):
        services.clock.advance(seconds=60)
        assert notifications.on_tick(services) == 0


class KilledBus(LocalBus):
    """The function instance dies while publishing (no except clause runs)."""

    kill = True

    def publish(self, *args, **kwargs):
        if self.kill:
            raise SystemExit("instance killed")
        return super().publish(*args, **kwargs)


def test_an_instance_killed_while_notifying_is_replaced_once_its_lease_runs_out(services):
    bus = KilledBus(services.clock)
    services.bus = bus
    _meeting(services, start="2026-11-30T12:04:00Z")
    with pytest.raises(SystemExit):
        notifications.on_tick(services)
    bus.kill = False
    services.clock.advance(seconds=49)
    assert notifications.on_tick(services) == 0  # the dead tick's lease still holds
    services.clock.advance(seconds=1)
    assert notifications.on_tick(services) == 1


def test_an_inactive_users_earlier_meeting_does_not_hold_back_anyone_elses(services):
    services.store.put(names.USERS, "u2", {"status": "pending"})
    _meeting(services, "theirs", start="2026-11-30T12:01:00Z", user="u2")
    _meeting(services, "mine", start="2026-11-30T12:02:00Z")
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "mine")]


def _owed(services, key="u1|e1"):
    doc = services.store.get(index.COLLECTION, key)
    return doc["notify_at"], doc.get("notified")


def test_a_due_meeting_is_read_once_and_marked_once_however_many_ticks_see_it_coming(services):
    # Twelve minute ticks around one meeting: the query bills one read per tick whether it
    # returns nothing or the meeting, so anything above that is per-notification work.
    _meeting(services, start="2026-11-30T12:08:00Z")
    _meeting(services, "e2", start="2026-11-30T12:08:00Z")  # the same user: one users read
    before = services.store.meter.snapshot()
    for _ in range(12):
        notifications.on_tick(services)
        services.clock.advance(seconds=60)
    spent = services.store.meter.snapshot()
    spent.subtract(before)
    assert len(_sent(services)) == 2
    assert spent["firestore.reads:meetings"] == 11 + 2 + 2  # 11 empty queries, 2 rows, 2 marks
    assert spent["firestore.writes:meetings"] == 2
    assert spent["firestore.reads:users"] == 1
    assert spent["firestore.reads:ratelimits"] == spent["firestore.writes:ratelimits"] == 12
    assert _owed(services) == ("", "2026-11-30T12:08:00Z")


def test_a_title_only_edit_after_the_notification_is_not_notified_again(services):
    _meeting(services)
    assert notifications.on_tick(services) == 1
    _meeting(services, summary="Standup (moved room)", etag='"2"')
    assert _owed(services) == ("", "2026-11-30T12:03:00Z")
    services.clock.advance(seconds=60)
    assert notifications.on_tick(services) == 0


class ReschedulingBus(LocalBus):
    """The indexer writes the record while the tick is publishing it."""

    def __init__(self, clock, services, **change):
        super().__init__(clock)
        self.services, self.change = services, change

    def publish(self, *args, **kwargs):
        message_id = super().publish(*args, **kwargs)
        if self.change:
            _meeting(self.services, **self.change)
            self.change = {}
        return message_id


def test_a_meeting_rescheduled_while_it_is_published_is_notified_again_at_its_new_start(
        services):
    services.bus = ReschedulingBus(services.clock, services, start="2026-11-30T12:30:00Z",
                                   etag='"2"')
    _meeting(services)
    assert notifications.on_tick(services) == 1
    assert _owed(services) == ("2026-11-30T12:30:00Z", "2026-11-30T12:03:00Z")
    services.clock.set(datetime(2026, 11, 30, 12, 25, tzinfo=UTC))
    assert notifications.on_tick(services) == 1
    assert [m.data["start"] for m in services.bus.published("join-notifications")] == [
        "2026-11-30T12:03:00Z", "2026-11-30T12:30:00Z"]
    assert _owed(services) == ("", "2026-11-30T12:30:00Z")


def test_an_indexer_write_that_undid_the_mark_is_cleared_without_publishing(services):
    # The indexer read the record before the tick marked it and wrote it back after: the
    # start is owed again in notify_at, yet notified says it went out.
    _meeting(services)
    _meeting(services, "e2", start="2026-11-30T12:04:00Z")  # due too, later: still sent
    services.store.merge(index.COLLECTION, "u1|e1", {"notified": "2026-11-30T12:03:00Z",
                                                     "notify_at": "2026-11-30T12:03:00Z"})
    assert notifications.on_tick(services) == 1
    assert _sent(services) == [("u1", "e2")]
    assert _owed(services) == ("", "2026-11-30T12:03:00Z")


class DeletingBus(LocalBus):
    def __init__(self, clock, services):
        super().__init__(clock)
        self.services = services

    def publish(self, *args, **kwargs):
        message_id = super().publish(*args, **kwargs)
        index.delete(self.services, "u1|e1")  # the meeting left the index meanwhile
        return message_id


def test_a_meeting_removed_while_it_is_published_is_not_brought_back(services):
    services.bus = DeletingBus(services.clock, services)
    _meeting(services)
    assert notifications.on_tick(services) == 1
    assert services.store.get(index.COLLECTION, "u1|e1") is None


def test_a_failed_publish_leaves_the_meeting_owed_and_gives_the_lease_back(services):
    services.bus = FailingBus(services.clock)
    _meeting(services)
    with pytest.raises(ConnectionError):
        notifications.on_tick(services)
    assert _owed(services) == ("2026-11-30T12:03:00Z", None)
    assert services.store.get(names.RATELIMITS, notifications.LEASE_KEY) is None


class LeaseStealingBus(FailingBus):
    def __init__(self, clock, store):
        super().__init__(clock)
        self.store = store

    def publish(self, *args, **kwargs):
        self.store.put(names.RATELIMITS, notifications.LEASE_KEY, {
            "holder": "later tick", "until": "2026-11-30T12:09:00Z"})
        return super().publish(*args, **kwargs)


def test_a_failed_tick_leaves_a_lease_another_tick_took_alone(services):
    services.bus = LeaseStealingBus(services.clock, services.store)
    _meeting(services)
    with pytest.raises(ConnectionError):
        notifications.on_tick(services)
    lease = services.store.get(names.RATELIMITS, notifications.LEASE_KEY)
    assert lease["holder"] == "later tick"


class SlowBus(LocalBus):
    """Each publish takes 20 s of the tick's lease."""

    def __init__(self, clock):
        super().__init__(clock)
        self.fake_clock = clock

    def publish(self, *args, **kwargs):
        message_id = super().publish(*args, **kwargs)
        self.fake_clock.advance(seconds=20)
        return message_id


def test_a_tick_stops_publishing_before_its_lease_runs_out_and_the_next_one_goes_on(services):
    services.bus = SlowBus(services.clock)
    for n in range(3):  # the soonest first: e2 starts first, e0 last
        _meeting(services, f"e{n}", start=f"2026-11-30T12:0{3 - n}:00Z")
    assert notifications.on_tick(services) == 2  # 0 s and 20 s; at 40 s ten are left: stop
    assert _sent(services) == [("u1", "e2"), ("u1", "e1")]
    services.clock.advance(seconds=10)  # 12:00:50, the lease's end
    assert notifications.on_tick(services) == 1
    assert _sent(services)[-1] == ("u1", "e0")


class PublishThenDieBus(LocalBus):
    kill = True

    def publish(self, *args, **kwargs):
        message_id = super().publish(*args, **kwargs)
        if self.kill:
            raise SystemExit("instance killed after publishing")
        return message_id


def test_a_crash_after_publishing_republishes_with_the_same_notification_id(services):
    bus = PublishThenDieBus(services.clock)
    services.bus = bus
    _meeting(services, start="2026-11-30T12:04:00Z")
    with pytest.raises(SystemExit):
        notifications.on_tick(services)
    bus.kill = False
    services.clock.advance(seconds=50)
    assert notifications.on_tick(services) == 1
    first, second = bus.published("join-notifications")
    assert first.attributes == second.attributes
    assert first.data["start"] == second.data["start"] == "2026-11-30T12:04:00Z"
    services.clock.advance(seconds=60)
    assert notifications.on_tick(services) == 0


def test_meetings_sent_before_a_failed_publish_are_not_sent_again(services):
    class FailSecond(LocalBus):
        def publish(self, *args, **kwargs):
            if len(self.published("join-notifications")) == 1 and self.fail:
                raise ConnectionError("Pub/Sub unavailable")
            return super().publish(*args, **kwargs)

    bus = FailSecond(services.clock)
    bus.fail = True
    services.bus = bus
    _meeting(services, "e1", start="2026-11-30T12:01:00Z")
    _meeting(services, "e2", start="2026-11-30T12:02:00Z")
    with pytest.raises(ConnectionError):
        notifications.on_tick(services)
    bus.fail = False
    assert notifications.on_tick(services) == 1  # the redelivered tick: the lease was given back
    assert _sent(services) == [("u1", "e1"), ("u1", "e2")]


class _CountingKek:
    """The KEK as KMS bills it: every wrap and unwrap counted."""

    def __init__(self, inner):
        self.inner, self.key_uri, self.calls = inner, inner.key_uri, 0

    def wrap(self, key, aad):
        self.calls += 1
        return self.inner.wrap(key, aad)

    def unwrap(self, wrapped, aad):
        self.calls += 1
        return self.inner.unwrap(wrapped, aad)


def _tick_instance(services, kek):
    """The notifier as deployed: its own instance, none of the user's keys cached."""
    counting = _CountingKek(kek)
    return Services(config=services.config, clock=services.clock, store=services.store,
                    bus=services.bus, sealer=Sealer(services.store, counting, services.clock),
                    workspace=NoGoogle()), counting


def test_the_tick_publishes_the_notice_sealed_at_indexing_without_any_kms_call(services, kek):
    _meeting(services)
    tick, counting = _tick_instance(services, kek)
    assert notifications.on_tick(tick) == 1
    assert counting.calls == 0  # no record opened, no key unwrapped: the indexer sealed it
    (message,) = services.bus.published("join-notifications")
    assert open_published({**message.data["sealed"], "user_id": "u1"}, kek) == {
        "title": "Standup", "join_url": ZOOM, "sip_uri": None}


def test_a_retitled_meeting_is_notified_with_its_new_title(services, kek):
    _meeting(services)
    _meeting(services, summary="Standup moved rooms", etag='"2"', updated="2026-11-30T11:59Z")
    notifications.on_tick(_tick_instance(services, kek)[0])
    (message,) = services.bus.published("join-notifications")
    opened = open_published({**message.data["sealed"], "user_id": "u1"}, kek)
    assert opened["title"] == "Standup moved rooms"


def test_a_record_without_a_notice_is_skipped_without_opening_it(services, kek):
    _meeting(services)
    _meeting(services, "e2", start="2026-11-30T12:04:00Z")
    services.store.merge(index.COLLECTION, "u1|e1", {"notice": ""})
    tick, counting = _tick_instance(services, kek)
    assert notifications.on_tick(tick) == 1
    assert counting.calls == 0  # not opened and sealed again: the tick has no KMS grant
    assert _sent(services) == [("u1", "e2")]


def test_no_notice_is_kept_for_a_meeting_that_owes_none(services):
    _meeting(services, "linkless", location="Room 4")
    _meeting(services)
    notifications.on_tick(services)
    notices = {doc["event_id"]: doc["notice"] for _key, doc in
               services.store.query(index.COLLECTION)}
    assert notices["linkless"] == ""
    _meeting(services, summary="Standup, renamed", etag='"3"')  # notified already: none owed
    assert {doc["event_id"]: doc["notice"] for _key, doc in
            services.store.query(index.COLLECTION)}["e1"] == ""
