"""The publish contract and the topics the service uses.

Payloads are JSON objects. Sensitive fields are never put in them in the clear: publishers seal
them first (see :mod:`shared.crypto.sealer`), so a payload may be logged by infrastructure safely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class Topics:
    """Topic names: the code and ``infra/`` must agree on these (checked by tests)."""

    CALENDAR_CHANGES = "calendar-changes"
    RENEW_TICK = "renew-watches-tick"
    RENEW_USER = "watch-renewals"
    VACATION_TICK = "poll-vacations-tick"
    VACATION_SHARD = "vacation-shards"
    NOTIFY_TICK = "join-notifications-tick"
    MEETINGS_UPDATED = "meetings-updated"
    JOIN_NOTIFICATIONS = "join-notifications"
    PRESENCE_UPDATED = "presence-updated"
    PROVISIONING = "provisioning-jobs"

    @classmethod
    def all(cls) -> list[str]:
        return sorted(v for k, v in vars(cls).items() if k.isupper())

    @staticmethod
    def dead_letter(topic: str) -> str:
        return f"{topic}-dead-letter"


@dataclass(frozen=True)
class Message:
    """A delivered message as handlers see it, whatever the transport."""

    topic: str
    data: dict[str, Any]
    message_id: str
    ordering_key: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    delivery_attempt: int = 1

    def encoded(self) -> bytes:
        return encode(self.data)


def encode(data: dict[str, Any]) -> bytes:
    """Canonical JSON bytes (sorted keys, compact) so equal payloads compare equal."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class Bus(Protocol):
    """Publisher used by every feature."""

    def publish(
        self,
        topic: str,
        data: dict[str, Any],
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        """Publish one JSON message; returns its message id once the bus accepted it.

        Messages with the same non-empty ``ordering_key`` are delivered in publish order.
        """
