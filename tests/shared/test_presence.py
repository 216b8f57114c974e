"""Out-of-office presence through the embedded stack: users set their Gmail vacation responder
with the real Gmail client, the scheduler's vacation tick runs, the app reads presence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared import presence
from shared.bus.base import Topics

pytestmark = pytest.mark.integration

INTERVAL = 600  # the stack's default vacation interval


def _active(stack: Any, *emails: str) -> None:
    """Users in the domain, activated as an admin would."""
    for email in emails:
        stack.add_user(email)
        assert stack.activate(email) == "active"


def _responder(stack: Any, email: str, **body: Any) -> None:
    body = {"enableAutoReply": True, "responseSubject": "Away",
            "responseBodyPlainText": "Back soon", **body}
    stack.gmail(email).users().settings().updateVacation(userId="me", body=body).execute()


def _ms(when: Any) -> str:
    return str(int(when.timestamp() * 1000))


def _updates(stack: Any, email: str) -> list[dict[str, Any]]:
    uid = stack.services.pseudonym(email)
    return [m for m in stack.published(Topics.PRESENCE_UPDATED) if m["user_id"] == uid]


def _vacation_reads(stack: Any) -> int:
    return sum(n for key, n in stack.api_calls().items() if "acation" in str(key))


def test_responder_on_is_out_of_office_within_one_interval_and_off_is_available(stack):
    _active(stack, "ann@example.com", "ben@example.com")
    assert stack.presence("ann@example.com")["status"] == "available"

    _responder(stack, "ann@example.com")
    stack.advance(seconds=INTERVAL)
    assert stack.presence("ann@example.com")["status"] == "out_of_office"
    assert stack.presence("ben@example.com")["status"] == "available"

    _responder(stack, "ann@example.com", enableAutoReply=False)
    stack.advance(seconds=INTERVAL)
    assert stack.presence("ann@example.com")["status"] == "available"

    statuses = [m["status"] for m in _updates(stack, "ann@example.com")]
    assert statuses == ["out_of_office", "available"]
    assert _updates(stack, "ben@example.com") == []


def test_exactly_one_update_per_change_across_ticks_and_duplicate_ticks(stack):
    _active(stack, "cat@example.com")
    _responder(stack, "cat@example.com")
    stack.advance(seconds=3 * INTERVAL)
    stack.tick(Topics.VACATION_TICK)
    stack.tick(Topics.VACATION_TICK)

    updates = _updates(stack, "cat@example.com")
    assert len(updates) == 1
    assert set(updates[0]) == {"user_id", "status", "since", "until"}
    assert updates[0]["status"] == "out_of_office" and updates[0]["until"] is None


def test_a_scheduled_responder_flips_at_its_start_and_back_at_its_end(stack):
    _active(stack, "dan@example.com")
    start = stack.now() + timedelta(minutes=25)
    end = start + timedelta(minutes=40)
    _responder(stack, "dan@example.com", startTime=_ms(start), endTime=_ms(end))

    stack.advance(minutes=20)  # ticks at +10 and +20: not yet
    assert stack.presence("dan@example.com")["status"] == "available"
    assert _updates(stack, "dan@example.com") == []

    stack.advance(minutes=10)  # first tick after the start, no change in Gmail
    now_out = stack.presence("dan@example.com")
    assert now_out["status"] == "out_of_office"
    assert (now_out["since"], now_out["until"]) == (
        start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z"))

    stack.advance(minutes=40)  # past the end: back without a change in Gmail
    assert stack.presence("dan@example.com")["status"] == "available"
    assert [m["status"] for m in _updates(stack, "dan@example.com")] == [
        "out_of_office", "available"]


@pytest.mark.parametrize("restriction", ["restrictToDomain", "restrictToContacts"])
def test_a_responder_restricted_to_domain_or_contacts_still_counts(stack, restriction):
    _active(stack, "eve@example.com")
    _responder(stack, "eve@example.com", **{restriction: True})
    stack.advance(seconds=INTERVAL)
    assert stack.presence("eve@example.com")["status"] == "out_of_office"


def test_rate_limits_are_absorbed(stack):
    emails = [f"user{i}@example.com" for i in range(6)]
    _active(stack, *emails)
    for email in emails[::2]:
        _responder(stack, email)
    stack.faults.set(rate_limit=0.3, seed=7)
    stack.advance(seconds=INTERVAL)
    stack.faults.set(rate_limit=0.0)
    stack.settle()

    assert [stack.presence(e)["status"] for e in emails] == ["out_of_office", "available"] * 3
    assert all(len(_updates(stack, e)) == (1 if i % 2 == 0 else 0) for i, e in enumerate(emails))


def test_a_redelivered_shard_does_not_read_the_same_users_again(stack):
    _active(stack, "fay@example.com", "gil@example.com")
    _responder(stack, "fay@example.com")
    stack.advance(seconds=INTERVAL)
    shard = stack.published(Topics.VACATION_SHARD)[-1]
    reads = _vacation_reads(stack)

    presence.poll_shard(stack.services, shard)  # Pub/Sub delivers it once more

    assert _vacation_reads(stack) == reads
    assert len(_updates(stack, "fay@example.com")) == 1


def test_shard_messages_carry_pseudonyms_only(stack):
    _active(stack, "hal@example.com")
    stack.advance(seconds=INTERVAL)
    shards = stack.published(Topics.VACATION_SHARD)
    assert shards and shards[-1]["user_ids"] == [stack.services.pseudonym("hal@example.com")]
    assert "hal@example.com" not in repr(shards)
