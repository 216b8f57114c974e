"""Calendar push channels: open, keep one fresh, stop; record them with hashed tokens.

The channel token is random per channel and stored only as a SHA-256 hash, so a store leak does
not let anyone forge pushes; intake compares hashes in constant time.

Recording. A channel is recorded (``opening``) *before* its ``events.watch`` call, because
Google may deliver the channel's ``sync`` message before the call answers. A first channel
learns its resource id from the answer and is then marked ``active``. A renewal already knows
the calendar's resource id (it is stable per calendar) and the expiry it asks for, so its one
write before the call is the whole record: the answer is written only when it differs
(:func:`start_channel`). A renewed channel therefore stays ``opening``, which means "recorded
before its watch answered": intake accepts its pushes, the renewal tick renews it, and only a
renewal that finds its own message's old channels still live (a redelivery after a crash, when
nobody can tell whether Google made the channel) replaces such a record instead of trusting it.

Stopping a user's channels (deactivation, a user no longer active) has one order, in
:func:`stop_channel`: the record is marked ``stopping`` first (from then on intake ignores the
channel's pushes, so a user we stopped serving is never processed again), then
``channels.stop`` is called, then the record is marked ``stopped``. A failure after the first
step leaves ``stopping``, which every later stop retries; Google answers 404 for a channel
already stopped, which counts as done. The opposite order could leave a record saying
``active`` for a channel Google no longer serves, and renewal would then keep that dead channel
as the user's fresh one.

A renewal retires the channel it replaced differently (:func:`retire_channel`): ``channels.stop``
first, then the record is deleted. Neither ``stopping`` mark is needed there: the user is
active, so the old channel's pushes are welcome until Google stops sending them, and the old
channel is never the fresh one (it is the one that was due). A failure between the two steps
leaves the record live and due, so the next delivery or tick stops it again (404: done) and
deletes it. Deleting keeps a user's channel records to the live ones, so the lookups of a
user's channels stay bounded however many renewals they had.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import Collection
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
RENEWABLE = (OPENING, ACTIVE)  # states the renewal tick renews when their expiry is near
LIVE = (OPENING, ACTIVE, STOPPING)  # states whose channel Google may still serve


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_channel(services: Services, user_id: str, email: str,
                  calendar_id: str = "primary", *,
                  resource_id: str | None = None) -> dict[str, Any]:
    """``events.watch`` on a calendar (the user's primary, or a room's acting as ``email``);
    returns the stored channel doc.

    The channel is recorded (``opening``) *before* the watch call: Google may deliver the
    channel's ``sync`` message before ``events.watch`` answers, and intake must then know the
    channel, or it takes it for an orphan and has it stopped. A watch that fails removes
    the record; a channel Google created anyway (the answer was lost) is then an orphan and is
    stopped as one.

    ``resource_id``: the calendar's, when a renewal already knows it. The record written before
    the call is then complete (that id and the expiry asked for), and the answer is written only
    if it differs: a renewal costs one write, not two (module docstring, "Recording").
    """
    channel_id = f"hc-{uuid.uuid4()}"
    token = secrets.token_urlsafe(32)
    now = services.clock.now()
    asked = to_rfc3339(now + timedelta(seconds=services.config.watch_ttl_seconds))
    record: dict[str, Any] = {"user_id": user_id, "token_hash": token_hash(token),
                              "state": OPENING, "created": to_rfc3339(now)}
    if resource_id:
        record.update(resource_id=resource_id, expires=asked)
    services.store.put(COLLECTION, channel_id, record)
    try:
        answer = services.workspace.calendar(email, calendar_id).watch(
            # required when deployed; unset (embedded, outside the stack) Google refuses it
            channel_id=channel_id, address=services.config.intake_url or "", token=token,
            ttl_seconds=services.config.watch_ttl_seconds)
    except Exception:
        services.store.delete(COLLECTION, channel_id)
        raise
    expires = to_rfc3339(datetime.fromtimestamp(int(answer["expiration"]) / 1000,
                                                tz=now.tzinfo)) \
        if answer.get("expiration") else asked
    if record.get("resource_id") == answer["resourceId"] and expires >= asked:
        return {"id": channel_id, **record}  # as recorded (a later expiry: renewed early)
    update = {"resource_id": answer["resourceId"], "expires": expires, "state": ACTIVE}
    services.store.merge(COLLECTION, channel_id, update)
    return {"id": channel_id, **record, **update}


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


def retire_channel(services: Services, acts_as: str, channel_id: str,
                   resource_id: str) -> None:
    """A renewal's old channel: stopped at Google, then its record deleted (module docstring:
    no ``stopping`` mark, the user is still served). Raises Google's errors with the record
    kept, so a retry stops it again."""
    try:
        services.workspace.calendar(acts_as).stop_channel(channel_id, resource_id)
    except GoneOrMissing:
        pass
    services.store.delete(COLLECTION, channel_id)


def _channels(services: Services, user_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every record of the user's channels (renewals delete the ones they replace)."""
    return services.store.query(COLLECTION, [Filter("user_id", "==", user_id)])


