"""Push intake driven directly on the real SqliteStore and LocalBus with a fake clock (#22).

Found by mutation testing: which Calendar pushes are taken in, refused or acknowledged
without work, and what Google is answered (its retry rules are in shared/changes/intake.py).
The headers are werkzeug's case-insensitive ``Headers``, as Flask hands them to
``functions/intake_push.py``. The same paths on the embedded stack are in test_processing.py,
test_push_retries.py and tests/functions/test_duplicate_delivery.py; these are fast enough
for the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from werkzeug.datastructures import Headers

from shared.bus.base import Topics
from shared.bus.local import LocalBus
from shared.changes import intake
from shared.clock import FakeClock, to_rfc3339
from shared.config import Config
from shared.crypto.sealer import Sealer
from shared.errors import BadRequest
from shared.keys.local import LocalKeysetKek
from shared.runtime import Services
from shared.store import names
from shared.store.base import Filter
from shared.store.firestore import TTL_FIELD
from shared.store.sqlite import SqliteStore
from shared.users.watch import token_hash
from tests.direct import NoGoogle

NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
TOKEN = "s3cret-channel-token"


@pytest.fixture
def services(tmp_path):
    clock = FakeClock(NOW)
    store = SqliteStore(tmp_path / "s.sqlite3")
    kek = LocalKeysetKek(tmp_path / "LOCAL-DEV-ONLY-kek.keyset.json")
    services = Services(config=Config(), clock=clock, store=store, bus=LocalBus(clock),
                        sealer=Sealer(store, kek, clock), workspace=NoGoogle())
    yield services
    store.close()


def _channel(services, channel_id="hc-1", state="active", user="u1", token=TOKEN):
    services.store.put(names.CHANNELS, channel_id, {
        "user_id": user, "token_hash": token_hash(token), "state": state,
        "confirmed": False, "resource_id": "r-1"})


def _push(channel_id="hc-1", state="exists", number="7", token=TOKEN, resource="r-1",
          **more) -> Headers:
    headers = Headers()
    for name, value in (("X-Goog-Channel-ID", channel_id), ("X-Goog-Resource-State", state),
                        ("X-Goog-Message-Number", number), ("X-Goog-Channel-Token", token),
                        ("X-Goog-Resource-ID", resource), *more.items()):
        if value is not None:
            headers[name] = value
    return headers


def _changes(services):
    return [(m.data, m.ordering_key) for m in services.bus.published(Topics.CALENDAR_CHANGES)]


def _stops(services):
    return [m.data for m in services.bus.published(Topics.RENEW_USER)]


def _expire(services, now):
    """Firestore's TTL policy (infra/firestore.tf): documents whose expire_at passed go."""
    for collection in (names.RATELIMITS, names.ORPHAN_STOPS):
        for key, _doc in services.store.query(
                collection, [Filter(TTL_FIELD, "<=", to_rfc3339(now))]):
            services.store.delete(collection, key)


# -- taken in -------------------------------------------------------------------------------
@pytest.mark.parametrize("state", ["exists", "not_exists"])
def test_a_change_push_on_a_known_channel_queues_its_user_in_order(services, state) -> None:
    _channel(services)
    assert intake.accept_push(services, _push(state=state, number="12")) == \
        intake.Outcome("accepted", 200)
    assert _changes(services) == [
        ({"user_id": "u1", "channel_id": "hc-1", "message_number": 12,
          "received": "2026-11-30T12:00:30.000Z"}, "u1")]


def test_a_push_on_a_channel_whose_watch_call_is_still_open_is_taken_in(services) -> None:
    # Google may push before events.watch answers (shared/users/watch.start_channel).
    _channel(services, state="opening")
    assert intake.accept_push(services, _push()).name == "accepted"
    assert len(_changes(services)) == 1


