"""Decoding the CloudEvent a Pub/Sub-triggered function receives (no client library needed).

``data = {"message": {"data": base64, "attributes", "messageId", "orderingKey",
"publishTime"}, "subscription": ...}``; the topic comes from the event's ``source``
(``//pubsub.googleapis.com/projects/P/topics/T``) or, for push subscriptions, the path.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shared.bus.base import Message


def decode_pubsub_cloudevent(cloud_event: Any) -> Message:
    """Raise ``ValueError`` with a clear message for anything that is not a JSON message."""
    # Any: a CloudEvent (``.data``, ``["source"]``) or a plain dict envelope, told apart below
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event.get("data")
    source = cloud_event["source"] if hasattr(cloud_event, "__getitem__") else ""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError:
            raise ValueError("CloudEvent data is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise ValueError("CloudEvent data has no Pub/Sub message")
    message = data["message"]
    topic = str(source).rsplit("/topics/", 1)[-1] if "/topics/" in str(source) else ""
    if not topic:
        raise ValueError("CloudEvent source does not name a Pub/Sub topic")
    try:
        raw = base64.b64decode(message.get("data") or "", validate=True)
        payload = json.loads(raw.decode("utf-8")) if raw else {}
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("Pub/Sub message data is not base64-encoded UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("Pub/Sub message data is not a JSON object")
    attributes = message.get("attributes") or {}
    return Message(
        topic=topic, data=payload,
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        ordering_key=str(message.get("orderingKey") or ""),
        attributes={str(k): str(v) for k, v in attributes.items()},
        delivery_attempt=int(data.get("deliveryAttempt") or 1),
    )
