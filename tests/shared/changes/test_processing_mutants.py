"""The calendar-changes handler driven directly (#22): real SqliteStore, LocalBus, FakeClock,
the real Sealer with the local keyset, and Google through the real googleapiclient against the
Workspace simulator (the wiring LocalStack uses, without the entry points around it).

What a user (or the app) would notice of one sync: which events get join details and which are
left alone, what the meetings index and the ``meetings-updated`` messages say, what happens to
pushes and failures. The same rules run end to end on the embedded stack in
test_processing*.py; these are fast enough for the module's mutation run
(mutation/config.toml).
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import googleapiclient.discovery  # noqa: F401
import pytest
import tink.aead  # noqa: F401

import shared.google.factory  # noqa: F401
from local.workspace_sim import WorkspaceSimulator
from local.workspace_sim.faults import Faults
from shared.bus.base import Topics
from shared.bus.local import LocalBus
from shared.changes import processing, sync
from shared.clock import FakeClock, to_rfc3339
from shared.config import Config
from shared.crypto.sealer import open_published
from shared.errors import BadRequest
from shared.google.errors import EtagMismatch, GoogleTransientError
from shared.keys.local import LocalKeysetKek
from shared.keyword import joinblock
from shared.runtime import build_embedded
from shared.store.base import Filter
from tests.direct import SimulatedBackoff, running_simulator, workspace_factory

# googleapiclient, Tink and the factory are imported above, not on first use as the product
# does: the mutation run's fork server collects this module once, so each mutant's run starts
# with them loaded.
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_domains = itertools.count(1)


_backoff = SimulatedBackoff(NOW)


@pytest.fixture(scope="module")
def sim():
    yield from running_simulator(NOW)


@pytest.fixture(scope="module")
def factory(sim):
    return workspace_factory(sim, _backoff)


class Person:
    def __init__(self, email: str, user_id: str) -> None:
        self.email, self.id = email, user_id

    @property
    def url(self) -> str:
        return f"https://example.webex.com/meet/{self.email.split('@')[0]}"


class World:
    """One test's service on the shared simulator: its own clock, store, bus, keys, domain."""

    def __init__(self, sim: WorkspaceSimulator, factory: Any, data_dir: Path) -> None:
        self.sim = sim
        self.clock = FakeClock(NOW)
        sim.clock = _backoff.clock = self.clock
        sim.faults = Faults()
        self.domain = f"t{next(_domains)}.example.com"
        self.data_dir = data_dir
        config = Config(data_dir=str(data_dir), google_api_endpoint=sim.url,
                        token_uri=sim.token_uri, pseudonym_key="test-" + self.domain,
                        intake_url="https://intake.example.com/intake_push",
                        keywords={"@webex": "webex-personal-room", "@gmeet": "google-meet"},
                        workspace_admin=f"admin@{self.domain}",
                        room_reader=f"rooms@{self.domain}")
        sim.add_user(config.workspace_admin or "", admin=True)
        sim.add_user(config.room_reader or "")
        self.bus = LocalBus(self.clock)
        self.services = build_embedded(config, clock=self.clock, bus=self.bus,
                                       service_account_info=sim.service_account_info,
                                       sleep=_backoff)
        self.services.workspace = factory

    # -- people and their calendars ------------------------------------------------------------
    def person(self, name: str, **doc: Any) -> Person:
        email = f"{name}@{self.domain}"
        self.sim.add_user(email)
        user_id = self.services.pseudonym(email)
        self.services.store.put("users", user_id, {
            "email": email, "user_id": user_id, "kind": "user", "status": "active",
            "locale": "en", "timezone": "UTC", **doc})
        return Person(email, user_id)

    def room(self, name: str) -> Person:
        from shared.users.workspaces import activate_workspace

        email = f"{name}@{self.domain}"
        self.sim.add_room(email)
        assert activate_workspace(self.services, email) == "active"
        return Person(email, self.services.pseudonym(email))

    def create(self, who: Person, location: str = "", *, start: timedelta = timedelta(hours=2),
               minutes: int = 60, summary: str = "Plan", **extra: Any) -> dict[str, Any]:
        begin = NOW + start
        body = {"summary": summary, "location": location,
                "start": {"dateTime": to_rfc3339(begin)},
                "end": {"dateTime": to_rfc3339(begin + timedelta(minutes=minutes))}, **extra}
        return self.call(who, "calendar.events.insert", {"cal": "primary"}, body)

    def call(self, who: Person, operation: str, params: dict[str, str],
             body: dict[str, Any] | None = None) -> Any:
        """What the user's own calendar client does."""
        return self.sim.user_call(who.email, operation, params, body)

    def event(self, who: Person, event_id: str) -> dict[str, Any]:
        return self.call(who, "calendar.events.get", {"cal": "primary", "eid": event_id})

    # -- the service ---------------------------------------------------------------------------
    def sync(self, who: Person, reason: str = "push") -> None:
        processing.handle_calendar_change(self.services, {"user_id": who.id, "reason": reason})

    def push(self, who: Person, channel: str = "c1", number: int = 1) -> None:
        processing.handle_calendar_change(self.services, {
            "user_id": who.id, "channel_id": channel, "message_number": number})

    def calls(self) -> Counter:
        return self.sim.api_calls()

    def queued(self) -> list[Any]:
        return self.bus.published(Topics.CALENDAR_CHANGES)

    @property
    def kek(self) -> LocalKeysetKek:
        return LocalKeysetKek(self.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")

    def messages(self, who: Person) -> list[dict[str, Any]]:
        """``meetings-updated`` messages for ``who``, opened as the app opens them."""
        opened = []
        for message in self.bus.published(Topics.MEETINGS_UPDATED):
            if message.data["user_id"] != who.id:
                continue
            assert message.ordering_key == who.id
            assert message.data["place"].startswith(f"{Topics.MEETINGS_UPDATED}|{who.id}|")
            payload = open_published(message.data, self.kek)
            assert message.data["count"] == len(payload["changes"])
            opened.append(payload)
        return opened

    def app(self, who: Person) -> dict[str, dict[str, Any]]:
        """What the app holds for ``who`` after applying every message: event id -> record."""
        held: dict[str, dict[str, Any]] = {}
        for payload in self.messages(who):
            if payload.get("reset"):
                held.clear()
            for change in payload["changes"]:
                if change["op"] == "upsert":
                    held[change["key"]] = change["record"]
                else:
                    assert change["op"] == "delete" and change["record"] is None
                    held.pop(change["key"], None)
        return {key.split("|", 1)[1]: record for key, record in held.items()}

    def index(self, who: Person) -> dict[str, dict[str, Any]]:
        """The user's index records, sealed fields opened: event id -> record."""
        services = self.services
        rows = services.store.query("meetings", [Filter("user_id", "==", who.id)])
        return {doc["event_id"]: {**doc, **services.sealer.open(who.id, f"meetings|{key}",
                                                                 doc["blob"])}
                for key, doc in rows}

    def sync_state(self, who: Person) -> dict[str, Any]:
        return self.services.store.get(sync.COLLECTION, who.id) or {}


@pytest.fixture
def world(sim, factory, tmp_path):
    running = World(sim, factory, tmp_path)
    yield running
    running.services.store.close()


def daily(count: int) -> dict[str, Any]:
    return {"recurrence": [f"RRULE:FREQ=DAILY;COUNT={count}"]}


# -- keyword events: which copy, which time ----------------------------------------------------
def test_a_keyword_event_is_patched_once_with_join_details_and_the_app_gets_them(world):
    anna = world.person("anna")
    event = world.create(anna, "Room 4, @webex", description="Agenda")
    before = world.calls()
    world.sync(anna, "initial")
    assert (world.calls() - before)["calendar.events.patch"] == 1
    mine = world.event(anna, event["id"])
    assert mine["location"] == f"Room 4, {anna.url}"
    assert mine["description"].startswith("Agenda\n\n" + joinblock.BEGIN)
    record = world.index(anna)[event["id"]]
    assert (record["join_url"], record["service"], record["title"]) == (anna.url, "webex", "Plan")
    (message,) = world.messages(anna)
    assert "reset" not in message
    assert [c["op"] for c in message["changes"]] == ["upsert"]
    assert world.app(anna)[event["id"]]["join_url"] == anna.url

    before = world.calls()
    world.sync(anna)  # our own patch coming back: nothing to do, nothing to say
    assert (world.calls() - before)["calendar.events.patch"] == 0
    assert len(world.messages(anna)) == 1
    assert world.queued() == []  # nothing arrived meanwhile: no follow-up sync


def test_the_users_own_keyword_is_honoured(world):
    anna = world.person("anna", keywords={"@room": "webex-personal-room"})
    event = world.create(anna, "@room")
    world.sync(anna, "initial")
    assert world.event(anna, event["id"])["location"] == anna.url


def test_an_attendee_synced_before_the_organizer_is_indexed_and_never_patched(world):
    anna, bob = world.person("anna"), world.person("bob")
    event = world.create(anna, "@webex", attendees=[{"email": bob.email}])
    before = world.calls()
    world.sync(bob, "initial")
    assert (world.calls() - before)["calendar.events.patch"] == 0
    assert world.event(anna, event["id"])["location"] == "@webex"
    assert world.index(bob)[event["id"]]["title"] == "Plan"
    world.sync(anna, "initial")
    world.sync(bob)
    assert world.index(bob)[event["id"]]["join_url"] == anna.url
    assert world.app(bob)[event["id"]]["join_url"] == anna.url


@pytest.mark.parametrize(("start", "minutes", "patched"), [
    (timedelta(hours=-2), 60, False),  # over an hour ago
    (timedelta(hours=-1), 60, False),  # ends right now: over
    (timedelta(hours=-1), 61, True),  # ends in a minute
])
def test_a_keyword_event_already_over_is_indexed_but_left_as_it_was(world, start, minutes,
                                                                    patched):
    anna = world.person("anna")
    event = world.create(anna, "@webex", start=start, minutes=minutes)
    world.sync(anna, "initial")
    assert (world.event(anna, event["id"])["location"] == anna.url) is patched
    assert event["id"] in world.index(anna)


@pytest.mark.parametrize(("day", "patched"), [(-1, False), (0, True)])
def test_an_all_day_keyword_event_is_patched_until_its_day_is_over(world, day, patched):
    anna = world.person("anna")
    first = (NOW + timedelta(days=day)).date()
    event = world.call(anna, "calendar.events.insert", {"cal": "primary"}, {
        "summary": "Offsite", "location": "@webex", "start": {"date": first.isoformat()},
        "end": {"date": (first + timedelta(days=1)).isoformat()}})
    world.sync(anna, "initial")
    assert (world.event(anna, event["id"])["location"] == anna.url) is patched


def test_a_series_that_began_last_week_is_patched_and_its_coming_occurrences_indexed(world):
    anna = world.person("anna")
    series = world.create(anna, "@webex", start=timedelta(days=-7), **daily(14))
    world.sync(anna, "initial")
    assert world.event(anna, series["id"])["location"] == anna.url
    records = world.index(anna)
    assert len(records) == 8  # yesterday's (in the window's past day) to the last one
    assert {r["join_url"] for r in records.values()} == {anna.url}
    assert {r["series_id"] for r in records.values()} == {series["id"]}


def test_a_cancelled_keyword_event_leaves_the_index_and_the_app(world):
    anna = world.person("anna")
    event = world.create(anna, "@webex")
    world.sync(anna, "initial")
    world.call(anna, "calendar.events.delete", {"cal": "primary", "eid": event["id"]})
    before = world.calls()
    world.sync(anna)
    assert (world.calls() - before)["calendar.events.patch"] == 0
    assert world.index(anna) == {}
    assert world.app(anna) == {}
    assert world.messages(anna)[-1]["changes"] == [{"key": f"{anna.id}|{event['id']}",
                                                   "op": "delete", "record": None}]


# -- inactive users ----------------------------------------------------------------------------
def _channel(world: World, who: Person) -> str:
    channel_id = f"ch-{world.domain}"  # unique on the shared simulator
    answer = world.services.workspace.calendar(who.email).watch(
        channel_id=channel_id, address="https://intake.example.com/intake_push", token="t",
        ttl_seconds=3600)
    world.services.store.put("channels", channel_id, {
        "user_id": who.id, "state": "active", "resource_id": answer["resourceId"]})
    return channel_id


def _stopped_at_google(world: World, channel_id: str) -> bool:
    return world.sim.calendar_state.channels[channel_id].stopped


@pytest.mark.parametrize("status", ["error", "deactivated", "pending"])
def test_a_push_for_a_user_no_longer_active_stops_the_channel_and_syncs_nothing(world, status):
    anna = world.person("anna")
    channel = _channel(world, anna)
    world.create(anna, "@webex")
    world.services.store.merge("users", anna.id, {"status": status})
    before = world.calls()
    world.push(anna, channel, 7)
    assert _stopped_at_google(world, channel)
    assert world.services.store.get("channels", channel)["state"] == "stopped"
    calls = world.calls() - before
    assert calls["calendar.channels.stop"] == 1 and calls["calendar.events.list"] == 0
    assert world.queued() == [] and world.sync_state(anna) == {}
    before = world.calls()
    world.push(anna, channel, 8)  # already stopped: Google is not asked again
    assert (world.calls() - before)["calendar.channels.stop"] == 0


def test_a_push_for_an_unknown_user_marks_the_channel_stopped_without_google(world):
    anna = world.person("anna")
    channel = _channel(world, anna)
    world.services.store.delete("users", anna.id)
    world.push(anna, channel)
    assert world.services.store.get("channels", channel)["state"] == "stopped"
    assert not _stopped_at_google(world, channel)  # nobody to act as: it expires on its own


def test_a_channel_without_a_resource_id_is_marked_stopped_without_google(world):
    anna = world.person("anna")
    world.services.store.put("channels", "ch2", {"user_id": anna.id, "state": "active"})
    world.services.store.merge("users", anna.id, {"status": "error"})
    before = world.calls()
    world.push(anna, "ch2")
    assert world.services.store.get("channels", "ch2")["state"] == "stopped"
    assert (world.calls() - before)["calendar.channels.stop"] == 0


def test_a_refused_channel_stop_is_acknowledged_and_left_to_expire(world):
    anna = world.person("anna")
    channel = _channel(world, anna)
    world.services.store.merge("users", anna.id, {"status": "deactivated"})
    world.sim.set_suspended(anna.email, True)
    world.services.workspace.forget(anna.email)  # no cached token: a new one is refused
    world.push(anna, channel)  # no exception: a redelivery would be refused again
    assert not _stopped_at_google(world, channel)


@pytest.mark.parametrize("channel", [None, "", 7, ["ch1"], {"id": "ch1"}, "unknown"])
def test_an_inactive_users_message_without_a_known_channel_is_just_acknowledged(world, channel):
    anna = world.person("anna")
    world.services.store.merge("users", anna.id, {"status": "error"})
    before = world.calls()
    processing.handle_calendar_change(world.services, {"user_id": anna.id,
                                                       "channel_id": channel})
    assert world.calls() - before == Counter()
    assert world.services.store.get("channels", "unknown") is None


@pytest.mark.parametrize("data", [{}, {"user_id": ""}, {"user_id": 7}, {"channel_id": "c1"}])
def test_a_message_without_a_user_is_refused(world, data):
    with pytest.raises(BadRequest):
        processing.handle_calendar_change(world.services, data)


# -- pushes: each one syncs, unless the last sync already covered it -----------------------------
def _stamp(when: datetime) -> str:
    return to_rfc3339(when, "milliseconds")  # as intake and the sync commit stamp


def test_a_push_syncs_in_its_own_message_and_queues_nothing(world):
    anna = world.person("anna")
    world.sync(anna, "initial")
    event = world.create(anna, "@webex")
    world.clock.advance(seconds=30)
    world.push(anna, "c1", 5)
    assert world.event(anna, event["id"])["location"] == anna.url
    assert set(world.app(anna)) == {event["id"]}
    assert world.queued() == []
    assert world.sync_state(anna)["listed_from"] == _stamp(NOW + timedelta(seconds=30))


def test_pushes_received_before_the_last_listing_began_are_acknowledged_without_google(world):
    anna = world.person("anna")
    world.sync(anna, "initial")  # listed from NOW
    world.create(anna, "@webex")  # a change after that listing: its push must sync
    world.clock.advance(seconds=10)
    covered = {"user_id": anna.id, "channel_id": "c1", "message_number": 1,
               "received": _stamp(NOW - timedelta(seconds=5))}
    before = world.calls()
    for _ in range(3):
        processing.handle_calendar_change(world.services, covered)
    assert world.calls() - before == Counter()
    assert world.app(anna) == {}
    fresh = {**covered, "message_number": 2, "received": _stamp(NOW + timedelta(seconds=9))}
    processing.handle_calendar_change(world.services, fresh)
    assert (world.calls() - before)["calendar.events.list"] == 1
    assert len(world.app(anna)) == 1


def test_a_push_for_a_user_gone_inactive_is_not_taken_for_covered(world):
    # Covered pushes skip the user read; a push the last sync did not cover still stops the
    # channel of a user no longer active.
    anna = world.person("anna")
    channel = _channel(world, anna)
    world.sync(anna, "initial")
    world.services.store.merge("users", anna.id, {"status": "deactivated"})
    world.clock.advance(seconds=10)
    processing.handle_calendar_change(world.services, {
        "user_id": anna.id, "channel_id": channel, "message_number": 3,
        "received": _stamp(NOW - timedelta(seconds=5))})
    assert not _stopped_at_google(world, channel)
    processing.handle_calendar_change(world.services, {
        "user_id": anna.id, "channel_id": channel, "message_number": 4,
        "received": _stamp(NOW + timedelta(seconds=10))})
    assert _stopped_at_google(world, channel)


class FailingBus(LocalBus):
    """Pub/Sub refusing publishes while ``fail`` names the topic."""

    fail = ""

    def publish(self, topic, data, **kwargs):
        if topic == self.fail:
            raise ConnectionError("Pub/Sub unavailable")
        return super().publish(topic, data, **kwargs)


def _during_list(world: World, monkeypatch, action) -> list[int]:
    """Run ``action(n)`` right after the simulator answers the n-th events.list (as if a user
    and a push were that fast); returns the list of calls seen."""
    state = world.sim.calendar_state
    original = state.list
    seen: list[int] = []

    def listed(caller, calendar_id, params, instances_of=None):
        answer = original(caller, calendar_id, params, instances_of)
        if instances_of is None:
            seen.append(len(seen) + 1)
            action(len(seen))
        return answer

    monkeypatch.setattr(state, "list", listed)
    return seen


def test_a_change_made_while_a_sync_lists_is_synced_by_its_own_push(world, monkeypatch):
    anna = world.person("anna")
    world.sync(anna, "initial")
    first = world.create(anna, "@webex")
    later: list[dict[str, Any]] = []
    pushes: list[dict[str, Any]] = []

    def meanwhile(n: int) -> None:
        if n == 1:  # the user saves again as the listing goes out; intake stamps the push
            later.append(world.create(anna, "@webex", summary="Later"))
            pushes.append({"user_id": anna.id, "channel_id": "c1", "message_number": 10,
                           "received": _stamp(world.clock.now())})

    rounds = _during_list(world, monkeypatch, meanwhile)
    world.sync(anna)
    assert world.event(anna, later[0]["id"])["location"] == "@webex"  # listed too early
    processing.handle_calendar_change(world.services, pushes[0])  # its push comes next
    assert rounds == [1, 2]
    assert world.event(anna, later[0]["id"])["location"] == anna.url
    assert set(world.app(anna)) == {first["id"], later[0]["id"]}


def test_a_listing_over_several_pages_publishes_each_page_before_writing_it(world, monkeypatch):
    from shared.google import calendar

    monkeypatch.setitem(calendar.LIST_PARAMS, "maxResults", 2)  # pages of two events
    anna = world.person("anna")
    events = [world.create(anna, "", summary=f"Review {n}", start=timedelta(hours=n + 1))
              for n in range(5)]
    seen: list[tuple[int, int]] = []
    real = world.bus.publish

    def publish(topic, data, **kwargs):
        if topic == Topics.MEETINGS_UPDATED:
            seen.append((data["count"], len(world.index(anna))))
        return real(topic, data, **kwargs)

    monkeypatch.setattr(world.bus, "publish", publish)
    world.sync(anna, "initial")
    assert seen == [(2, 0), (2, 2), (1, 4)]  # each page told before its records are written
    assert set(world.app(anna)) == {e["id"] for e in events}


class _Event(dict):  # a listed event that can be watched with a weak reference
    pass


def test_a_page_and_its_changes_are_let_go_before_the_next_page_is_fetched(world, monkeypatch):
    """#20: a first sync's memory is bounded by a page, not the calendar (nor two pages)."""
    import weakref

    from shared.google import calendar

    monkeypatch.setitem(calendar.LIST_PARAMS, "maxResults", 2)  # pages of two events
    anna = world.person("anna")
    events = [world.create(anna, "@webex" if n == 4 else "", summary=f"Review {n}",
                           start=timedelta(hours=n + 1)) for n in range(5)]
    held: list[weakref.ref[Any]] = []
    alive_at_fetch: list[int] = []
    real_gateway, real_publish = processing._gateway, processing._publish_then_write

    class Watched:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        def list_page(self, **kwargs: Any) -> dict[str, Any]:
            alive_at_fetch.append(sum(ref() is not None for ref in held))
            page = self._inner.list_page(**kwargs)
            page["items"] = [_Event(e) for e in page.get("items") or []]
            held[:] = [weakref.ref(e) for e in page["items"]]
            return page

    def publish_then_write(services, user_id, pending, **kwargs):
        held.append(weakref.ref(pending))
        return real_publish(services, user_id, pending, **kwargs)

    monkeypatch.setattr(processing, "_gateway", lambda *a: Watched(real_gateway(*a)))
    monkeypatch.setattr(processing, "_publish_then_write", publish_then_write)
    world.sync(anna, "initial")
    assert alive_at_fetch == [0, 0, 0]  # three pages, nothing of the last one kept
    assert set(world.app(anna)) == {e["id"] for e in events}
    assert world.event(anna, events[4]["id"])["location"] == anna.url


def test_the_sync_log_counts_every_pages_events_patches_and_index_changes(world, monkeypatch,
                                                                          caplog):
    """What an operator reads of a sync over several pages: totals, not the last page's."""
    import logging

    from shared.google import calendar

    monkeypatch.setitem(calendar.LIST_PARAMS, "maxResults", 2)
    anna = world.person("anna")
    for n in range(3):
        world.create(anna, "@webex" if n == 2 else "", summary=f"Review {n}",
                     start=timedelta(hours=n + 1))
    with caplog.at_level(logging.INFO, logger=processing.__name__):
        world.sync(anna, "initial")
    done = [r.json_fields for r in caplog.records if r.getMessage() == "sync done"]
    assert [(d["events"], d["patches"], d["index_changes"]) for d in done] == [(3, 1, 3)]


# -- resync, the app's copy, crashes ------------------------------------------------------------
def test_a_resync_rebuilds_the_index_and_tells_the_app_to_start_over(world):
    anna = world.person("anna")
    kept = world.create(anna, "@webex")
    world.sync(anna, "initial")
    stale = f"{anna.id}|ghost"  # a record the index should not have
    world.services.store.put("meetings", stale, {**world.services.store.get(
        "meetings", f"{anna.id}|{kept['id']}"), "event_id": "ghost"})
    before = world.calls()
    world.sync(anna, "resync")
    assert (world.calls() - before)["calendar.events.patch"] == 0
    assert set(world.index(anna)) == {kept["id"]}
    last = world.messages(anna)[-1]
    assert last["reset"] is True
    assert [c["key"] for c in last["changes"]] == [f"{anna.id}|{kept['id']}"]
    assert set(world.app(anna)) == {kept["id"]}


def test_a_resync_of_a_calendar_now_empty_tells_the_app_to_drop_everything(world):
    anna = world.person("anna")
    event = world.create(anna, "@webex")
    world.sync(anna, "initial")
    world.call(anna, "calendar.events.delete", {"cal": "primary", "eid": event["id"]})
    world.sync(anna, "resync")
    assert world.messages(anna)[-1] == {"changes": [], "reset": True}
    assert world.app(anna) == {}
    world.sync(anna)
    assert len(world.messages(anna)) == 2  # nothing new: nothing published


def test_the_first_sync_of_an_empty_calendar_publishes_nothing(world):
    anna = world.person("anna")
    world.sync(anna, "initial")
    assert world.messages(anna) == []
    assert world.sync_state(anna)["sync_token"]


def test_a_large_resync_reaches_the_app_in_chunks_with_one_reset_first(world):
    anna = world.person("anna")
    for n in range(4):
        world.create(anna, f"Room {n}", summary=f"Daily {n}", **daily(28))
    world.sync(anna, "initial")
    world.sync(anna, "resync")
    resync = world.messages(anna)[2:]
    assert [len(m["changes"]) for m in resync] == [100, 12]
    assert [m.get("reset") for m in resync] == [True, None]
    assert len(world.app(anna)) == 112


def test_a_sync_whose_publish_failed_writes_nothing_and_its_redelivery_tells_the_app(world):
    anna = world.person("anna")
    failing = FailingBus(world.clock)
    world.services.bus = world.bus = failing
    old = world.create(anna, "@webex", summary="Old")
    world.sync(anna, "initial")
    token = world.sync_state(anna)["sync_token"]
    new = world.create(anna, "@webex", summary="New")
    failing.fail = Topics.MEETINGS_UPDATED
    with pytest.raises(ConnectionError):
        world.sync(anna)
    assert set(world.index(anna)) == {old["id"]}  # not written before the app was told
    assert world.sync_state(anna)["sync_token"] == token
    failing.fail = ""
    world.sync(anna)  # the redelivery
    assert world.messages(anna)[-1]["changes"][0]["key"] == f"{anna.id}|{new['id']}"
    assert world.app(anna)[new["id"]]["join_url"] == anna.url
    assert set(world.index(anna)) == {old["id"], new["id"]}


# -- Google failing ------------------------------------------------------------------------------
def test_a_user_whose_delegation_broke_is_put_in_error_and_the_message_acknowledged(world):
    anna = world.person("anna")
    world.sync(anna, "initial")
    world.sim.set_suspended(anna.email, True)
    world.services.workspace.forget(anna.email)
    world.sync(anna)  # acknowledged: a retry would be refused again
    user = world.services.store.get("users", anna.id)
    assert user["status"] == "error"
    assert user["reason_code"] not in ("", "error", None)


def test_calendars_daily_limit_defers_the_sync_without_blaming_the_user(world):
    anna = world.person("anna")
    event = world.create(anna, "@webex")
    world.sim.faults.exhaust_daily_limit("calendar", NOW + timedelta(hours=1))
    world.sync(anna, "initial")  # acknowledged: retrying within minutes would fail again
    assert world.services.store.get("users", anna.id)["status"] == "active"
    world.clock.advance(hours=2)
    world.sync(anna)  # the next push, once the allowance is back
    assert world.event(anna, event["id"])["location"] == anna.url


def test_a_google_outage_is_raised_for_redelivery_and_the_redelivery_runs_at_once(world):
    anna = world.person("anna")
    event = world.create(anna, "@webex")
    world.sim.faults.fail_next("calendar.events.list", status=503, times=20)
    with pytest.raises(GoogleTransientError):
        world.sync(anna, "initial")
    world.sim.faults = Faults()
    world.sync(anna, "initial")
    assert world.event(anna, event["id"])["location"] == anna.url


# -- the daily window refresh ---------------------------------------------------------------------
def test_once_a_day_series_are_expanded_over_the_moved_window_and_past_records_dropped(world):
    anna = world.person("anna")
    series = [world.create(anna, f"Room {n}", **daily(60)) for n in (1, 3)]
    single = world.create(anna, "Room 2", start=timedelta(hours=1))
    world.sync(anna, "initial")
    assert len(world.index(anna)) == 57  # today's to the window's last day, and the single
    world.clock.advance(days=3)
    before = world.calls()
    world.sync(anna)
    assert (world.calls() - before)["calendar.events.get"] == 2
    records = world.index(anna)
    assert single["id"] not in records  # over two days ago: out of the window
    first = min(r["start"] for r in records.values())
    assert first == to_rfc3339(NOW + timedelta(days=2, hours=2))  # yesterday's occurrence
    assert len(records) == 58  # the 2nd to the 30th day's of each series
    assert set(world.app(anna)) == set(records)
    assert {r["series_id"] for r in records.values()} == {s["id"] for s in series}


def test_within_a_day_a_sync_costs_one_list_call_and_at_a_day_it_refreshes(world):
    anna = world.person("anna")
    world.create(anna, "Room 1", **daily(60))
    world.sync(anna, "initial")
    world.clock.advance(hours=12)
    world.sync(anna)
    world.clock.advance(hours=11, minutes=59, seconds=59)
    before = world.calls()
    world.sync(anna)
    assert world.calls() - before == Counter({"calendar.events.list": 1})
    world.clock.advance(seconds=1)  # exactly a day after the initial sync
    before = world.calls()
    world.sync(anna)
    assert (world.calls() - before)["calendar.events.instances"] == 1


def test_a_full_sync_expands_each_series_once_without_reading_it_again(world):
    anna = world.person("anna")
    world.create(anna, "Room 1", **daily(60))
    world.create(anna, "Room 2", **daily(5))
    for reason in ("initial", "resync"):
        before = world.calls()
        world.sync(anna, reason)
        calls = Counter({k: v for k, v in (world.calls() - before).items()
                         if k.startswith("calendar.")})
        assert calls == Counter({"calendar.events.list": 1, "calendar.events.instances": 2})


def test_a_series_deleted_while_syncing_leaves_the_index_in_the_same_round(world, monkeypatch):
    anna = world.person("anna")
    series = world.create(anna, "Room 1", **daily(10))
    world.sync(anna, "initial")
    world.clock.advance(days=1)

    def meanwhile(n: int) -> None:
        if n == 1:  # the user deletes the series as the listing goes out (purged at once)
            del world.sim.calendar_state.calendars[anna.email].events[series["id"]]

    _during_list(world, monkeypatch, meanwhile)
    world.sync(anna)
    assert world.index(anna) == {}
    assert world.app(anna) == {}


# -- rooms ----------------------------------------------------------------------------------------
def test_a_rooms_devices_get_a_private_meetings_time_and_link_but_not_its_title_or_people(
        world):
    anna = world.person("anna")
    room = world.room("board")
    world.sync(room, "initial")
    private = world.create(anna, "@webex", summary="Layoffs", visibility="private",
                           attendees=[{"email": room.email}])
    confidential = world.create(anna, "@webex", summary="Merger", visibility="confidential",
                                start=timedelta(hours=4), attendees=[{"email": room.email}])
    public = world.create(anna, "@webex", summary="Town hall", start=timedelta(hours=6),
                          attendees=[{"email": room.email}])
    world.sync(anna)
    world.sync(room)
    records = world.app(room)
    for hidden in (private, confidential):
        record = records[hidden["id"]]
        assert (record["title"], record["attendees"], record["organizer_email"]) == (
            "", [], None)
        assert record["join_url"] == anna.url
    assert records[public["id"]]["title"] == "Town hall"
    assert records[public["id"]]["organizer_email"] == anna.email
    assert world.event(anna, private["id"])["location"] == anna.url  # the room patched nothing


def test_a_rooms_private_series_is_hidden_in_every_occurrence_and_at_the_daily_refresh(world):
    anna = world.person("anna")
    room = world.room("board")
    series = world.create(anna, "Room 1", summary="Secret", visibility="private",
                          attendees=[{"email": room.email}], **daily(40))
    world.sync(room, "initial")
    world.clock.advance(days=2)
    world.sync(room)
    records = world.index(room)
    assert len(records) == 29  # the 1st to the 29th day's
    assert {(r["title"], r["organizer_email"]) for r in records.values()} == {("", None)}
    gateway = processing._gateway(world.services, world.services.store.get("users", room.id))
    assert "creator" not in gateway.get(series["id"])
    assert "summary" not in gateway.get(series["id"])


def test_writes_through_a_rooms_gateway_keep_googles_concurrency_check(world):
    anna = world.person("anna")
    room = world.room("board")
    event = world.create(anna, "", attendees=[{"email": room.email}])
    user = world.services.store.get("users", room.id)
    gateway = processing._gateway(world.services, user)
    copy = gateway.get(event["id"])
    with pytest.raises(EtagMismatch):
        gateway.patch(event["id"], {"colorId": "3"}, etag='"stale"')
    patched = gateway.patch(event["id"], {"colorId": "3"}, etag=copy["etag"],
                            send_updates="none", conference_data_version=1)
    assert patched["colorId"] == "3"
    channel = world.services.workspace.calendar(user["acts_as"], room.email).watch(
        channel_id=f"room-{world.domain}", address="https://intake.example.com/intake_push",
        token="t", ttl_seconds=3600)
    gateway.stop_channel(f"room-{world.domain}", channel["resourceId"])
    assert _stopped_at_google(world, f"room-{world.domain}")


def test_a_keyword_booking_on_the_rooms_own_calendar_gets_a_meet_conference(world):
    room = world.room("board")
    reader = world.services.store.get("users", room.id)["acts_as"]
    begin = NOW + timedelta(hours=2)
    booking = world.services.workspace.calendar(reader, room.email).insert({
        "summary": "Walk-in", "location": "@gmeet", "start": {"dateTime": to_rfc3339(begin)},
        "end": {"dateTime": to_rfc3339(begin + timedelta(minutes=30))}})
    world.sync(room, "initial")
    stored = world.services.workspace.calendar(reader, room.email).get(booking["id"])
    url = stored["conferenceData"]["entryPoints"][0]["uri"]
    assert url.startswith("https://meet.google.com/") and stored["location"] == url
    assert world.app(room)[booking["id"]]["join_url"] == url


def test_a_meeting_cancelled_after_the_room_synced_leaves_the_rooms_list(world):
    anna = world.person("anna")
    room = world.room("board")
    event = world.create(anna, "", summary="Review", attendees=[{"email": room.email}])
    world.sync(room, "initial")
    assert set(world.app(room)) == {event["id"]}
    world.call(anna, "calendar.events.delete", {"cal": "primary", "eid": event["id"]})
    world.sync(room)
    assert world.app(room) == {} and world.index(room) == {}


def test_a_rooms_calendar_listed_over_several_pages_is_indexed_whole(world, monkeypatch):
    from shared.google import calendar

    monkeypatch.setitem(calendar.LIST_PARAMS, "maxResults", 2)  # pages of two events
    anna = world.person("anna")
    room = world.room("board")
    events = [world.create(anna, "", summary=f"Review {n}", start=timedelta(hours=n + 1),
                           attendees=[{"email": room.email}]) for n in range(3)]
    world.sync(room, "initial")
    assert set(world.app(room)) == {e["id"] for e in events}


# -- what the mutation run showed untested ------------------------------------------------------
def test_after_googles_410_a_failed_full_listing_is_retried_without_the_dead_token(world,
                                                                                  monkeypatch):
    """The 410 is met once: the redelivery of a sync whose full listing failed lists the whole
    calendar at once instead of spending a call on the token Google already refused."""
    from local.workspace_sim.errors import ApiError

    anna = world.person("anna")
    event = world.create(anna, "@webex")
    world.sync(anna, "initial")
    later = world.create(anna, "@webex", summary="Later")
    world.sim.invalidate_sync_tokens(anna.email)
    state = world.sim.calendar_state
    original = state.list
    down = [True]

    def listed(caller, calendar_id, params, instances_of=None):
        if down[0] and instances_of is None and not params.get("syncToken"):
            raise ApiError(503, "backendError", "Backend Error")
        return original(caller, calendar_id, params, instances_of)

    monkeypatch.setattr(state, "list", listed)
    with pytest.raises(GoogleTransientError):
        world.sync(anna)
    down[0] = False
    before = world.calls()
    world.sync(anna)  # the redelivery
    assert (world.calls() - before)["calendar.events.list"] == 1
    assert world.event(anna, later["id"])["location"] == anna.url
    assert set(world.app(anna)) == {event["id"], later["id"]}


def test_a_resync_that_died_after_clearing_the_index_still_tells_the_app_to_start_over(world):
    """The replay finds nothing to clear, but a sync was committed before: the app may hold a
    meeting Google no longer lists, so the replay's first message still says reset."""
    anna = world.person("anna")
    failing = FailingBus(world.clock)
    world.services.bus = world.bus = failing
    kept = world.create(anna, "@webex")
    world.sync(anna, "initial")
    gone = world.create(anna, "Room 2", summary="Gone")
    world.sync(anna)
    assert set(world.app(anna)) == {kept["id"], gone["id"]}
    # Deleted where no incremental sync saw it (as the ghost of an older bug would be).
    del world.sim.calendar_state.calendars[anna.email].events[gone["id"]]
    failing.fail = Topics.MEETINGS_UPDATED
    with pytest.raises(ConnectionError):
        world.sync(anna, "resync")
    assert world.index(anna) == {}  # cleared before the first page's publish failed
    failing.fail = ""
    world.sync(anna, "resync")  # the redelivery
    assert world.messages(anna)[-1]["reset"] is True
    assert set(world.app(anna)) == {kept["id"]}


def test_a_first_sync_replayed_after_a_crash_midway_tells_the_app_to_start_over(world,
                                                                                monkeypatch):
    """No sync was committed yet, but the first page reached the app before the crash: one
    cleared record is enough for the replay to say reset, or the app keeps a meeting deleted
    in between."""
    from shared.google import calendar

    monkeypatch.setitem(calendar.LIST_PARAMS, "maxResults", 1)  # pages of one event
    anna = world.person("anna")
    events = {e["id"]: e for e in (
        world.create(anna, "Room 1", summary="First", start=timedelta(hours=1)),
        world.create(anna, "Room 2", summary="Second", start=timedelta(hours=2)))}
    real = world.bus.publish
    told: list[str] = []

    def publish(topic, data, **kwargs):
        if topic == Topics.MEETINGS_UPDATED:
            if told:  # the second page's publish: the instance dies here
                raise ConnectionError("instance gone")
            told.append(topic)
        return real(topic, data, **kwargs)

    monkeypatch.setattr(world.bus, "publish", publish)
    with pytest.raises(ConnectionError):
        world.sync(anna, "initial")
    [written] = world.index(anna)
    assert set(world.app(anna)) == {written}
    world.call(anna, "calendar.events.delete", {"cal": "primary", "eid": written})
    monkeypatch.setattr(world.bus, "publish", real)
    world.sync(anna, "initial")  # the redelivery
    assert world.messages(anna)[1].get("reset") is True
    assert set(world.app(anna)) == set(events) - {written}


def test_a_full_sync_reads_no_meeting_record_it_just_cleared(world):
    """#20: after the clear every record is known to be absent: a full sync spends no read per
    event or per series on the meetings collection."""
    anna = world.person("anna")
    for n in range(3):
        world.create(anna, f"Room {n}", summary=f"Review {n}", start=timedelta(hours=n + 1))
    world.create(anna, "Room 9", summary="Daily", **daily(5))
    meter = world.services.store.meter
    before = meter.snapshot().get("firestore.reads:meetings", 0)
    world.sync(anna, "initial")
    # Only the clear's query (its empty answer is billed as one read).
    assert meter.snapshot().get("firestore.reads:meetings", 0) - before == 1
    assert len(world.index(anna)) == 8


def test_a_resync_counts_as_the_days_window_refresh(world):
    """A full sync indexes the current window: the next refresh is due a day after it, not a
    day after the refresh before it."""
    anna = world.person("anna")
    world.create(anna, "Room 1", **daily(60))
    world.sync(anna, "initial")
    world.clock.advance(hours=12)
    world.sync(anna, "resync")
    world.clock.advance(hours=13)  # a day after the initial sync, half a day after the resync
    before = world.calls()
    world.sync(anna)
    assert world.calls() - before == Counter({"calendar.events.list": 1})


def test_the_sync_log_counts_the_days_refresh_and_every_patch_of_a_page(world, caplog):
    """What an operator reads: every index change published (the pages' and the daily
    refresh's) and every patch, not the last one of a page."""
    import logging

    anna = world.person("anna")
    world.create(anna, "Room 1", **daily(60))
    world.sync(anna, "initial")
    world.clock.advance(days=1)
    for n in range(2):
        world.create(anna, "@webex", summary=f"Review {n}", start=timedelta(days=1, hours=n + 1))
    told = sum(len(m["changes"]) for m in world.messages(anna))
    with caplog.at_level(logging.INFO, logger=processing.__name__):
        world.sync(anna)
    published = sum(len(m["changes"]) for m in world.messages(anna)) - told
    assert published == 3  # the two new events and the series' occurrence the window gained
    done = [r.json_fields for r in caplog.records if r.getMessage() == "sync done"]
    assert [(d["events"], d["patches"], d["index_changes"]) for d in done] == [(2, 2, 3)]


def test_a_keyword_event_listed_without_an_end_is_taken_for_one_not_over(world):
    """Google always lists an end (even with endTimeUnspecified); should one come without it,
    the organizer still gets join details rather than a meeting silently left as typed."""
    anna = world.person("anna")
    event = world.create(anna, "@webex")
    stored = world.sim.calendar_state.calendars[anna.email].events[event["id"]]
    stored.pop("end")
    world.sync(anna, "initial")
    assert world.event(anna, event["id"])["location"] == anna.url
