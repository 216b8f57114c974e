"""Shared plumbing for the Pub/Sub-triggered entry points.

Delivery is at least once, and every handler is idempotent on its own (a redelivered message
changes nothing a user sees: ``tests/functions/test_duplicate_delivery.py``), so a handled
message is not recorded: a claim per message would cost a Firestore read and write on every
invocation to save the rare duplicate's Google calls (issue #20). A failure is re-raised so
Pub/Sub redelivers with backoff, until ``max_delivery_attempts`` (counted in the store, only
when an attempt fails, because Eventarc does not pass the attempt number) when the message is
published to the topic's dead-letter topic with the reason and acknowledged. The count is left
to expire through TTL rather than deleted on success (one delete per invocation saved). A
:class:`~shared.errors.PermanentError` or a malformed envelope is logged and acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared import failpoints
from shared.bus.base import Message, Topics
from shared.errors import PermanentError
from shared.logs import fields
from shared.runtime import Services
from shared.store import names

if TYPE_CHECKING:
    from cloudevents.http.event import CloudEvent

_LOGGER = logging.getLogger(__name__)

Route = Callable[[Services, dict[str, Any]], None]


def run(cloud_event: CloudEvent, routes: Mapping[str, Route], services: Services) -> None:
    """Decode the CloudEvent and dispatch on its topic (raise = redeliver)."""
    from shared.bus.envelope import decode_pubsub_cloudevent

    try:
        message = decode_pubsub_cloudevent(cloud_event)
    except ValueError as exc:
        _LOGGER.error("malformed Pub/Sub envelope dropped", extra=fields(problem=str(exc)[:200]))
        return
    route = routes.get(message.topic)
    if route is None:
        _LOGGER.error("message for a topic this function does not handle dropped",
                      extra=fields(topic=message.topic))
        return
    handle(message, route, services)


def handle(message: Message, route: Route, services: Services) -> None:
    failpoints.hit("handler.start")
    try:
        route(services, message.data)
        failpoints.hit("handler.after_side_effects")
    except PermanentError as exc:
        _LOGGER.warning("message dropped: permanent failure",
                        extra=fields(topic=message.topic, error=type(exc).__name__,
                                     detail=str(exc)[:200]))
    except Exception as exc:
        attempts = _count_attempt(services, f"{message.topic}:{message.message_id}")
        if attempts < services.config.max_delivery_attempts:
            raise  # Pub/Sub redelivers with the subscription's exponential backoff
        services.bus.publish(
            Topics.dead_letter(message.topic),
            message.data,
            ordering_key="",
            attributes={"reason": type(exc).__name__, "attempts": str(attempts),
                        "source_message_id": message.message_id},
        )
        _LOGGER.error("message moved to dead-letter topic",
                      extra=fields(topic=message.topic, attempts=attempts,
                                   error=type(exc).__name__))
    failpoints.hit("handler.before_ack")


def _count_attempt(services: Services, key: str) -> int:
    def bump(doc: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
        n = int((doc or {}).get("n", 0)) + 1
        return {"n": n, "expire_at": _expiry(services)}, n

    return services.store.transact(names.ATTEMPTS, key, bump)


def _expiry(services: Services) -> str:
    from datetime import timedelta

    from shared.clock import to_rfc3339

    return to_rfc3339(services.clock.now() + timedelta(days=7))
