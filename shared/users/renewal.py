"""Keeping watches alive: the ``renew_watches`` tick fans out, the worker acts for one user.

Google's push channels expire (at most a week for Calendar) and pushes are not guaranteed, so
an hourly Scheduler tick does three things, each with one indexed query and a bounded page:

- channels expiring within the renewal horizon (``state in (opening, active) AND expires <=
  T``, expired ones included: a channel is never left to lapse for good) → one
  ``watch-renewals`` message per user, naming the user's due channels;
- users whose last sync is older than the reconciliation interval (the ``sync`` documents'
  ``last_sync``, which every sync's one commit writes anyway) → a ``calendar-changes``
  message ``{"user_id", "reason": "reconcile"}`` published directly, because a dropped push
  would otherwise go unnoticed until the user's next change. No per-user write marks them
  reconciled: the sync's own commit moves ``last_sync`` past the next tick's bound, and a
  user whose pushes keep them synced is never reconciled at all. Processing acknowledges the
  message for a user who is not active; keeping a live channel is the renewal's work alone;
- users in ``error`` or ``pending`` whose back-off has passed → re-validation.

The worker renews *make before break*: it creates the new channel, records it, and only then
stops the old one. During the overlap pushes from both channels are accepted; processing
coalesces them per user, so the overlap costs no extra sync. A duplicate message finds the
channels it names gone and does nothing; a redelivery after a failure replaces what the failed
attempt may have left half made and finishes stopping the old ones (:mod:`shared.users.watch`).

Orphans (pushes for channel ids we do not know, e.g. from a store restored from backup) come
from intake as ``{"kind": "orphan"}``; the worker stops the channel through its resource id if
that resource is one of our users' calendars. Intake rate-limits these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.errors import BadRequest
from shared.google.errors import (
    DelegationRefused,
    GoneOrMissing,
    GooglePermanentError,
)
from shared.logs import fields
from shared.store.base import Filter
from shared.store.names import SYNC
from shared.users import provisioning, status, workspaces
from shared.users.status import COLLECTION as USERS
from shared.users.watch import COLLECTION as CHANNELS
from shared.users.watch import RENEWABLE, ensure_channel, stop_all_channels, stop_channel

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

PAGE = 500
MAX_PER_TICK = 50_000
KINDS = ("renew", "reconcile", "revalidate", "orphan")  # "reconcile": messages of older ticks
WAITING = ("error", "pending")  # statuses whose users are validated again after a back-off


@dataclass
class TickResult:
    """What one tick fanned out (logged; the bench reads it)."""

    renewals: int = 0
    reconciliations: int = 0
    revalidations: int = 0


def on_tick(services: Services) -> TickResult:
    """Fan out one message per user that needs work (idempotent per tick: a duplicate tick
    only causes duplicate messages, which the worker and the sync treat as no-ops)."""
    now = services.clock.now()
    result = TickResult()
    for user_id, channels in expiring_channels(services, now).items():
        services.bus.publish(Topics.RENEW_USER, {"user_id": user_id, "kind": "renew",
                                                 "channels": channels}, ordering_key=user_id)
        result.renewals += 1
    for user_id in _reconcile_due(services, now):
        services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id,
                                                       "reason": "reconcile"},
                             ordering_key=user_id)
        result.reconciliations += 1
    for user_id in _validation_due(services, now):
        _fan_out(services, user_id, "revalidate")
        result.revalidations += 1
    _LOGGER.info("renewal tick fanned out", extra=fields(
        renewals=result.renewals, reconciliations=result.reconciliations,
        revalidations=result.revalidations))
    return result


def expiring_channels(services: Services, now: datetime) -> dict[str, list[str]]:
    """Per user, the ids of their channels that expire within the horizon (one indexed query;
    the message carries them, so the worker can tell a duplicate from work to do)."""
    horizon = to_rfc3339(now + timedelta(seconds=services.config.renewal_horizon_seconds))
    owners: dict[str, list[str]] = {}
    for key, doc in due(services, CHANNELS, Filter("state", "in", list(RENEWABLE)), "expires",
                        horizon):
        owners.setdefault(str(doc["user_id"]), []).append(key)
    return owners


def _reconcile_due(services: Services, now: datetime) -> list[str]:
    """Users not synced for a reconciliation interval (deactivation deletes the document)."""
    until = to_rfc3339(now - timedelta(seconds=services.config.reconcile_interval_seconds))
    return [key for key, _doc in due(services, SYNC, None, "last_sync", until)]


def _validation_due(services: Services, now: datetime) -> list[str]:
    """Users in ``error`` or ``pending`` past their back-off (one query for both: an empty
    query still bills a read, every tick)."""
    return [key for key, _doc in due(services, USERS, Filter("status", "in", list(WAITING)),
                                     "next_validation_at", to_rfc3339(now))]


def due(services: Services, collection: str, equal: Filter | None, field: str, until: str,
        *, limit: int = MAX_PER_TICK) -> Iterator[tuple[str, dict[str, Any]]]:
    """Documents with ``equal`` (if any) and ``field <= until``, in ``field`` order, page by page.

    Keyset pagination on ``(field, key)`` that the store contract supports with the one
    composite index ``[equal.field, field, _key]`` (``[field, _key]`` without ``equal``; an
    ``in`` filter uses the same index as ``==``): pages ordered by ``field``, and documents
    that tie on the last value are read with an equality on it, ordered by key. Bounded by
    ``limit`` so one tick stays inside the function's time limit; what is left is still due
    at the next tick.
    """
    base = [equal] if equal is not None else []
    seen = 0
    after: tuple[str, str] | None = None  # (field value, key) of the last document yielded
    while seen < limit:
        ranged = True
        if after is None:
            page = services.store.query(collection, [*base, Filter(field, "<=", until)],
                                        order_by=field, limit=PAGE)
        else:
            page = services.store.query(collection, [*base, Filter(field, "==", after[0])],
                                        limit=PAGE, start_after=after[1])
            ranged = False
            if not page:
                page = services.store.query(collection, [
                    *base, Filter(field, ">", after[0]), Filter(field, "<=", until)],
                    order_by=field, limit=PAGE)
                ranged = True
        for key, doc in page:
            yield key, doc
            seen += 1
        if not page or (ranged and len(page) < PAGE):
            return  # a short page of the range holds every remaining match
        after = (str(page[-1][1][field]), page[-1][0])


def _fan_out(services: Services, user_id: str, kind: str) -> None:
    services.bus.publish(Topics.RENEW_USER, {"user_id": user_id, "kind": kind},
                         ordering_key=user_id)


def renew_user(services: Services, data: dict[str, Any]) -> str:
    """The worker: one message, one user (or one orphan channel). Returns what it did.

    Raising (a transient Google error) asks Pub/Sub to redeliver; every step is idempotent.
    """
    kind = data.get("kind", "renew")
    if kind not in KINDS:
        raise BadRequest(f"watch-renewals message of unknown kind {kind!r}")
    if kind == "orphan":
        return stop_orphan(services, data)
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("watch-renewals message without user_id")
    user = services.store.get(USERS, user_id) or {}
    if kind == "revalidate":
        if not user.get("email"):
            return "unknown"
        return revalidate(services, str(user["email"]))
    if user.get("status") != "active" or not user.get("email"):
        stop_all_channels(services, user_id, user)
        return "inactive"
    named = data.get("channels")
    renewing = [str(c) for c in named] if isinstance(named, list) else None
    try:
        renewed = ensure_channel(services, user_id, *status.calendar_target(user),
                                 renewing=renewing)
    except DelegationRefused as exc:
        status.mark_error(services, user_id, exc)
        return "error"
    except GoneOrMissing as exc:  # the calendar (or user) is gone
        status.mark_error(services, user_id, exc)
        return "error"
    if kind == "reconcile":  # a message of an older tick: the sync it asked for
        services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id,
                                                       "reason": "reconcile"},
                             ordering_key=user_id)
        return "reconciled"
    return "renewed" if renewed else "fresh"


def revalidate(services: Services, email: str) -> str:
    """An admin's retry (or the back-off runner): validate a user in ``error``/``pending`` again.

    Active and deactivated users are left alone (re-validating an active user would open a
    second watch channel); the current status is returned unchanged for them.
    """
    email, _user_id, doc = status.current_record(services, email)
    if doc.get("status") not in ("error", "pending", "validating"):
        return str(doc.get("status", "unknown"))
    if doc.get("kind") == "workspace":
        return workspaces.activate_workspace(services, email)
    return provisioning.activate_now(services, email)


def stop_orphan(services: Services, data: dict[str, Any]) -> str:
    """Stop a channel we have no record of, if its resource is one of our users' calendars.

    Stopping needs the calendar owner's credentials; the resource id (stable per calendar)
    leads to the owner through the channels we did record. Unknown resources are skipped:
    a forged push must not make us call Google on someone's behalf.
    """
    channel_id, resource_id = data.get("channel_id"), data.get("resource_id")
    if not isinstance(channel_id, str) or not isinstance(resource_id, str) or not resource_id:
        raise BadRequest("orphan message without channel_id/resource_id")
    if services.store.get(CHANNELS, channel_id) is not None:
        # Recorded since intake asked: a channel whose early ``sync`` overtook its watch call.
        _LOGGER.info("orphan stop skipped: the channel is ours after all")
        return "known"
    known = services.store.query(CHANNELS, [Filter("resource_id", "==", resource_id)], limit=1)
    if not known:
        _LOGGER.info("orphan channel on an unknown resource skipped")
        return "unknown-resource"
    user_id = str(known[0][1].get("user_id", ""))
    user = services.store.get(USERS, user_id) or {}
    if not user.get("email"):
        return "unknown-resource"
    try:
        stop_channel(services, status.calendar_target(user)[0], channel_id, resource_id,
                     record=False)
    except (DelegationRefused, GooglePermanentError) as exc:
        _LOGGER.info("orphan channel stop refused; it expires on its own",
                     extra=fields(user=user_id, error=type(exc).__name__))
        return "refused"
    _LOGGER.info("orphan channel stopped", extra=fields(user=user_id))
    return "stopped"
