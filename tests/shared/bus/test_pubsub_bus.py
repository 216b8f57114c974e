"""The Pub/Sub adapter through the real google-cloud-pubsub client, and envelope decoding."""

from __future__ import annotations

import base64
import json

import pytest

from shared.bus.base import Message
from shared.bus.envelope import decode_pubsub_cloudevent

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emulator_host():
    from local.emulators import EmulatorUnavailable
    from local.emulators.pubsub import start_pubsub_emulator

    try:
        return start_pubsub_emulator()
    except EmulatorUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def clients(emulator_host, monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator_host)
    from google.cloud import pubsub_v1

    from shared.bus.pubsub import PubSubBus

    bus = PubSubBus("hybridcal-test")
    subscriber = pubsub_v1.SubscriberClient()
    return bus, subscriber


def _pull_all(subscriber, subscription, expected):
    got = []
    for _ in range(20):
        answer = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
        ack = [m.ack_id for m in answer.received_messages]
        got += [m.message for m in answer.received_messages]
        if ack:
            subscriber.acknowledge(subscription=subscription, ack_ids=ack)
        if len(got) >= expected:
            break
    return got


def test_publish_keeps_payload_attributes_and_per_user_order(clients):
    bus, subscriber = clients
    topic = bus.topic_path("calendar-changes")
    subscription = "projects/hybridcal-test/subscriptions/process-changes"
    bus.publisher.create_topic(name=topic)
    subscriber.create_subscription(request={"name": subscription, "topic": topic,
                                            "enable_message_ordering": True})
    ids = [bus.publish("calendar-changes", {"user_id": "u_1", "n": n}, ordering_key="u_1",
                       attributes={"kind": "push"}) for n in range(3)]
    assert len(set(ids)) == 3
    messages = _pull_all(subscriber, subscription, 3)
    assert [json.loads(m.data)["n"] for m in messages] == [0, 1, 2]
    assert {m.ordering_key for m in messages} == {"u_1"}
    assert all(dict(m.attributes) == {"kind": "push"} for m in messages)


class _Event(dict):
    """What functions-framework hands a CloudEvent function: attributes by key, ``.data``."""

    def __init__(self, source, data):
        super().__init__(source=source)
        self.data = data


def _envelope(payload: bytes, **message):
    return {"message": {"data": base64.b64encode(payload).decode(), "messageId": "42",
                        **message}, "subscription": "projects/p/subscriptions/s"}


def test_decode_reads_topic_payload_and_metadata():
    event = _Event("//pubsub.googleapis.com/projects/p/topics/calendar-changes",
                   _envelope(b'{"user_id":"u_1"}', orderingKey="u_1",
                             attributes={"a": "b"}))
    assert decode_pubsub_cloudevent(event) == Message(
        topic="calendar-changes", data={"user_id": "u_1"}, message_id="42",
        ordering_key="u_1", attributes={"a": "b"})


@pytest.mark.parametrize(("data", "problem"), [
    ({"nomessage": 1}, "no Pub/Sub message"),
    ({"message": {"data": "***"}}, "not base64"),
    (_envelope(b"[1, 2]"), "not a JSON object"),
    (_envelope(b"\xff\xfe"), "not base64-encoded UTF-8 JSON"),
    ("{not json", "not JSON"),
])
def test_decode_refuses_malformed_envelopes_with_a_reason(data, problem):
    event = _Event("//pubsub.googleapis.com/projects/p/topics/t", data)
    with pytest.raises(ValueError, match=problem):
        decode_pubsub_cloudevent(event)


def test_decode_needs_a_topic_source():
    with pytest.raises(ValueError, match="topic"):
        decode_pubsub_cloudevent(_Event("//storage.googleapis.com/b", _envelope(b"{}")))
