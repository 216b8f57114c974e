"""Processing decisions that need no Google call: inactive users, covered pushes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from shared.bus.base import Topics
from shared.bus.local import LocalBus
from shared.changes import processing
from shared.clock import FakeClock
from shared.config import Config
from shared.errors import BadRequest
from shared.runtime import Services
from shared.store.sqlite import SqliteStore


class NoGoogle:
    """Workspace that fails the test if anything asks it for a client."""

    def calendar(self, email: str, calendar_id: str = "primary"):
        raise AssertionError("no Google call expected")

    gmail = calendar


@pytest.fixture
def services(tmp_path):
    clock = FakeClock(datetime(2026, 11, 2, 8, 0, 30, tzinfo=UTC))
    store = SqliteStore(tmp_path / "s.sqlite3")
    yield Services(config=Config(), clock=clock, store=store, bus=LocalBus(clock), sealer=None,
                   workspace=NoGoogle())
    store.close()


@pytest.mark.parametrize("status", [None, "pending", "error", "deactivated"])
def test_messages_for_users_not_active_are_acknowledged_without_google(services, status) -> None:
    if status:
        services.store.put("users", "u1", {"status": status, "email": "x@example.com"})
    services.store.put("channels", "c1", {"user_id": "u1", "state": "active"})
    processing.handle_calendar_change(services, {"user_id": "u1", "channel_id": "c1",
                                                 "message_number": 3})
    processing.handle_calendar_change(services, {"user_id": "u1", "reason": "push"})
    assert services.store.get("channels", "c1")["state"] == "stopped"
    assert services.store.get("sync", "u1") is None


def test_a_push_already_covered_by_the_last_sync_costs_one_read_and_nothing_else(
        services) -> None:
    # Intake stamped it well before the last committed listing began: that listing saw its
    # change. No user read, no Google call (NoGoogle fails the test), no write, no message.
    services.store.put("users", "u1", {"status": "active", "email": "a@example.com"})
    services.store.put("sync", "u1", {"sync_token": "t1", "listed_from": "2026-11-02T08:00:10Z"})
    before = services.store.meter.snapshot()
    for number in range(50):
        processing.handle_calendar_change(services, {
            "user_id": "u1", "channel_id": "c1", "message_number": number,
            "received": "2026-11-02T08:00:00Z"})
    spent = services.store.meter.snapshot()
    spent.subtract(before)
    assert +spent == Counter({"firestore.reads": 50, "firestore.reads:sync": 50})
    assert services.bus.published(Topics.CALENDAR_CHANGES) == []


@pytest.mark.parametrize("data", [
    {"channel_id": "c1", "message_number": 1, "received": "2026-11-02T08:00:09.501Z"},  # margin
    {"channel_id": "c1", "message_number": 1},  # no stamp (a message from before stamping)
    {"reason": "reconcile"},  # asked for: always synced
])
def test_a_push_that_may_be_newer_than_the_last_listing_is_synced(services, data) -> None:
    services.store.put("users", "u1", {"status": "active", "email": "a@example.com"})
    services.store.put("sync", "u1", {"sync_token": "t1", "listed_from": "2026-11-02T08:00:10Z"})
    with pytest.raises(AssertionError, match="no Google call expected"):
        processing.handle_calendar_change(services, {"user_id": "u1", **data})


def test_message_without_user_is_rejected(services) -> None:
    with pytest.raises(BadRequest):
        processing.handle_calendar_change(services, {"channel_id": "c1"})
