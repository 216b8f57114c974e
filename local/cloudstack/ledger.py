"""What is queued, in flight or waiting for a retry anywhere: CloudStack's ``settle()``.

Google's Pub/Sub emulator exposes no backlog, so CloudStack keeps the books itself: every
publish (seen by the publish proxy, or made by the Scheduler) creates one expected delivery per
push subscription of its topic; the Cloud Run front of the subscribed function records each
push attempt and its answer. A delivery is done once answered 2xx, or once it failed
``max_delivery_attempts`` times (the emulator then dead-letters it, as Pub/Sub does). Plain
HTTP requests through the fronts count as in flight while they run.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PushSubscription:
    """A push subscription as infra/ declares it (times in seconds, as Terraform gives them)."""

    name: str  # projects/P/subscriptions/S
    topic: str  # short topic name
    function: str  # function key it pushes to
    endpoint_path: str  # /projects/P/topics/T
    push_account: str | None  # oidc_token.service_account_email
    audience: str | None
    ack_deadline: int
    ordering: bool
    minimum_backoff: float
    maximum_backoff: float
    dead_letter_topic: str | None
    max_delivery_attempts: int | None

    @property
    def harness_dead_letters(self) -> bool:
        """The emulator cannot dead-letter from an ordered subscription (its push loop dies
        with a NullPointerException in ``MessageBacklog.pull`` and the subscription delivers
        nothing more: SDK 528, cloud-pubsub-emulator), so for these the front does it."""
        return self.ordering and self.dead_letter_topic is not None


@dataclass(frozen=True)
class Published:
    topic: str
    message_id: str
    data: bytes
    attributes: dict[str, str]
    ordering_key: str
    publisher: str  # function key, or "cloud-scheduler" / "harness"

    def json(self) -> Any:
        return json.loads(self.data.decode()) if self.data else {}


@dataclass
class Delivery:
    subscription: str
    message_id: str
    attempts: int = 0
    state: str = "queued"  # queued | in_flight | retry | acked | dead
    statuses: list[int] = field(default_factory=list)


class NeverSettles(RuntimeError):
    """Work kept arriving or never finished (a loop, or a message retried forever)."""


class Ledger:
    def __init__(self, subscriptions: Iterable[PushSubscription]) -> None:
        self.subscriptions = {s.name: s for s in subscriptions}
        self._by_topic: dict[str, list[PushSubscription]] = {}
        for sub in self.subscriptions.values():
            self._by_topic.setdefault(sub.topic, []).append(sub)
        self.published: list[Published] = []
        self._by_id: dict[str, Published] = {}
        self.deliveries: dict[tuple[str, str], Delivery] = {}
        self._http_in_flight = 0
        self.changes = 0  # bumps on every event: settle() sees progress
        self.dead_lettered: list[Delivery] = []
        self._lock = threading.Condition()

    # -- events ------------------------------------------------------------------------------
    def record_publish(self, message: Published) -> None:
        with self._lock:
            self.published.append(message)
            self._by_id[message.message_id] = message
            for sub in self._by_topic.get(message.topic, []):
                self.deliveries.setdefault((sub.name, message.message_id),
                                           Delivery(sub.name, message.message_id))
            self._bump()

    def push_started(self, subscription: str, message_id: str) -> Delivery:
        with self._lock:
            delivery = self.deliveries.setdefault((subscription, message_id),
                                                  Delivery(subscription, message_id))
            delivery.attempts += 1
            delivery.state = "in_flight"
            self._bump()
            return delivery

    def push_finished(self, delivery: Delivery, status: int) -> bool:
        """Record the answer; True when the message has now been dead-lettered."""
        with self._lock:
            delivery.statuses.append(status)
            sub = self.subscriptions.get(delivery.subscription)
            dead = False
            if 200 <= status < 300 or status == 102:
                delivery.state = "acked"
            elif sub is not None and sub.max_delivery_attempts and \
                    delivery.attempts >= sub.max_delivery_attempts:
                delivery.state = "dead"
                self.dead_lettered.append(delivery)
                dead = True
            else:
                delivery.state = "retry"
            self._bump()
            return dead

    def http_started(self) -> None:
        with self._lock:
            self._http_in_flight += 1
            self._bump()

    def http_finished(self) -> None:
        with self._lock:
            self._http_in_flight -= 1
            self._bump()

    def _bump(self) -> None:
        self.changes += 1
        self._lock.notify_all()

    # -- queries -----------------------------------------------------------------------------
    def message(self, message_id: str) -> Published | None:
        with self._lock:
            return self._by_id.get(message_id)

    def of_topic(self, topic: str) -> list[Published]:
        with self._lock:
            return [m for m in self.published if m.topic == topic]

    def open_deliveries(self) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries.values() if d.state not in ("acked", "dead")]

    def busy(self) -> bool:
        """Something is queued, in flight or waiting for a retry."""
        with self._lock:
            return self._http_in_flight > 0 or any(
                d.state not in ("acked", "dead") for d in self.deliveries.values())

    def only_retries_left(self) -> list[Delivery]:
        """The open deliveries, when every one of them waits for a retry (else [])."""
        with self._lock:
            if self._http_in_flight:
                return []
            open_ = [d for d in self.deliveries.values() if d.state not in ("acked", "dead")]
            return open_ if open_ and all(d.state == "retry" for d in open_) else []

    def wait_for_change(self, seen: int, timeout: float) -> int:
        with self._lock:
            self._lock.wait_for(lambda: self.changes != seen, timeout=timeout)
            return self.changes

    def describe(self) -> str:
        with self._lock:
            open_ = [d for d in self.deliveries.values() if d.state not in ("acked", "dead")]
            lines = [f"{self._http_in_flight} HTTP requests in flight, {len(open_)} messages open"]
            for d in open_[:20]:
                published = self._by_id.get(d.message_id)
                topic = published.topic if published else "?"
                lines.append(f"  {d.subscription.rsplit('/', 1)[-1]} <- {topic} "
                             f"{d.message_id}: {d.state}, {d.attempts} attempts, "
                             f"answers {d.statuses[-5:]}")
            return "\n".join(lines)


def decode_push(body: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """``(subscription, message id, envelope)`` of a Pub/Sub push body, or None."""
    try:
        envelope = json.loads(body)
        message = envelope["message"]
        return (str(envelope["subscription"]),
                str(message.get("messageId") or message.get("message_id")), envelope)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def encode_data(data: bytes) -> str:
    return base64.b64encode(data).decode()


def monotonic() -> float:
    return time.monotonic()
