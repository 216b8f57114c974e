"""Both buses count Pub/Sub throughput as Pub/Sub bills it (#20).

Each publish and each push delivery is a request; its billed volume is the message's body,
attribute keys and values, 20 bytes of timestamp and its id, and at least 1,000 bytes
(https://cloud.google.com/pubsub/pricing). Small messages therefore cost 1,000 bytes each.
"""

from __future__ import annotations

import uuid

import pytest

from shared.bus.base import encode
from shared.bus.local import LocalBus
from shared.clock import FakeClock


def test_small_messages_are_billed_1000_bytes_per_request():
    bus = LocalBus(FakeClock())
    delivered = []
    bus.subscribe("sub", "topic", delivered.append)
    bus.publish("topic", {"n": 1})
    bus.publish("topic", {"n": 2}, attributes={"a": "b"})
    assert bus.drain() == 2 and len(delivered) == 2
    counts = bus.meter.snapshot()
    assert counts["pubsub.messages"] == 2
    assert counts["pubsub.deliveries"] == 2
    assert counts["pubsub.bytes"] == 4 * 1000  # two publishes, two pushes, each at the minimum


def test_a_large_message_is_billed_its_size_on_publish_and_on_each_delivery():
    clock = FakeClock()
    bus = LocalBus(clock)
    attempts = []

    def flaky(message):
        attempts.append(message)
        if len(attempts) == 1:
            raise RuntimeError("redeliver")

    bus.subscribe("sub", "topic", flaky)
    data = {"blob": "x" * 3000}
    message_id = bus.publish("topic", data, ordering_key="user-1", attributes={"k": "vv"})
    size = len(encode(data)) + len("k") + len("vv") + 20 + len(message_id) + len("user-1")
    bus.drain()
    clock.advance(60)
    bus.drain()
    assert len(attempts) == 2
    counts = bus.meter.snapshot()
    assert counts["pubsub.bytes"] == 3 * size  # the publish and both delivery attempts
    assert counts["pubsub.bytes:topic"] == 3 * size


@pytest.mark.integration
def test_the_pubsub_adapter_counts_its_publishes(pubsub_emulator, monkeypatch):
    from shared.bus.pubsub import PubSubBus

    for name, value in pubsub_emulator.env().items():
        monkeypatch.setenv(name, value)
    bus = PubSubBus(pubsub_emulator.project)
    topic = f"billing-{uuid.uuid4().hex[:8]}"
    pubsub_emulator.publisher().create_topic(name=bus.topic_path(topic))
    try:
        bus.publish(topic, {"n": 1}, ordering_key="u")
        bus.publish(topic, {"n": 2}, ordering_key="u")
    finally:
        bus.publisher.stop()
    counts = bus.meter.snapshot()
    assert counts["pubsub.messages"] == 2
    assert counts[f"pubsub.messages:{topic}"] == 2
    assert counts["pubsub.bytes"] == 2000