def _live(channels: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """Channels that may be served: active, renewed (``opening`` with an expiry), or whose stop
    did not finish. A first channel's ``opening`` record (no expiry yet) belongs to a watch
    call that may still be under way, and is left to it."""
    return [(key, doc) for key, doc in channels if doc.get("state") in LIVE
            and (doc.get("state") != OPENING or doc.get("expires"))]


def ensure_channel(services: Services, user_id: str, email: str,
                   calendar_id: str = "primary", *,
                   renewing: Collection[str] | None = None) -> bool:
    """Make before break: a channel valid past the horizon exists, then older ones are stopped.

    ``renewing``: the ids of the due channels the renewal tick handed over. None of them live
    any more means an earlier delivery renewed them (a duplicate: nothing to do). Some still
    live means this is the first delivery, or a redelivery after a failure: a fresh record that
    is still ``opening`` was then made by that earlier attempt, whose watch may never have
    reached Google, so it is replaced rather than kept (module docstring, "Recording").
    Without ``renewing`` (activation) a fresh ``opening`` record is trusted.

    Returns True when a new channel was created.
    """
    now = services.clock.now()
    horizon = now + timedelta(seconds=services.config.renewal_horizon_seconds)
    records = _channels(services, user_id)
    channels = _live(records)
    if renewing is not None and not {key for key, _ in channels} & set(renewing):
        return False
    for key, doc in records:
        if doc.get("state") == STOPPED:  # older code kept these: every lookup read them all
            services.store.delete(COLLECTION, key)
    trusted = (ACTIVE,) if renewing is not None else (ACTIVE, OPENING)
    fresh = [(k, d) for k, d in channels
             if d.get("state") in trusted and d.get("expires")
             and from_rfc3339(str(d["expires"])) > horizon]
    created = False
    if not fresh:
        known = next((str(d["resource_id"]) for _, d in channels if d.get("resource_id")), None)
        doc = start_channel(services, user_id, email, calendar_id, resource_id=known)
        fresh = [(doc["id"], doc)]
        created = True
        _LOGGER.info("watch channel renewed", extra=fields(user=user_id,
                                                           expires=doc["expires"]))
    keep = max(fresh, key=lambda kd: from_rfc3339(str(kd[1]["expires"])))[0]
    for key, doc in channels:
        if key != keep:
            retire_channel(services, email, key, str(doc.get("resource_id", "")))
    return created


def stop_all_channels(services: Services, user_id: str, user: dict[str, Any], *,
                      tolerate_transient: bool = False) -> None:
    """A user who is no longer active keeps no live channel (best effort).

    Refusals are never retried (the channel expires on its own, and its pushes are ignored);
    transient errors are raised for a retry unless ``tolerate_transient`` (deactivation
    answers an admin right away). A record without a resource id (its watch never answered)
    cannot be stopped at Google and is only marked.
    """
    tolerated: tuple[type[Exception], ...] = (DelegationRefused, GooglePermanentError)
    if tolerate_transient:
        tolerated += (GoogleTransientError,)
    acts_as = calendar_target(user)[0] if user.get("email") else None
    for key, doc in _live(_channels(services, user_id)):
        if acts_as and doc.get("resource_id"):
            try:
                stop_channel(services, acts_as, key, str(doc["resource_id"]))
                continue
            except tolerated as exc:
                _LOGGER.info("channel stop refused; it expires on its own",
                             extra=fields(user=user_id, error=type(exc).__name__))
        services.store.merge(COLLECTION, key, {"state": STOPPED})
