"""Out-of-office presence driven directly: the tick, the shard worker and the pacer on the real
SqliteStore and LocalBus with a fake clock, Gmail through the real google-auth and
googleapiclient against the Workspace simulator (#22).

Found by mutation testing: who is polled, when shards start, what a refused or rate-limited
read does to a user, and which presence updates are published. The stack-level scenarios are in
test_presence.py; these are fast enough for the module's mutation run (mutation/config.toml).

``services.sleep`` records the waits the worker asks for (shard slots, pacing) without moving
the clock, so the pool's threads cannot race each other through simulated time; tests move the
clock themselves.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.workspace_sim import WorkspaceSimulator
from local.workspace_sim.faults import Faults
from local.workspace_sim.simulator import SCOPES
from shared.bus.base import Topics
from shared.bus.local import LocalBus
from shared.clock import FakeClock, to_rfc3339
from shared.config import Config
from shared.errors import BadRequest, TransientError
from shared.google.factory import GMAIL_SETTINGS_SCOPE, WorkspaceFactory
from shared.presence import vacation
from shared.presence.vacation import DEFAULT_LIMITS, Limits, ShardResult, plan_shards
from shared.runtime import Services
from shared.store import names
from shared.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
GET_VACATION = "gmail.users.settings.getVacation"


def _t(when: datetime) -> str:
    return to_rfc3339(when)


def _ms(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


class NoSealer:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"presence seals nothing ({name})")


class Waits(list):
    """``services.sleep``: what the worker waited, in order (the clock does not move)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def domain():
    """One simulated domain for the module (starting one costs a second); ``sim`` makes it
    new for each test."""
    with WorkspaceSimulator(FakeClock(NOW), user_quota_per_minute=100_000,
                            project_quota_per_minute=1_000_000) as running:
        yield running


@pytest.fixture
def sim(domain):
    """The domain as new: nobody in it, no faults, the delegation whole, no calls counted.
    Its clock only moves on, so tests count time from ``now``."""
    domain.clock.advance(minutes=1)
    with domain.lock:
        domain.users.clear()
        domain.calendar_state.calendars.clear()
        domain.oauth.gone.clear()
    domain.faults = Faults()
    domain.delegation.authorize(domain.service_account_info["client_id"], SCOPES)
    domain.reset_counters()
    yield domain
    domain.__dict__.pop("count", None)  # a test's watch on the requests (see _in_flight)


@pytest.fixture(scope="module")
def backoff_log() -> list[list[float]]:
    return [[]]


@pytest.fixture(scope="module")
def workspace(domain, backoff_log):
    """The service's Google clients for the module, kept warm as a deployed instance keeps
    them (building a Gmail client per user costs more than a test); backoff waits go to the
    running test's ``backoffs``."""
    return WorkspaceFactory(api_endpoint=domain.url, token_uri=domain.token_uri,
                            service_account_info=domain.service_account_info,
                            sleep=lambda seconds: backoff_log[0].append(seconds))


@pytest.fixture
def backoffs(backoff_log) -> list[float]:
    """What ``call_google`` waited between retries during this test (the clock stands)."""
    backoff_log[0] = []
    return backoff_log[0]


@pytest.fixture
def services(tmp_path, sim, workspace, backoffs):
    services = Services(config=Config(), clock=sim.clock,
                        store=SqliteStore(tmp_path / "s.sqlite3"), bus=LocalBus(sim.clock),
                        sealer=NoSealer(), workspace=workspace, sleep=Waits())
    store = services.store
    yield services
    for used in {store, services.store}:  # a test may bring its own
        used.close()


def _user(services, sim, uid: str, responder: dict[str, Any] | None = None, *,
          status: str = "active", **doc: Any) -> str:
    email = f"{uid}@example.com"
    sim.add_user(email)
    services.store.put(names.USERS, uid, {"status": status, "email": email, **doc})
    if responder is not None:
        _set(sim, uid, responder)
    return uid


def _set(sim, uid: str, responder: dict[str, Any]) -> None:
    """The user changes their responder in Gmail (the simulator's mailbox settings)."""
    sim.users[f"{uid}@example.com"]["vacation"] = responder


def _away(start: datetime | None = None, end: datetime | None = None, *,
          on: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"enableAutoReply": on, "responseSubject": "Away ZX81",
                            "responseBodyPlainText": "Back soon ZX81"}
    if start is not None:
        body["startTime"] = _ms(start)
    if end is not None:
        body["endTime"] = _ms(end)
    return body


def _reads(sim) -> int:
    return sim.api_calls()[GET_VACATION]


