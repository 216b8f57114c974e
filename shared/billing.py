"""Counting what Google bills, where the product spends it.

Google API calls are free; what a tenant pays for is Firestore document reads, writes and
deletes, Pub/Sub throughput, KMS operations and function time. Each adapter counts its own
operations the way the product it stands for bills them (see ``docs/cost.md``) into a
:class:`Meter`: an in-memory counter and nothing else, so counting costs a deployed instance a
lock and an addition per call. The harnesses read the meters (``stack.billing()``) and the
benches turn them into ratios against the derived minimum and into US$.

Keys are ``product.quantity`` (``firestore.reads``), optionally with ``:detail`` for a
breakdown (``firestore.reads:users``); totals never include the detailed keys twice, because
detailed keys are only ever added next to their total.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from typing import cast

# Pub/Sub bills at least this many bytes per publish, push or pull request
# (https://cloud.google.com/pubsub/pricing, "Message volume calculation").
PUBSUB_MIN_REQUEST_BYTES = 1000
# Pub/Sub counts 20 bytes for the publish timestamp of every message (same page).
PUBSUB_TIMESTAMP_BYTES = 20

# Cloud Run functions bill instance time in 100 ms increments, rounded up
# (https://cloud.google.com/run/pricing, "billable time").
INSTANCE_TIME_INCREMENT_SECONDS = 0.1

KEYS = ("firestore.reads", "firestore.writes", "firestore.deletes", "pubsub.messages",
        "pubsub.bytes", "kms.calls", "functions.invocations", "functions.cpu_seconds")


class Meter:
    """A thread-safe counter of billed operations (one per adapter, or shared by a wiring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {}

    def add(self, key: str, amount: float = 1, *, detail: str = "") -> None:
        """Count ``amount`` of ``key`` (and of ``key:detail`` when a detail is given)."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount
            if detail:
                name = f"{key}:{detail}"
                self._counts[name] = self._counts.get(name, 0) + amount

    def snapshot(self) -> Counter[str]:
        """A copy of the counts so far (CPU seconds are floats, the rest whole numbers)."""
        with self._lock:
            return cast("Counter[str]", Counter(self._counts))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def billed_instance_seconds(busy_seconds: float) -> float:
    """A spell an instance was busy with requests, as billed: rounded up to the next 100 ms
    (a request too short to measure still costs one increment)."""
    increments = math.ceil(round(busy_seconds / INSTANCE_TIME_INCREMENT_SECONDS, 6))
    return max(1, increments) * INSTANCE_TIME_INCREMENT_SECONDS


def total(meters: Iterable[Meter | None]) -> Counter[str]:
    """The sum of distinct meters (a meter shared by two adapters counts once)."""
    seen: dict[int, Meter] = {id(m): m for m in meters if m is not None}
    result: Counter[str] = Counter(dict.fromkeys(KEYS, 0))
    for meter in seen.values():
        result.update(meter.snapshot())
    return result


def pubsub_message_bytes(data: bytes, attributes: dict[str, str] | None, message_id: str,
                         ordering_key: str = "") -> int:
    """The data volume Pub/Sub bills for one message: body, attribute keys and values, 20 bytes
    of timestamp, the message id and (an optional field) the ordering key."""
    size = len(data) + PUBSUB_TIMESTAMP_BYTES + len(message_id.encode()) + len(ordering_key.encode())
    for key, value in (attributes or {}).items():
        size += len(key.encode()) + len(value.encode())
    return size


def pubsub_request_bytes(message_bytes: int) -> int:
    """Billed bytes of a request carrying one message: at least 1,000."""
    return max(PUBSUB_MIN_REQUEST_BYTES, message_bytes)