def test_the_sync_message_is_acknowledged_and_syncs_and_writes_nothing(services) -> None:
    _channel(services)
    before = services.store.get(names.CHANNELS, "hc-1")
    writes = services.store.meter.snapshot()["firestore.writes"]
    assert intake.accept_push(services, _push(state="sync", number="1")) == \
        intake.Outcome("sync_confirmed", 200)
    # nothing reads a confirmation mark, so none is billed on every renewal (#20)
    assert services.store.meter.snapshot()["firestore.writes"] == writes
    assert services.store.get(names.CHANNELS, "hc-1") == before
    assert _changes(services) == []


@pytest.mark.parametrize("state", ["stopping", "stopped"])
def test_a_push_on_a_stopped_channel_is_acknowledged_without_work(services, state) -> None:
    _channel(services, state=state)
    assert intake.accept_push(services, _push()) == intake.Outcome("stopped", 200)
    assert intake.accept_push(services, _push(state="sync")).http_status == 200
    assert _changes(services) == [] and _stops(services) == []
    assert services.store.get(names.CHANNELS, "hc-1")["confirmed"] is False


def test_the_longest_channel_id_and_message_number_are_taken_in(services) -> None:
    channel_id = "c" * 256
    _channel(services, channel_id)
    number = "9" * 20
    assert intake.accept_push(services, _push(channel_id, number=number)).name == "accepted"
    assert _changes(services)[0][0]["message_number"] == int(number)


def test_headers_handed_over_as_a_dict_of_googles_names_are_read(services) -> None:
    # accept_push's other documented input: a plain dict holding Google's exact names.
    _channel(services)
    assert intake.accept_push(services, dict(_push(number="3"))).name == "accepted"
    assert intake.accept_push(services, dict(_push(token="forged"))).http_status == 403
    assert intake.accept_push(services, dict(_push("hc-gone", resource="r-9"))).name == "orphan"
    assert _changes(services) == [
        ({"user_id": "u1", "channel_id": "hc-1", "message_number": 3,
          "received": to_rfc3339(NOW, "milliseconds")}, "u1")]
    assert _stops(services) == [{"kind": "orphan", "channel_id": "hc-gone",
                                 "resource_id": "r-9"}]


# -- refused --------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["wrong", "", None, TOKEN + "x"],
                         ids=["wrong", "empty", "missing", "longer"])
def test_a_push_with_a_forged_channel_token_is_refused(services, token) -> None:
    _channel(services)
    assert intake.accept_push(services, _push(token=token)) == intake.Outcome("forbidden", 403)
    assert intake.accept_push(services, _push(state="sync", token=token)).http_status == 403
    assert _changes(services) == []
    assert services.store.get(names.CHANNELS, "hc-1")["confirmed"] is False


def test_a_channel_without_a_token_refuses_a_push_without_one(services) -> None:
    services.store.put(names.CHANNELS, "hc-1", {"user_id": "u1", "state": "active"})
    assert intake.accept_push(services, _push(token=None)).http_status == 403
    assert intake.accept_push(services, _push(token="")).http_status == 403


@pytest.mark.parametrize("headers", [
    {"channel_id": None}, {"channel_id": ""}, {"channel_id": "c" * 257},
    {"state": None}, {"state": "EXISTS"}, {"state": "update"}, {"state": ""},
    {"number": None}, {"number": ""}, {"number": "-1"}, {"number": "1.5"},
    {"number": "²"}, {"number": "\uff11\uff12"}, {"number": "1" * 21},
], ids=["no-channel", "empty-channel", "channel-257", "no-state", "upper-state",
        "unknown-state", "empty-state", "no-number", "empty-number", "negative", "decimal",
        "superscript", "fullwidth", "number-21-digits"])
def test_malformed_push_headers_are_a_400_and_nothing_else(services, headers) -> None:
    _channel(services)
    _channel(services, "c" * 257)
    with pytest.raises(BadRequest):
        intake.accept_push(services, _push(**headers))
    assert _changes(services) == [] and _stops(services) == []