def _updates(services, uid: str | None = None) -> list[dict[str, Any]]:
    return [m.data for m in services.bus.published(Topics.PRESENCE_UPDATED)
            if uid is None or m.data["user_id"] == uid]


def _shard(services, uids: list[str], **extra: Any) -> dict[str, Any]:
    """A shard as the tick cuts it now: each user with its sealed address and last presence
    (users not stored, or without an address, are entries of an older message: ids only)."""
    now = services.clock.now()
    users = []
    for uid in uids:
        doc = services.store.get(names.USERS, uid) or {}
        users.append(vacation._entry(services, uid, doc) if doc.get("email") else {"id": uid})
    return {"tick": _t(now), "shard": 0, "shards": 1, "users": users,
            "not_before": _t(now), "deadline": _t(now + timedelta(seconds=600)),
            "max_rate": DEFAULT_LIMITS.project_units_per_minute / 60 / 40, **extra}


def _tick(services) -> list[ShardResult]:
    """The Scheduler's tick, then every shard it published, delivered once."""
    before = len(services.bus.published(Topics.VACATION_SHARD))
    vacation.on_tick(services)
    shards = services.bus.published(Topics.VACATION_SHARD)[before:]
    return [vacation.poll_shard(services, m.data) for m in shards]


def _presence(services, uid: str) -> tuple[str, str | None, str | None]:
    view = vacation.get_presence(services, uid)
    return view["status"], view["since"], view["until"]


