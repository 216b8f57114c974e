"""Join notifications ("one button to push"): a message with a Join button just before each
meeting, exactly once per occurrence.

Every minute a Scheduler tick looks at the meetings index for occurrences starting within the
lead time (or that started less than :data:`GRACE` ago, so a late or missed tick still
notifies) and publishes one ``join-notifications`` message per occurrence. "Exactly once" is
an idempotency key per ``(user, event, start)`` created *before* publishing: duplicate or
overlapping ticks find it taken; a rescheduled meeting has a new start, hence a new key, and
notifies again. If publishing fails the key is released so the redelivered tick retries.

Never notified: all-day events, cancelled meetings, meetings the user declined, meetings
without a join URL or SIP URI, users who are not active. Title, join URL and SIP URI travel
sealed (:meth:`shared.crypto.Sealer.seal_for_publish`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared import meetings_index
from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.logs import fields
from shared.store.base import Filter

_LOGGER = logging.getLogger(__name__)

COLLECTION = "notifications"
GRACE = timedelta(minutes=5)  # a late tick still notifies until the meeting is this far in
KEEP = timedelta(days=2)  # idempotency keys expire (Firestore TTL) well after the meeting


def on_tick(services: Any) -> int:
    """Publish the notifications that are due; returns how many were sent by this tick."""
    now = services.clock.now()
    lead = timedelta(seconds=services.config.notify_lead_seconds)
    rows = services.store.query(meetings_index.COLLECTION, [
        Filter("start", ">=", to_rfc3339(now - GRACE)),
        Filter("start", "<=", to_rfc3339(now + lead))], order_by="start")
    users: dict[str, bool] = {}
    sent = skipped = 0
    for key, doc in rows:
        if doc.get("all_day") or doc.get("status") == "cancelled":
            continue
        user_id = str(doc["user_id"])
        if user_id not in users:
            user = services.store.get("users", user_id) or {}
            users[user_id] = user.get("status") == "active"
        if not users[user_id]:
            continue
        if _notify(services, key, doc, now):
            sent += 1
        else:
            skipped += 1
    if sent or skipped:
        _LOGGER.info("join notifications dispatched", extra=fields(sent=sent, skipped=skipped))
    return sent


def _notify(services: Any, key: str, doc: dict[str, Any], now: Any) -> bool:
    user_id, event_id, start = str(doc["user_id"]), str(doc["event_id"]), str(doc["start"])
    record = services.sealer.open(user_id, f"{meetings_index.COLLECTION}|{key}", doc["blob"])
    if not (record.get("join_url") or record.get("sip_uri")):
        return False
    if record.get("response_status") == "declined":
        return False
    claim = f"{user_id}|{event_id}|{start}"
    if not services.store.create(COLLECTION, claim, {
            "user_id": user_id, "expire_at": to_rfc3339(now + KEEP)}):
        return False  # this occurrence was notified already
    place = f"{Topics.JOIN_NOTIFICATIONS}|{claim}"
    try:
        services.bus.publish(Topics.JOIN_NOTIFICATIONS, {
            "user_id": user_id, "event_id": event_id, "start": start,
            "sealed": services.sealer.seal_for_publish(user_id, place, {
                "title": record.get("title") or "", "join_url": record.get("join_url"),
                "sip_uri": record.get("sip_uri")})}, ordering_key=user_id)
    except Exception:
        services.store.delete(COLLECTION, claim)  # let the redelivered tick try again
        raise
    return True
