"""The Pub/Sub adapter through the real google-cloud-pubsub client on Google's Pub/Sub emulator
(pull and push delivery), and envelope decoding."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.bus.base import Message
from shared.bus.envelope import decode_pubsub_cloudevent


@pytest.fixture
def bus(pubsub_emulator, monkeypatch):
    """A PubSubBus that builds its own PublisherClient (batching, ordering) on the emulator."""
    from shared.bus.pubsub import PubSubBus

    for name, value in pubsub_emulator.env().items():
        monkeypatch.setenv(name, value)
    bus = PubSubBus(pubsub_emulator.project)
    yield bus
    bus.publisher.stop()


@pytest.fixture
def admin(pubsub_emulator):
    """Publisher (topics) and subscriber (subscriptions, pull) clients for the test's setup."""
    publisher, subscriber = pubsub_emulator.publisher(), pubsub_emulator.subscriber()
    yield publisher, subscriber
    subscriber.close()


def _unique(name: str) -> str:
    """Topic and subscription names of this test: the emulator lives for the whole session."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _subscribe(admin, bus, topic: str, **settings) -> str:
    publisher, subscriber = admin
    publisher.create_topic(name=bus.topic_path(topic))
    subscription = f"projects/{bus.project}/subscriptions/{_unique('sub')}"
    subscriber.create_subscription(request={
        "name": subscription, "topic": bus.topic_path(topic), "enable_message_ordering": True,
        **settings})
    return subscription


def _pull_all(subscriber, subscription, expected):
    got = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        answer = subscriber.pull(subscription=subscription, max_messages=10, timeout=10)
        ack = [m.ack_id for m in answer.received_messages]
        got += [m.message for m in answer.received_messages]
        if ack:
            subscriber.acknowledge(subscription=subscription, ack_ids=ack)
    return got


@pytest.mark.integration
def test_publish_keeps_payload_attributes_and_per_user_order(bus, admin):
    topic = _unique("calendar-changes")
    subscription = _subscribe(admin, bus, topic)
    ids = [bus.publish(topic, {"user_id": user, "n": n}, ordering_key=user,
                       attributes={"kind": "push"})
           for n in range(3) for user in ("u_1", "u_2")]
    assert len(set(ids)) == 6
    messages = _pull_all(admin[1], subscription, 6)
    for user in ("u_1", "u_2"):
        mine = [m for m in messages if json.loads(m.data)["user_id"] == user]
        assert [json.loads(m.data)["n"] for m in mine] == [0, 1, 2]
        assert {m.ordering_key for m in mine} == {user}
    assert all(dict(m.attributes) == {"kind": "push"} for m in messages)
    assert sorted(m.message_id for m in messages) == sorted(ids)


@pytest.mark.integration
def test_publish_failure_resumes_the_ordering_key(bus, admin):
    """After a failed publish the client pauses its ordering key; the adapter resumes it, so
    the redelivered work can publish again on that key."""
    from google.api_core import exceptions as gexc

    topic = _unique("calendar-changes")
    with pytest.raises(gexc.NotFound):
        bus.publish(topic, {"n": 0}, ordering_key="u_1")  # no topic yet
    subscription = _subscribe(admin, bus, topic)

    bus.publish(topic, {"n": 1}, ordering_key="u_1")
    assert [json.loads(m.data) for m in _pull_all(admin[1], subscription, 1)] == [{"n": 1}]


class _PushEndpoint:
    """A local HTTP endpoint for a push subscription: records every body it gets and answers
    500 to the first delivery of each message whose payload has ``"fail_once": true``."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict, int]] = []  # (body, status answered)
        self.arrived = threading.Condition()  # notified on every delivery
        failed: set[str] = set()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                message = body["message"]
                payload = json.loads(base64.b64decode(message["data"]))
                status = 204
                if payload.get("fail_once") and message["messageId"] not in failed:
                    failed.add(message["messageId"])
                    status = 500
                with endpoint.arrived:
                    endpoint.deliveries.append((body, status))
                    endpoint.arrived.notify_all()
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, count: int, timeout: float = 30) -> list[dict]:
        """Wait (woken by each delivery, bounded) until ``count`` pushes were accepted: the
        emulator pushes from its own threads, so there is no clock of ours to drive."""

        def done() -> list[dict]:
            return [body for body, status in self.deliveries if status < 300]

        with self.arrived:
            if self.arrived.wait_for(lambda: len(done()) >= count, timeout=timeout):
                return done()
        raise AssertionError(f"{len(done())} of {count} pushes accepted: {self.deliveries}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_endpoint():
    endpoint = _PushEndpoint()
    yield endpoint
    endpoint.close()


def _as_function_sees_it(topic_path: str, body: dict) -> Message:
    """What a Pub/Sub-triggered function decodes from this push body."""
    return decode_pubsub_cloudevent(_Event(f"//pubsub.googleapis.com/{topic_path}", body))


@pytest.mark.integration
def test_push_delivers_payload_attributes_in_order_and_redelivers_after_500(
        bus, admin, push_endpoint):
    topic = _unique("calendar-changes")
    subscription = _subscribe(admin, bus, topic, push_config={"push_endpoint": push_endpoint.url},
                              retry_policy={"minimum_backoff": {"seconds": 1},
                                            "maximum_backoff": {"seconds": 2}})
    published = {}
    for n in range(3):
        for user in ("u_1", "u_2"):
            data = {"user_id": user, "n": n, "fail_once": n == 0}
            published[bus.publish(topic, data, ordering_key=user, attributes={"kind": "push"})] \
                = data

    bodies = push_endpoint.accepted(6)
    assert {body["subscription"] for body in bodies} == {subscription}
    messages = [_as_function_sees_it(bus.topic_path(topic), body) for body in bodies]
    assert {m.message_id: m.data for m in messages} == published
    assert all(m.attributes == {"kind": "push"} and m.topic == topic for m in messages)
    # Each user's first message was refused once: the ones after it waited for its redelivery.
    for user in ("u_1", "u_2"):
        assert [m.data["n"] for m in messages if m.data["user_id"] == user] == [0, 1, 2]
    assert sum(status == 500 for _, status in push_endpoint.deliveries) == 2


@pytest.mark.integration
def test_push_body_carries_the_ordering_key(bus, admin, push_endpoint):
    topic = _unique("calendar-changes")
    _subscribe(admin, bus, topic, push_config={"push_endpoint": push_endpoint.url})
    bus.publish(topic, {"user_id": "u_1"}, ordering_key="u_1")

    (body,) = push_endpoint.accepted(1)
    if "orderingKey" not in body["message"]:
        pytest.skip(
            "Google's Pub/Sub emulator (pubsub-emulator 0.8.20) leaves orderingKey out of push "
            "bodies even on an ordered subscription (checked: it sends data, attributes, "
            "messageId/message_id, publishTime/publish_time); production pushes the "
            "PubsubMessage JSON, which has orderingKey. Pull delivers the key (tested above).")
    assert _as_function_sees_it(bus.topic_path(topic), body).ordering_key == "u_1"


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