# -- the tick ------------------------------------------------------------------------------------
class PagedStore(SqliteStore):
    """The real store, counting the pages of users read (and failing fast on a tick that
    would page through them without end)."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.user_pages = 0

    def query(self, collection, *args, **kwargs):
        if collection == names.USERS:
            self.user_pages += 1
            assert self.user_pages <= 10, "the tick keeps paging through the users"
        return super().query(collection, *args, **kwargs)


@pytest.mark.parametrize(("interval", "slot"), [(600, 80.0), (120, 40.0)])
def test_a_tick_shards_every_active_user_exactly_once_with_start_times_spread(
        services, tmp_path, caplog, interval, slot):
    services.config = Config(vacation_interval_seconds=interval)
    store = services.store = PagedStore(tmp_path / "paged.sqlite3")
    active = [f"u{n:05d}" for n in range(2001)]  # more than 4 pages of 500, 3 shards of 667
    for uid in active:
        store.put(names.USERS, uid, {"status": "active", "email": f"{uid}@example.com"})
    store.put(names.USERS, "u00000a", {"status": "active", "kind": "user", "email": "k@x"})
    store.put(names.USERS, "u00001r", {"status": "active", "kind": "room", "email": "r@x"})
    for status in ("error", "pending", "deactivated"):
        store.put(names.USERS, f"u00002{status}", {"status": status, "email": "z@x"})

    with caplog.at_level(logging.INFO, logger=vacation.__name__):
        plan = vacation.on_tick(services)

    shards = [m for m in services.bus.published(Topics.VACATION_SHARD)]
    expected = sorted([*active, "u00000a"])
    assert [u["id"] for m in shards for u in m.data["users"]] == expected
    assert [len(m.data["users"]) for m in shards] == [668, 668, 666]
    entry = shards[0].data["users"][0]
    assert set(entry) == {"id", "mail"}  # nobody has a presence yet
    assert vacation.open_address(services, entry["id"], entry["mail"]) == "u00000@example.com"
    now = services.clock.now()
    assert [(m.data["tick"], m.data["shard"], m.data["shards"], m.data["not_before"],
             m.data["deadline"], m.data["max_rate"]) for m in shards] == [
        (_t(now), i, 3, _t(now + timedelta(seconds=i * slot)),
         _t(now + timedelta(seconds=interval)), 500.0) for i in range(3)]
    assert (plan.users, plan.shards, plan.shard_size) == (2002, 3, 668)
    assert plan.fits_interval == (interval == 600)
    assert store.user_pages == 5  # 500 at a time: a tick's memory does not grow with users
    # an interval too short for the population is the operator's to fix: a warning says so
    assert [r.levelno for r in caplog.records] == [
        logging.INFO if interval == 600 else logging.WARNING]


def test_a_tick_without_active_users_publishes_nothing(services, sim):
    _user(services, sim, "gone", status="deactivated")
    plan = vacation.on_tick(services)
    assert services.bus.published(Topics.VACATION_SHARD) == []
    assert (plan.users, plan.shards) == (0, 0)


# -- the out-of-office rule through the worker ---------------------------------------------------
def test_responders_set_presence_and_only_changes_are_published(services, sim):
    now = services.clock.now()
    _user(services, sim, "ann", _away())
    _user(services, sim, "ben", _away(on=False))
    _user(services, sim, "cat", _away(now + HOUR, now + 3 * HOUR))  # scheduled
    _user(services, sim, "dan", _away(now - 3 * HOUR, now - HOUR))  # over
    _user(services, sim, "eve", _away(now - HOUR, now + HOUR))

    assert _tick(services) == [ShardResult(polled=3, changed=2)]

    assert _reads(sim) == 5
    assert _presence(services, "ann") == ("out_of_office", _t(now), None)
    assert _presence(services, "ben") == ("available", None, None)
    assert _presence(services, "cat") == ("available", None, _t(now + HOUR))
    assert _presence(services, "dan") == ("available", None, None)
    assert _presence(services, "eve") == ("out_of_office", _t(now - HOUR), _t(now + HOUR))
    assert sorted(_updates(services), key=lambda u: u["user_id"]) == [
        {"user_id": "ann", "status": "out_of_office", "since": _t(now), "until": None},
        {"user_id": "eve", "status": "out_of_office", "since": _t(now - HOUR),
         "until": _t(now + HOUR)}]
    assert [m.ordering_key for m in services.bus.published(Topics.PRESENCE_UPDATED)] == [
        m.data["user_id"] for m in services.bus.published(Topics.PRESENCE_UPDATED)]


def test_a_scheduled_responder_flips_at_its_start_and_back_at_its_end(services, sim):
    now = services.clock.now()
    start, end = now + timedelta(minutes=25), now + timedelta(minutes=65)
    _user(services, sim, "dan", _away(start, end))

    results = []
    for _ in range(8):  # ticks at +0 .. +70 min, Gmail unchanged
        results += _tick(services)
        services.clock.advance(minutes=10)

    assert _updates(services, "dan") == [
        {"user_id": "dan", "status": "out_of_office", "since": _t(start), "until": _t(end)},
        {"user_id": "dan", "status": "available", "since": _t(end), "until": None}]
    assert [r.changed for r in results] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert [r.polled for r in results] == [1, 1, 1, 0, 1, 1, 1, 0]


def test_an_open_ended_absence_keeps_when_it_was_first_seen_and_ends_when_switched_off(
        services, sim):
    first = services.clock.now()
    _user(services, sim, "ann", _away())
    _tick(services)
    services.clock.advance(minutes=10)
    assert _tick(services) == [ShardResult(polled=1)]
    assert _presence(services, "ann") == ("out_of_office", _t(first), None)

    _set(sim, "ann", _away(on=False))
    services.clock.advance(minutes=10)
    assert _tick(services) == [ShardResult(changed=1)]
    back = services.clock.now()
    assert _updates(services, "ann") == [
        {"user_id": "ann", "status": "out_of_office", "since": _t(first), "until": None},
        {"user_id": "ann", "status": "available", "since": _t(back), "until": None}]
    assert _presence(services, "ann") == ("available", _t(back), None)


def test_a_responder_whose_window_ends_as_it_starts_never_announces_an_absence(services, sim):
    now = services.clock.now()
    _user(services, sim, "ann", _away(now + HOUR, now + HOUR))  # Gmail accepts it; never on
    _user(services, sim, "ben", _away(now - HOUR, now - HOUR))
    assert _tick(services) == [ShardResult(polled=2)]
    # nothing will change by itself: no "until", and no "since" from a window that never was
    assert _presence(services, "ann") == ("available", None, None)
    assert _presence(services, "ben") == ("available", None, None)
    assert _updates(services) == []


def test_an_extended_vacation_is_announced_again(services, sim):
    now = services.clock.now()
    _user(services, sim, "ann", _away(now - HOUR, now + HOUR))
    _tick(services)
    _set(sim, "ann", _away(now - HOUR, now + 5 * HOUR))
    services.clock.advance(minutes=10)
    _tick(services)
    assert [u["until"] for u in _updates(services, "ann")] == [_t(now + HOUR),
                                                               _t(now + 5 * HOUR)]


def test_the_presence_record_keeps_times_and_never_the_responders_text(services, sim):
    now = services.clock.now()
    _user(services, sim, "ann", _away(now - HOUR, now + HOUR))
    _user(services, sim, "ben", _away(now + HOUR))
    _tick(services)

    ann = services.store.get(names.USERS, "ann")
    assert ann["presence"] == {"status": "out_of_office", "since": _t(now - HOUR),
                               "until": _t(now + HOUR), "observed_at": _t(now),
                               "publish_pending": False, "changed_at": _t(now)}
    ben = services.store.get(names.USERS, "ben")
    assert ben["presence"] == {"status": "available", "since": None, "until": _t(now + HOUR),
                               "observed_at": _t(now)}
    assert ben["status"] == "active" and ben["email"] == "ben@example.com"  # the rest is kept
    assert "ZX81" not in repr(ann) + repr(ben)

    # the next tick carries what the worker needs to see nothing changed, and writes nothing
    writes = services.store.meter.snapshot()["firestore.writes"]
    services.clock.advance(minutes=10)
    assert _tick(services) == [ShardResult(polled=2)]
    assert services.store.meter.snapshot()["firestore.writes"] == writes
    carried = services.bus.published(Topics.VACATION_SHARD)[-1].data["users"]
    assert [u.get("presence") for u in carried] == [
        {"status": "out_of_office", "since": _t(now - HOUR), "until": _t(now + HOUR),
         "observed_at": _t(now), "changed_at": _t(now)},
        {"status": "available", "until": _t(now + HOUR), "observed_at": _t(now)}]


def test_presence_of_a_user_never_polled_is_available(services):
    assert vacation.get_presence(services, "nobody") == {
        "user_id": "nobody", "status": "available", "since": None, "until": None}


# -- who is read ---------------------------------------------------------------------------------
def test_only_active_users_with_a_mailbox_are_read(services, sim):
    _user(services, sim, "ann", _away())
    _user(services, sim, "err", _away(), status="error")
    _user(services, sim, "nomail", _away(), email="")
    shard = _shard(services, [])  # a message from before entries carried the user: ids only
    del shard["users"]
    shard["user_ids"] = ["ann", "err", "nomail", "unknown"]

    assert vacation.poll_shard(services, shard) == ShardResult(changed=1, skipped=3)
    assert _reads(sim) == 1
    assert [u["user_id"] for u in _updates(services)] == ["ann"]


def test_a_redelivered_shard_stores_and_publishes_nothing_more(services, sim):
    _user(services, sim, "ann", _away())
    _user(services, sim, "ben")
    shard = _shard(services, ["ann", "ben"])
    assert vacation.poll_shard(services, shard) == ShardResult(polled=1, changed=1)
    stored = services.store.get(names.USERS, "ann")
    services.clock.advance(seconds=30)

    assert vacation.poll_shard(services, shard) == ShardResult(polled=2)
    assert _reads(sim) == 4  # Gmail is read again: quota units, not billed
    assert len(_updates(services)) == 1
    assert services.store.get(names.USERS, "ann") == stored  # since, observed_at unchanged


def test_an_older_read_never_overwrites_a_newer_one(services, sim):
    _user(services, sim, "ann", _away(on=False))
    shard = _shard(services, ["ann"])  # carries: available
    later = services.clock.now() + timedelta(seconds=1)
    services.store.merge(names.USERS, "ann", {"presence": {  # a read that returned later
        "status": "out_of_office", "since": _t(later), "observed_at": _t(later)}})
    stored = services.store.get(names.USERS, "ann")
    _set(sim, "ann", _away())
    assert vacation.poll_shard(services, shard) == ShardResult(polled=1)
    assert services.store.get(names.USERS, "ann") == stored
    assert _updates(services) == []


def test_a_change_found_after_the_user_left_is_not_stored(services, sim):
    _user(services, sim, "ann", _away())
    shard = _shard(services, ["ann"])
    services.store.merge(names.USERS, "ann", {"status": "deactivated", "presence": None})
    assert vacation.poll_shard(services, shard) == ShardResult(polled=1)
    assert services.store.get(names.USERS, "ann")["presence"] is None
    assert _updates(services) == []


def test_a_forged_or_moved_entry_is_skipped_without_reading(services, sim):
    _user(services, sim, "ann", _away())
    _user(services, sim, "ben", _away())
    shard = _shard(services, ["ann", "ben"])
    shard["users"][1]["mail"] = shard["users"][0]["mail"]  # ann's address under ben's id
    assert vacation.poll_shard(services, shard) == ShardResult(changed=1, skipped=1)
    assert _reads(sim) == 1


def test_a_shard_older_than_its_deadline_is_skipped_without_reading(services, sim):
    _user(services, sim, "ann", _away())
    shard = _shard(services, ["ann"])
    services.clock.advance(seconds=600)  # the next tick is due: it covers the user
    assert vacation.poll_shard(services, shard) == ShardResult(skipped=1)
    assert _reads(sim) == 0 and _updates(services) == []


def test_a_shard_just_before_its_deadline_is_still_read(services, sim):
    _user(services, sim, "ann", _away())
    shard = _shard(services, ["ann"])
    services.clock.advance(seconds=599)
    assert vacation.poll_shard(services, shard) == ShardResult(changed=1)


def test_a_shard_without_slot_deadline_or_rate_is_read_at_once(services, sim):
    _user(services, sim, "ann", _away())
    _user(services, sim, "ben", _away())
    shard = {"tick": _t(services.clock.now()), "user_ids": ["ann", "ben"]}
    assert vacation.poll_shard(services, shard) == ShardResult(changed=2)
    assert services.sleep == []


@pytest.mark.parametrize("message", [
    {"tick": "2026-11-30T12:00:00Z"},
    {"tick": "2026-11-30T12:00:00Z", "user_ids": "ann"},
    {"tick": "2026-11-30T12:00:00Z", "users": [{"mail": "x"}]},
    {"tick": "2026-11-30T12:00:00Z", "users": ["ann"]},
    {"tick": "2026-11-30T12:00:00Z", "users": {"id": "ann"}, "user_ids": ["ann"]},
    {"user_ids": ["ann"]},
    {"user_ids": ["ann"], "tick": 1},
])
def test_a_malformed_shard_message_is_refused(services, sim, message):
    _user(services, sim, "ann", _away())
    with pytest.raises(BadRequest, match=r"^vacation-shards message without users/tick$"):
        vacation.poll_shard(services, message)  # the operator's log says what is missing
    assert _reads(sim) == 0


# -- pacing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("offset", "waits"), [(80.0, [80.0]), (1.0, [1.0]), (0.0, []),
                                               (-30.0, []), (900.0, [240.0])])
def test_a_shard_waits_for_its_slot_but_never_longer_than_the_spread(services, sim, offset,
                                                                      waits):
    _user(services, sim, "ann", _away())
    now = services.clock.now()
    shard = _shard(services, ["ann"], not_before=_t(now + timedelta(seconds=offset)),
                   deadline=_t(now + timedelta(seconds=1200)), max_rate=0)
    vacation.poll_shard(services, shard)
    assert services.sleep == waits


def test_a_shard_paces_its_reads_to_its_rate_after_a_one_second_burst(services, sim):
    uids = [_user(services, sim, f"u{n}") for n in range(6)]
    assert vacation.poll_shard(services, _shard(services, uids, max_rate=2.0)) == ShardResult(
        polled=6)
    # 2 reads at once, then one every half second: the clock stands still here
    assert sorted(services.sleep) == [0.5, 1.0, 1.5, 2.0]


def test_a_slow_rate_still_lets_one_read_through_at_once(services, sim):
    uids = [_user(services, sim, f"u{n}") for n in range(3)]
    vacation.poll_shard(services, _shard(services, uids, max_rate=0.5))
    assert sorted(services.sleep) == [2.0, 4.0]


def test_a_shard_reads_as_many_users_at_once_as_the_plan_assumes(services, sim):
    """The shard sizing counts on ``concurrency`` reads in flight per shard: the simulator
    holds each read until that many have arrived together."""
    together = threading.Barrier(DEFAULT_LIMITS.concurrency, timeout=10)
    short: list[str] = []
    counted = sim.count

    def count(key: str) -> None:
        counted(key)
        if key == GET_VACATION:
            try:
                together.wait()
            except threading.BrokenBarrierError:
                short.append(key)

    sim.count = count  # instance attribute: the server calls self.sim.count per request
    uids = [_user(services, sim, f"u{n}") for n in range(DEFAULT_LIMITS.concurrency)]
    vacation.poll_shard(services, _shard(services, uids))
    assert short == []
    assert _reads(sim) == len(uids)


def test_a_shard_without_a_rate_is_not_paced(services, sim):
    uids = [_user(services, sim, f"u{n}") for n in range(3)]
    vacation.poll_shard(services, _shard(services, uids, max_rate=None))
    assert services.sleep == []


def _pacer(rate: float):
    clock = FakeClock(NOW)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    holder = type("S", (), {"clock": clock, "sleep": staticmethod(sleep)})()
    return vacation._Pacer(holder, rate), clock, waits


def test_the_pacer_refills_while_idle_up_to_one_seconds_burst():
    pacer, clock, waits = _pacer(4.0)
    for _ in range(6):
        pacer.wait()
    assert waits == [0.25, 0.25]  # 4 at once, then every 1/4 s
    clock.advance(0.5)  # idle: 2 calls' worth back
    for _ in range(3):
        pacer.wait()
    assert waits == [0.25, 0.25, 0.25]
    clock.advance(60)  # long idle: never more than one second's burst
    for _ in range(5):
        pacer.wait()
    assert waits == [0.25] * 4


def test_the_pacer_of_a_slow_rate_spaces_calls_by_its_period():
    pacer, clock, waits = _pacer(0.5)
    for _ in range(3):
        pacer.wait()
    assert waits == [2.0, 2.0]
    clock.advance(10)  # a burst of one, however long the pause
    pacer.wait()
    pacer.wait()
    assert waits == [2.0, 2.0, 2.0]


# -- failures ------------------------------------------------------------------------------------
class FailingBus(LocalBus):
    """Pub/Sub refuses the first ``failures`` presence updates (e.g. a crash before the ack)."""

    def __init__(self, clock, failures: int) -> None:
        super().__init__(clock)
        self.failures = failures

    def publish(self, topic, data, **kwargs):
        if topic == Topics.PRESENCE_UPDATED and self.failures:
            self.failures -= 1
            raise ConnectionError("Pub/Sub unavailable")
        return super().publish(topic, data, **kwargs)


def test_a_change_whose_publish_failed_is_sent_by_the_redelivered_shard_once(services, sim):
    services.bus = FailingBus(services.clock, failures=1)
    _user(services, sim, "ann", _away())
    shard = _shard(services, ["ann"])
    with pytest.raises(TransientError):
        vacation.poll_shard(services, shard)
    assert _updates(services) == []

    # each redelivery reads Gmail again; the stored change goes out once, from the transaction
    assert vacation.poll_shard(services, shard) == ShardResult(changed=1)
    assert vacation.poll_shard(services, shard) == ShardResult(polled=1)
    assert [u["status"] for u in _updates(services, "ann")] == ["out_of_office"]
    assert _reads(sim) == 3


def test_a_change_whose_publish_failed_is_sent_by_the_next_tick(services, sim):
    services.bus = FailingBus(services.clock, failures=1)
    _user(services, sim, "ann", _away())
    with pytest.raises(TransientError):
        _tick(services)
    services.clock.advance(minutes=10)  # the shard's redeliveries all failed or came too late
    _tick(services)
    assert [u["status"] for u in _updates(services, "ann")] == ["out_of_office"]
    services.clock.advance(minutes=10)
    _tick(services)
    assert len(_updates(services, "ann")) == 1


def test_gmail_failing_beyond_its_retries_redelivers_the_shard_and_changes_nobody(
        services, sim, backoffs):
    _user(services, sim, "ann", _away())
    sim.faults.fail_next(GET_VACATION, status=503, times=5)
    shard = _shard(services, ["ann"])
    # the function's error log (and Pub/Sub's redelivery) say how many users are left
    with pytest.raises(TransientError, match=r"^1 users of the shard could not be read"):
        vacation.poll_shard(services, shard)
    assert len(backoffs) == 4  # call_google's retries, in clock time
    assert _presence(services, "ann") == ("available", None, None)
    assert services.store.get(names.USERS, "ann")["status"] == "active"

    assert vacation.poll_shard(services, shard) == ShardResult(changed=1)  # redelivered
    assert _presence(services, "ann")[0] == "out_of_office"


def test_the_rest_of_a_shard_is_done_before_it_asks_for_redelivery(services, sim):
    uids = [_user(services, sim, f"u{n}", _away()) for n in range(4)]
    services.bus = FailingBus(services.clock, failures=1)  # one user's update is refused
    shard = _shard(services, uids)
    with pytest.raises(TransientError):
        vacation.poll_shard(services, shard)
    assert len(_updates(services)) == 3

    # redelivered: every user is read again, only the refused update goes out
    assert vacation.poll_shard(services, shard) == ShardResult(polled=3, changed=1)
    assert sorted(u["user_id"] for u in _updates(services)) == uids
    assert _reads(sim) == 8


def _revoke(services, sim, uid: str) -> None:
    sim.delegation.revoke(sim.service_account_info["client_id"], GMAIL_SETTINGS_SCOPE)
    services.workspace.forget(f"{uid}@example.com")


def _delete_with_live_token(services, sim, uid: str) -> None:
    sim.remove_user(f"{uid}@example.com")  # Gmail answers 400 failedPrecondition


def _delete(services, sim, uid: str) -> None:
    sim.remove_user(f"{uid}@example.com")
    services.workspace.forget(f"{uid}@example.com")


@pytest.mark.parametrize(("refuse", "code", "hint"), [
    (_revoke, "delegation_not_authorised", f"(missing: {GMAIL_SETTINGS_SCOPE})"),
    (_delete_with_live_token, "gmail_error", "Gmail API refused"),
    (_delete, "user_not_found", "primary Workspace email"),
])
def test_a_refused_read_moves_the_user_to_error_and_withdraws_the_absence_once(
        services, sim, refuse, code, hint):
    now = services.clock.now()
    _user(services, sim, "ivy", _away(now - HOUR, now + 5 * HOUR))
    _user(services, sim, "jon")
    _tick(services)
    refuse(services, sim, "ivy")
    services.clock.advance(minutes=10)
    withdrawn = services.clock.now()
    _set(sim, "jon", _away())

    assert _tick(services) == [ShardResult(changed=1, errors=1)]

    record = services.store.get(names.USERS, "ivy")
    assert (record["status"], record["reason_code"]) == ("error", code)
    assert hint in record["reason"]
    assert _updates(services, "ivy")[-1] == {"user_id": "ivy", "status": "available",
                                             "since": _t(withdrawn), "until": None}
    assert len(_updates(services, "ivy")) == 2
    assert _presence(services, "ivy") == ("available", _t(withdrawn), None)
    assert services.store.get(names.USERS, "jon")["status"] == "active"
    assert _presence(services, "jon")[0] == "out_of_office"
    services.clock.advance(minutes=10)
    reads = _reads(sim)
    _tick(services)  # a user in error is no longer read, nor announced again
    assert _reads(sim) == reads + 1
    assert len(_updates(services, "ivy")) == 2


def test_a_refused_read_of_an_available_user_announces_nothing(services, sim):
    _user(services, sim, "ivy")
    _tick(services)
    services.clock.advance(minutes=10)
    _delete_with_live_token(services, sim, "ivy")
    assert _tick(services) == [ShardResult(errors=1)]
    assert services.store.get(names.USERS, "ivy")["status"] == "error"
    assert _updates(services) == []


def test_a_refused_read_of_a_user_never_polled_announces_nothing(services, sim):
    _user(services, sim, "ivy")
    _delete_with_live_token(services, sim, "ivy")
    assert vacation.poll_shard(services, _shard(services, ["ivy"])) == ShardResult(errors=1)
    assert "presence" not in services.store.get(names.USERS, "ivy")
    assert _updates(services) == []


def test_a_withdrawal_whose_publish_failed_is_sent_by_the_redelivered_shard(services, sim):
    _user(services, sim, "ivy", _away())
    _tick(services)
    services.bus = FailingBus(services.clock, failures=1)
    services.clock.advance(minutes=10)
    _delete_with_live_token(services, sim, "ivy")
    shard = _shard(services, ["ivy"])
    with pytest.raises(ConnectionError):
        vacation.poll_shard(services, shard)

    vacation.poll_shard(services, shard)  # Pub/Sub redelivers the shard
    assert [u["status"] for u in _updates(services, "ivy")] == ["available"]
    assert _presence(services, "ivy")[0] == "available"


# -- Gmail's daily limit -------------------------------------------------------------------------
def test_gmails_daily_limit_defers_the_shard_and_changes_nobodys_status(services, sim):
    uids = [_user(services, sim, f"u{n:02d}", _away()) for n in range(20)]
    now = services.clock.now()
    sim.faults.exhaust_daily_limit("gmail", now + timedelta(minutes=45))

    assert vacation.poll_shard(services, _shard(services, uids)) == ShardResult(deferred=20)

    # reads stop once the first refusal is in: only those already in flight were sent
    assert 1 <= _reads(sim) <= DEFAULT_LIMITS.concurrency
    assert {services.store.get(names.USERS, u)["status"] for u in uids} == {"active"}
    assert _updates(services) == []
    assert services.store.get(names.RATELIMITS, vacation.DAILY_LIMIT_KEY) == {
        "until": _t(now + HOUR), "expire_at": _t(now + timedelta(days=1))}


def test_while_paused_one_read_per_shard_probes_until_the_allowance_is_back(services, sim):
    uids = [_user(services, sim, f"u{n}", _away()) for n in range(6)]
    sim.faults.exhaust_daily_limit("gmail", sim.clock.now() + timedelta(minutes=25))
    _tick(services)

    services.clock.advance(minutes=10)
    reads = _reads(sim)
    assert _tick(services) == [ShardResult(deferred=6)]
    assert _reads(sim) == reads + 1  # the probe, refused

    services.clock.advance(minutes=20)  # the allowance is back, the pause not yet over
    reads = _reads(sim)
    assert _tick(services) == [ShardResult(changed=6)]
    assert _reads(sim) == reads + 6
    assert sorted(u["user_id"] for u in _updates(services)) == uids
    assert services.store.get(names.RATELIMITS, vacation.DAILY_LIMIT_KEY)["until"] is None


def test_a_probe_whose_read_changes_nothing_still_ends_the_pause(services, sim):
    _user(services, sim, "ann", _away())
    _user(services, sim, "ben", _away())
    sim.faults.exhaust_daily_limit("gmail", sim.clock.now() + timedelta(minutes=5))
    _tick(services)
    services.clock.advance(minutes=10)
    _set(sim, "ann", _away(on=False))  # ann's read changes nothing now: still counted
    assert _tick(services) == [ShardResult(polled=1, changed=1)]
    assert services.store.get(names.RATELIMITS, vacation.DAILY_LIMIT_KEY)["until"] is None


def test_a_paused_shard_whose_probe_is_skipped_reads_the_others(services, sim):
    _user(services, sim, "err", _away())
    _user(services, sim, "ann", _away())
    services.store.put(names.RATELIMITS, vacation.DAILY_LIMIT_KEY,
                       {"until": _t(sim.clock.now() + timedelta(minutes=30))})
    shard = _shard(services, ["err", "ann"])
    shard["users"][0]["mail"] = "not-sealed"  # skipped: its address does not open
    assert vacation.poll_shard(services, shard) == ShardResult(skipped=1, changed=1)
    assert _reads(sim) == 1


def test_a_paused_empty_shard_reads_nothing(services, sim):
    services.store.put(names.RATELIMITS, vacation.DAILY_LIMIT_KEY,
                       {"until": _t(sim.clock.now() + timedelta(minutes=30))})
    assert vacation.poll_shard(services, _shard(services, [])) == ShardResult()
    assert _reads(sim) == 0


def test_a_stale_or_cleared_pause_marker_does_not_pause(services, sim):
    uids = [_user(services, sim, f"u{n}", _away()) for n in range(2)]
    services.store.put(names.RATELIMITS, vacation.DAILY_LIMIT_KEY, {"until": None})
    assert vacation.poll_shard(services, _shard(services, uids)) == ShardResult(changed=2)


# -- shard sizing --------------------------------------------------------------------------------
def test_the_plan_for_100k_users_every_10_minutes_matches_the_documented_cost():
    plan = plan_shards(100_000, 600)
    assert plan == vacation.ShardPlan(
        users=100_000, shards=100, shard_size=1000, slot_seconds=2.4, max_rate=500.0,
        shard_seconds=62.5, calls_per_minute_avg=10_000.0, calls_per_minute_peak=19_200.0,
        project_quota_share=0.016, daily_units=14_400_000, fits_interval=True)


def test_an_empty_population_plans_nothing_and_costs_nothing():
    assert plan_shards(0, 600) == vacation.ShardPlan(
        users=0, shards=0, shard_size=0, slot_seconds=0.0, max_rate=500.0, shard_seconds=0.0,
        calls_per_minute_avg=0.0, calls_per_minute_peak=0.0, project_quota_share=0.0,
        daily_units=0, fits_interval=True)


def test_the_plan_follows_the_quota_the_call_cost_and_the_worker_count():
    limits = Limits(project_units_per_minute=120_000, quota_share=0.25, units_per_call=2,
                    parallel_shards=5, concurrency=100, call_seconds=0.1,
                    shard_budget_seconds=100, max_shard_users=10_000)
    plan = plan_shards(1_000, 300, limits)
    # 120,000 * 0.25 / 60 = 500 units/s, 250 calls/s, 50 per shard: the cap binds
    assert plan.max_rate == 50.0
    assert plan.shard_size == 1000 and plan.shards == 1  # 50 calls/s * 100 s = 5,000 a shard
    assert plan.shard_seconds == 20.0
    assert plan.calls_per_minute_peak == 3000.0
    assert plan.project_quota_share == 0.05
    assert plan.daily_units == 576_000
    assert plan.calls_per_minute_avg == 200.0


def test_a_very_slow_gmail_still_polls_one_user_per_shard():
    limits = Limits(concurrency=1, call_seconds=1000.0, shard_budget_seconds=1.0)
    plan = plan_shards(3, 600, limits)
    assert (plan.shards, plan.shard_size) == (3, 1)
    assert plan.slot_seconds == 80.0


@pytest.mark.parametrize(("interval", "fits"), [(125, True), (124, False)])
def test_two_waves_of_shards_fit_an_interval_only_as_long_as_both(interval, fits):
    # 40 shards of 1,000 on 20 workers: two waves of 62.5 s after a 10 s spread
    limits = Limits(start_spread_seconds=10.0)
    plan = plan_shards(40_000, interval, limits)
    assert (plan.shards, plan.shard_seconds) == (40, 62.5)
    assert plan.fits_interval is fits


@pytest.mark.parametrize(("interval", "fits"), [(302.5, True), (302, False)])
def test_one_wave_fits_when_the_last_slot_plus_a_shard_does(interval, fits):
    assert plan_shards(10_000, interval).fits_interval is fits
