"""Cloud Pub/Sub adapter of :class:`shared.bus.base.Bus`, over ``google-cloud-pubsub``.

One publisher per process (module-level in the function instance, via
:func:`functions._deps.deps`), with batching tuned for small JSON messages and message ordering
enabled, because ``calendar-changes`` relies on per-user order.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.billing import Meter, pubsub_message_bytes, pubsub_request_bytes
from shared.bus.base import encode
from shared.bus.envelope import decode_pubsub_cloudevent

__all__ = ["PubSubBus", "decode_pubsub_cloudevent"]

PUBLISH_TIMEOUT_SECONDS = 30


class PubSubBus:
    # Any (publisher): google-cloud-pubsub ships no types (no py.typed); tests pass a fake.
    def __init__(self, project: str, *, publisher: Any = None, batch_max_messages: int = 100,
                 batch_max_latency: float = 0.01, enable_ordering: bool = True,
                 meter: Meter | None = None) -> None:
        if not project:
            raise ValueError("PubSubBus needs a project id")
        self.project = project
        # Publishes as Pub/Sub bills them (:mod:`shared.billing`); push deliveries happen outside
        # this process and are counted by whoever receives them.
        self.meter = meter or Meter()
        self._publisher = publisher
        self._settings = (batch_max_messages, batch_max_latency, enable_ordering)
        self._lock = threading.Lock()

    @property
    def publisher(self) -> Any:
        with self._lock:
            if self._publisher is None:
                import google.cloud.pubsub_v1 as pubsub_v1

                max_messages, max_latency, ordering = self._settings
                self._publisher = pubsub_v1.PublisherClient(
                    batch_settings=pubsub_v1.types.BatchSettings(
                        max_messages=max_messages, max_latency=max_latency),
                    publisher_options=pubsub_v1.types.PublisherOptions(
                        enable_message_ordering=ordering),
                )
            return self._publisher

    def topic_path(self, topic: str) -> str:
        return f"projects/{self.project}/topics/{topic}"

    def publish(self, topic: str, data: dict[str, Any], *, ordering_key: str = "",
                attributes: dict[str, str] | None = None) -> str:
        path = self.topic_path(topic)
        body = encode(data)
        future = self.publisher.publish(path, body, ordering_key=ordering_key,
                                        **(attributes or {}))
        try:
            message_id = str(future.result(timeout=PUBLISH_TIMEOUT_SECONDS))
            # One request per message: each publish waits for its own result, so the client's
            # batching never gets a second message into the request (the 1,000-byte minimum).
            self.meter.add("pubsub.messages", detail=topic)
            self.meter.add("pubsub.bytes", pubsub_request_bytes(pubsub_message_bytes(
                body, attributes, message_id, ordering_key)), detail=topic)
            return message_id
        except Exception:
            if ordering_key:
                # After a failure the client pauses that ordering key so later messages cannot
                # overtake the failed one; the caller retries (redelivery), so resume it here.
                self.publisher.resume_publish(path, ordering_key)
            raise
