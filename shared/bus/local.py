"""In-process bus for the embedded mode and tests.

It keeps Pub/Sub's delivery semantics that handlers must survive: at-least-once delivery,
redelivery after a failure with exponential backoff (in clock time, so a fake clock drives it),
per-ordering-key order (a failing message holds back later ones with the same key), and a
dead-letter topic after a bounded number of attempts. It also keeps every published payload so
tests and the plaintext guarantee can inspect what left the service.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared import failpoints
from shared.billing import Meter, pubsub_message_bytes, pubsub_request_bytes
from shared.bus.base import Message, Topics
from shared.clock import Clock, SystemClock

_LOGGER = logging.getLogger(__name__)

Handler = Callable[[Message], None]


@dataclass
class _Pending:
    message: Message
    subscription: str
    not_before: datetime
    attempt: int = 1


@dataclass
class _Subscription:
    name: str
    topic: str
    handler: Handler
    max_attempts: int
    queue: list[_Pending] = field(default_factory=list)


class LocalBus:
    """:class:`shared.bus.base.Bus` delivering to in-process subscribers on :meth:`drain`."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        min_backoff: timedelta = timedelta(seconds=10),
        max_backoff: timedelta = timedelta(seconds=600),
        meter: Meter | None = None,
    ) -> None:
        """``meter`` counts what Pub/Sub would bill (:mod:`shared.billing`): each publish and
        each push delivery is one request of at least 1,000 bytes."""
        self.meter = meter or Meter()
        self._clock = clock or SystemClock()
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._subscriptions: dict[str, _Subscription] = {}
        self._published: dict[str, list[Message]] = defaultdict(list)

    # -- Bus -----------------------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        data: dict[str, Any],
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        message = Message(
            topic=topic,
            data=data,
            message_id=str(next(self._ids)),
            ordering_key=ordering_key,
            attributes=dict(attributes or {}),
        )
        encoded = message.encoded()  # fail here, at the publisher, on anything not JSON
        self.meter.add("pubsub.messages", detail=topic)
        self.meter.add("pubsub.bytes", pubsub_request_bytes(pubsub_message_bytes(
            encoded, message.attributes, message.message_id, ordering_key)), detail=topic)
        with self._lock:
            self._published[topic].append(message)
            for sub in self._subscriptions.values():
                if sub.topic == topic:
                    sub.queue.append(_Pending(message, sub.name, self._clock.now()))
        failpoints.hit("bus.after_publish")
        return message.message_id

    # -- subscriptions and delivery ----------------------------------------------------------------
    def subscribe(self, name: str, topic: str, handler: Handler, *, max_attempts: int = 5) -> None:
        """Attach a push-style subscriber; like Pub/Sub it sees only messages published later."""
        with self._lock:
            self._subscriptions[name] = _Subscription(name, topic, handler, max_attempts)

    def published(self, topic: str) -> list[Message]:
        with self._lock:
            return list(self._published.get(topic, []))

    def topics(self) -> list[str]:
        """Every topic something was published on (dead-letter topics included)."""
        with self._lock:
            return sorted(self._published)

    def pending(self) -> int:
        with self._lock:
            return sum(len(sub.queue) for sub in self._subscriptions.values())

    def next_due(self) -> datetime | None:
        """Earliest time a waiting (backed-off) message becomes deliverable."""
        times = []
        with self._lock:
            for sub in self._subscriptions.values():
                heads: set[str] = set()
                for pending in sub.queue:
                    key = pending.message.ordering_key
                    if key and key in heads:
                        continue  # waits for its predecessor, not for the clock
                    if key:
                        heads.add(key)
                    times.append(pending.not_before)
        return min(times) if times else None

    def drain(self, max_deliveries: int = 100_000) -> int:
        """Deliver every message that is due now, including ones its handlers publish.

        Returns the number of handler invocations. Failed messages are rescheduled with backoff
        (they stay pending until the clock reaches them) or dead-lettered after
        ``max_attempts``.
        """
        delivered = 0
        while delivered < max_deliveries:
            item = self._next_deliverable()
            if item is None:
                return delivered
            sub, pending = item
            delivered += 1
            message = replace(pending.message, delivery_attempt=pending.attempt)
            # a push delivery is a request of its own, billed like the publish
            self.meter.add("pubsub.deliveries", detail=message.topic)
            self.meter.add("pubsub.bytes", pubsub_request_bytes(pubsub_message_bytes(
                message.encoded(), message.attributes, message.message_id,
                message.ordering_key)), detail=message.topic)
            try:
                sub.handler(message)
            except Exception as exc:  # the handler asked for redelivery
                self._after_failure(sub, pending, exc)
            else:
                with self._lock:
                    sub.queue.remove(pending)
        raise RuntimeError(f"bus did not settle after {max_deliveries} deliveries")

    def _next_deliverable(self) -> tuple[_Subscription, _Pending] | None:
        now = self._clock.now()
        with self._lock:
            for sub in self._subscriptions.values():
                blocked: set[str] = set()
                for pending in sub.queue:
                    key = pending.message.ordering_key
                    if key and key in blocked:
                        continue
                    if pending.not_before <= now:
                        return sub, pending
                    if key:
                        blocked.add(key)  # a waiting message holds back its successors
        return None

    def _after_failure(self, sub: _Subscription, pending: _Pending, exc: Exception) -> None:
        with self._lock:
            if pending.attempt >= sub.max_attempts:
                sub.queue.remove(pending)
                dead = pending.message
                _LOGGER.warning(
                    "message dead-lettered",
                    extra={"json_fields": {"topic": dead.topic, "message_id": dead.message_id,
                                           "attempts": pending.attempt,
                                           "reason": type(exc).__name__}},
                )
                self.publish(
                    Topics.dead_letter(dead.topic),
                    dead.data,
                    attributes={**dead.attributes, "reason": type(exc).__name__,
                                "subscription": sub.name, "attempts": str(pending.attempt)},
                )
                return
            backoff = min(self._max_backoff, self._min_backoff * (2 ** (pending.attempt - 1)))
            pending.attempt += 1
            pending.not_before = self._clock.now() + backoff