# -- orphans --------------------------------------------------------------------------------
def test_a_push_for_an_unknown_channel_asks_once_for_it_to_be_stopped(services) -> None:
    assert intake.accept_push(services, _push("hc-gone", resource="r-9")) == \
        intake.Outcome("orphan", 200)
    assert intake.accept_push(services, _push("hc-gone", resource="r-9", number="8")).name == \
        "orphan"
    assert _stops(services) == [{"kind": "orphan", "channel_id": "hc-gone",
                                 "resource_id": "r-9"}]
    assert _changes(services) == []


def test_an_orphan_still_pushing_the_next_day_is_asked_to_stop_again(services) -> None:
    intake.accept_push(services, _push("hc-gone"))
    services.clock.advance(hours=23)
    _expire(services, services.clock.now())
    intake.accept_push(services, _push("hc-gone", number="8"))
    assert len(_stops(services)) == 1
    services.clock.advance(hours=1)
    _expire(services, services.clock.now())
    intake.accept_push(services, _push("hc-gone", number="9"))
    assert len(_stops(services)) == 2


@pytest.mark.parametrize("resource", [None, "", "r" * 257], ids=["missing", "empty", "257"])
def test_an_orphan_push_without_a_usable_resource_id_is_only_acknowledged(services,
                                                                          resource) -> None:
    assert intake.accept_push(services, _push("hc-gone", resource=resource)).name == "orphan"
    assert _stops(services) == []
    # nothing counted against the limit either
    assert services.store.query(names.RATELIMITS, []) == []


def test_the_longest_resource_id_is_stopped(services) -> None:
    intake.accept_push(services, _push("hc-gone", resource="r" * 256))
    assert [s["resource_id"] for s in _stops(services)] == ["r" * 256]


def test_a_flood_of_made_up_channel_ids_asks_for_at_most_sixty_stops_a_minute(services) -> None:
    for n in range(intake.ORPHAN_STOPS_PER_MINUTE + 5):
        assert intake.accept_push(services, _push(f"forged-{n}")).http_status == 200
    assert [s["channel_id"] for s in _stops(services)] == \
        [f"forged-{n}" for n in range(intake.ORPHAN_STOPS_PER_MINUTE)]
    # a channel skipped for the limit is asked for in the next minute
    services.clock.advance(30)
    intake.accept_push(services, _push("forged-61"))
    assert _stops(services)[-1]["channel_id"] == "forged-61"


def test_the_orphan_limit_counts_per_clock_minute(services) -> None:
    for n in range(intake.ORPHAN_STOPS_PER_MINUTE):
        intake.accept_push(services, _push(f"forged-{n}"))
    services.clock.advance(29)  # 12:00:59, still the same minute
    intake.accept_push(services, _push("late"))
    assert len(_stops(services)) == intake.ORPHAN_STOPS_PER_MINUTE


def test_a_flood_of_made_up_channel_ids_leaves_no_bookkeeping_after_a_day(services) -> None:
    # Forged pushes cost one counter and one marker each, which Firestore's TTL removes.
    for n in range(5):
        intake.accept_push(services, _push(f"forged-{n}"))
    services.clock.advance(hours=24)
    _expire(services, services.clock.now())
    assert services.store.query(names.RATELIMITS, []) == []
    assert services.store.query(names.ORPHAN_STOPS, []) == []


def test_a_push_is_stamped_with_the_time_it_was_received(services) -> None:
    # Processing compares the stamp with the last sync's listing start (sync.covered): a
    # stamp that did not follow the clock would make later pushes look already covered.
    _channel(services)
    intake.accept_push(services, _push(number="1"))
    services.clock.advance(seconds=89.75)  # to the millisecond: the margin is half a second
    intake.accept_push(services, _push(number="2"))
    assert [data["received"] for data, _key in _changes(services)] == [
        "2026-11-30T12:00:30.000Z", "2026-11-30T12:01:59.750Z"]
