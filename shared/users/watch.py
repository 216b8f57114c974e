"""Calendar push channels: open, keep one fresh, stop; record them with hashed tokens.

The channel token is random per channel and stored only as a SHA-256 hash, so a store leak does
not let anyone forge pushes; intake compares hashes in constant time.

Stopping has one order, in :func:`stop_channel`: the record is marked ``stopping`` first (from
then on intake ignores the channel's pushes, so a user we stopped serving is never processed
again), then ``channels.stop`` is called, then the record is marked ``stopped``. A failure
after the first step leaves ``stopping``, which every later stop (renewal, deactivation, a
redelivered message) retries; Google answers 404 for a channel already stopped, which counts as
done. The opposite order could leave a record saying ``active`` for a channel Google no longer
serves, and renewal would then keep that dead channel as the user's fresh one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import from_rfc3339, to_rfc3339
from shared.google.errors import (
    DelegationRefused,
    GoneOrMissing,
    GooglePermanentError,
    GoogleTransientError,
)
from shared.logs import fields
from shared.store import names
from shared.store.base import Filter
from shared.users.status import calendar_target

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

COLLECTION = names.CHANNELS
OPENING, ACTIVE, STOPPING, STOPPED = "opening", "active", "stopping", "stopped"
ACCEPTING = (OPENING, ACTIVE)  # states whose pushes intake trusts


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_channel(services: Services, user_id: str, email: str,
                  calendar_id: str = "primary") -> dict[str, Any]:
    """``events.watch`` on a calendar (the user's primary, or a room's acting as ``email``);
    returns the stored channel doc.

    The channel is recorded (``opening``) *before* the watch call: Google may deliver the
    channel's ``sync`` message before ``events.watch`` answers, and intake must then know the
    channel, or it takes it for an orphan and has it stopped. A watch that fails removes
    the record; a channel Google created anyway (the answer was lost) is then an orphan and is
    stopped as one.
    """
    channel_id = f"hc-{uuid.uuid4()}"
    token = secrets.token_urlsafe(32)
    now = services.clock.now()
    services.store.put(COLLECTION, channel_id, {
        "user_id": user_id, "token_hash": token_hash(token), "state": OPENING,
        "confirmed": False, "created": to_rfc3339(now)})
    try:
        answer = services.workspace.calendar(email, calendar_id).watch(
            # required when deployed; unset (embedded, outside the stack) Google refuses it
            channel_id=channel_id, address=services.config.intake_url or "", token=token,
            ttl_seconds=services.config.watch_ttl_seconds)
    except Exception:
        services.store.delete(COLLECTION, channel_id)
        raise
    expires = datetime.fromtimestamp(int(answer["expiration"]) / 1000, tz=now.tzinfo) \
        if answer.get("expiration") else now + timedelta(
            seconds=services.config.watch_ttl_seconds)
    # merge, not put: an early ``sync`` may already have confirmed the channel
    services.store.merge(COLLECTION, channel_id, {
        "resource_id": answer["resourceId"], "expires": to_rfc3339(expires), "state": ACTIVE})
    return {"id": channel_id, **(services.store.get(COLLECTION, channel_id) or {})}


def stop_channel(services: Services, acts_as: str, channel_id: str, resource_id: str, *,
                 record: bool = True) -> None:
    """Stop one channel in the documented order (module docstring); raises Google's errors
    after marking ``stopping``. A channel Google no longer knows is already stopped.

    ``record=False`` for channels we never recorded (orphans): no document is created for them.
    """
    if record:
        services.store.merge(COLLECTION, channel_id, {"state": STOPPING})
    try:
        services.workspace.calendar(acts_as).stop_channel(channel_id, resource_id)
    except GoneOrMissing:
        pass
    if record:
        services.store.merge(COLLECTION, channel_id, {"state": STOPPED})


def _live_channels(services: Services, user_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The user's channels that are active or whose stop did not finish."""
    return [(key, doc) for key, doc in services.store.query(
        COLLECTION, [Filter("user_id", "==", user_id)])
        if doc.get("state") in (ACTIVE, STOPPING)]


def ensure_channel(services: Services, user_id: str, email: str,
                   calendar_id: str = "primary") -> bool:
    """Make before break: a channel valid past the horizon exists, then older ones are stopped.

    Returns True when a new channel was created.
    """
    now = services.clock.now()
    horizon = now + timedelta(seconds=services.config.renewal_horizon_seconds)
    channels = _live_channels(services, user_id)
    fresh = [(k, d) for k, d in channels
             if d.get("state") == ACTIVE and from_rfc3339(d["expires"]) > horizon]
    created = False
    if not fresh:
        doc = start_channel(services, user_id, email, calendar_id)
        fresh = [(doc["id"], doc)]
        created = True
        _LOGGER.info("watch channel renewed", extra=fields(user=user_id,
                                                           expires=doc["expires"]))
    keep = max(fresh, key=lambda kd: kd[1]["expires"])[0]
    for key, doc in channels:
        if key != keep:
            stop_channel(services, email, key, str(doc.get("resource_id", "")))
    return created


def stop_all_channels(services: Services, user_id: str, user: dict[str, Any], *,
                      tolerate_transient: bool = False) -> None:
    """A user who is no longer active keeps no live channel (best effort).

    Refusals are never retried (the channel expires on its own, and its pushes are ignored);
    transient errors are raised for a retry unless ``tolerate_transient`` (deactivation
    answers an admin right away).
    """
    tolerated: tuple[type[Exception], ...] = (DelegationRefused, GooglePermanentError)
    if tolerate_transient:
        tolerated += (GoogleTransientError,)
    acts_as = calendar_target(user)[0] if user.get("email") else None
    for key, doc in _live_channels(services, user_id):
        if acts_as:
            try:
                stop_channel(services, acts_as, key, str(doc.get("resource_id", "")))
                continue
            except tolerated as exc:
                _LOGGER.info("channel stop refused; it expires on its own",
                             extra=fields(user=user_id, error=type(exc).__name__))
        services.store.merge(COLLECTION, key, {"state": STOPPED})
