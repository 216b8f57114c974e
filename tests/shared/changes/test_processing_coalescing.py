"""Processing decisions that need no Google call: inactive users, push coalescing."""

from __future__ import annotations

import pytest

from shared.bus.base import Topics
from shared.bus.local import LocalBus
from shared.changes import processing, sync
from shared.clock import FakeClock
from shared.config import Config
from shared.errors import BadRequest
from shared.runtime import Services
from shared.store.sqlite import SqliteStore


class NoGoogle:
    """Workspace that fails the test if anything asks it for a client."""

    def calendar(self, email: str):
        raise AssertionError("no Google call expected")

    gmail = calendar


@pytest.fixture
def services(tmp_path):
    clock = FakeClock()
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


def test_a_burst_of_pushes_queues_one_sync(services) -> None:
    services.store.put("users", "u1", {"status": "active", "email": "a@example.com"})
    for number in range(50):
        processing.handle_calendar_change(services, {"user_id": "u1", "channel_id": "c1",
                                                     "message_number": number})
    queued = services.bus.published(Topics.CALENDAR_CHANGES)
    assert [m.data for m in queued] == [{"user_id": "u1", "reason": "push"}]
    assert queued[0].ordering_key == "u1"


def test_sync_request_while_the_lease_is_held_is_retried_and_the_work_kept(services) -> None:
    # One user's messages come one at a time, so a held lease is a dead instance's: retrying
    # after it expires is the only way the change is not left waiting for another push.
    services.store.put("users", "u1", {"status": "active", "email": "a@example.com"})
    assert sync.take_lease(services.store, "u1", "other-worker", services.clock.now())
    with pytest.raises(processing.LeaseHeld):
        processing.handle_calendar_change(services, {"user_id": "u1", "reason": "push"})
    assert sync.still_pending(services.store, "u1")


def test_message_without_user_is_rejected(services) -> None:
    with pytest.raises(BadRequest):
        processing.handle_calendar_change(services, {"channel_id": "c1"})
