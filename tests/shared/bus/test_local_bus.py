"""The in-process bus keeps the Pub/Sub semantics handlers rely on."""

from __future__ import annotations

import pytest

from shared.bus.local import LocalBus
from shared.clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def bus(clock):
    return LocalBus(clock)


def test_published_messages_reach_subscriber_in_order(bus):
    seen = []
    bus.subscribe("s", "t", lambda m: seen.append(m.data["n"]))
    for n in range(3):
        bus.publish("t", {"n": n}, ordering_key="u1")
    assert bus.drain() == 3
    assert seen == [0, 1, 2]
    assert [m.data["n"] for m in bus.published("t")] == [0, 1, 2]


def test_failed_message_is_redelivered_after_backoff_in_clock_time(bus, clock):
    calls = []

    def flaky(message):
        calls.append(message.delivery_attempt)
        if message.delivery_attempt == 1:
            raise RuntimeError("transient")

    bus.subscribe("s", "t", flaky)
    bus.publish("t", {"n": 1})
    bus.drain()
    assert calls == [1]
    assert bus.pending() == 1
    clock.set(bus.next_due())
    bus.drain()
    assert calls == [1, 2]
    assert bus.pending() == 0


def test_failing_message_holds_back_same_ordering_key_only(bus, clock):
    seen = []

    def handler(message):
        if message.data["n"] == 0 and message.delivery_attempt == 1:
            raise RuntimeError("first fails once")
        seen.append(message.data["n"])

    bus.subscribe("s", "t", handler)
    bus.publish("t", {"n": 0}, ordering_key="a")
    bus.publish("t", {"n": 1}, ordering_key="a")
    bus.publish("t", {"n": 2}, ordering_key="b")
    bus.drain()
    assert seen == [2]
    clock.set(bus.next_due())
    bus.drain()
    assert seen == [2, 0, 1]


def test_poison_message_goes_to_dead_letter_with_reason(bus, clock):
    def always_fails(message):
        raise ValueError("poison")

    bus.subscribe("s", "t", always_fails, max_attempts=3)
    bus.publish("t", {"n": 1})
    for _ in range(3):
        bus.drain()
        due = bus.next_due()
        if due:
            clock.set(due)
    dead = bus.published("t-dead-letter")
    assert len(dead) == 1
    assert dead[0].attributes["reason"] == "ValueError"
    assert dead[0].attributes["attempts"] == "3"
    assert bus.pending() == 0


def test_publish_rejects_non_json_payload(bus):
    with pytest.raises(TypeError):
        bus.publish("t", {"when": object()})


def test_subscriber_sees_only_later_messages(bus):
    bus.publish("t", {"n": 0})
    seen = []
    bus.subscribe("s", "t", lambda m: seen.append(m.data["n"]))
    bus.publish("t", {"n": 1})
    bus.drain()
    assert seen == [1]
