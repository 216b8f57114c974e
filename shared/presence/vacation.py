"""Out-of-office presence from the Gmail vacation responder (issue 9).

Gmail has no push for vacation settings, so every active user's responder is read once per
``vacation_interval_seconds``:

* :func:`on_tick` (``poll-vacations-tick``) pages through active users, cuts them into shards
  (:func:`plan_shards`) and publishes one ``vacation-shards`` message per shard. Shard *i* carries
  ``not_before = tick + i * slot`` so the shards' start times are spread evenly over a window, and
  a ``max_rate`` so that even with every worker instance busy the project stays far inside its
  Gmail quota. Each user travels with what the worker needs (the query read it anyway): the
  address Gmail delegation needs, sealed (:func:`seal_address`), and the last presence.
* :func:`poll_shard` (``vacation-shards``) waits for its slot, then reads each user's responder
  with a small thread pool through the Gmail gateway (backoff on 429 / 403 rate limits). It reads
  nothing from the store per user and writes only a change, so a poll costs one document read
  per user (the tick's query) and nothing else. A shard redelivered after a transient failure
  reads its users' responders again (Gmail quota units, not billed); a change it already stored
  is found equal in the transaction and neither written again as new nor published twice.

Cost: billed per user per poll, one Firestore read (the query), a share of the tick's and
the shard's messages and invocations, and the daily-limit marker's read per shard; a change
costs one transaction on the user document (1 read, 1 write), one ``presence-updated`` and one
transaction clearing the outbox flag.

Out of office = ``enableAutoReply`` and now within ``[startTime, endTime)`` (epoch ms, either may
be absent); ``restrictToContacts`` / ``restrictToDomain`` do not matter. Because every tick
re-reads and re-evaluates the window against the clock, a scheduled responder flips at its start
and back at its end at the first tick after the boundary, with no change in Gmail.

Stored per user: the ``presence`` map of ``users/{user}`` (where the tick's query reads it) with
``status``, ``since``, ``until`` (times, not user text), ``observed_at`` (when the Gmail read that
wrote it returned: an older observation never overwrites a newer one) and the outbox fields
``changed_at``/``publish_pending``. It is written only when ``(status, since, until)`` differs
from what is stored, in a transaction that also checks the user is still active (deactivation
clears the map, see :data:`shared.store.names.USER_FIELDS_PER_FEATURE`). The responder's
subject and body are user text and are dropped as soon as the response is parsed: never stored,
published or logged. Only a change worth announcing publishes ``presence-updated``; the
``publish_pending`` flag is an outbox so a crash between the write and the publish still sends
it: the next read of the user (a redelivery or the next tick, which carries the flag) publishes
it first.

Gmail quota (developers.google.com/workspace/gmail/api/reference/quota, read Nov 2026):
``users.settings.getVacation`` costs 1 quota unit; per project 1,200,000 units per minute; per
user per project 6,000 units per minute for projects created since 1 May 2026 (15,000 before;
the older "250 units per user per second" moving average is the same order); a daily billing
threshold of 80,000,000 units per project. Over-limit answers are 403 ``rateLimitExceeded`` /
``userRateLimitExceeded`` or 429. One poll per user per 10 minutes is 144 units per user per day:
100,000 users use 14.4 M units a day (18 % of the threshold) and about 10,000 units a minute on
average (under 1 % of the per-minute quota); per user it is 0.1 units a minute.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import tink
from tink import aead, secret_key_access
from tink.proto import aes_gcm_pb2, tink_pb2

from shared.bus.base import Topics
from shared.clock import from_rfc3339, to_rfc3339
from shared.errors import BadRequest, TransientError
from shared.google.errors import (
    DailyLimitExceeded,
    DelegationRefused,
    GooglePermanentError,
    GoogleTransientError,
)
from shared.logs import fields
from shared.store import names
from shared.store.base import Filter

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

AVAILABLE = "available"
OUT_OF_OFFICE = "out_of_office"
COLLECTION = names.USERS  # presence is the ``presence`` map of the user document
FIELD = "presence"
# What a shard message carries of a user's presence: enough for the worker to decide, without
# a read, whether this poll changed anything (and to publish a change its outbox still holds).
CARRIED = ("status", "since", "until", "observed_at", "changed_at", "publish_pending")
USER_PAGE = 500
# Gmail's 403 dailyLimitExceeded: the project's daily allowance is used up (Gmail guide
# "Resolve errors"). Reads stop for the whole project for up to an hour (one marker in the
# store), users keep their status and presence, and each shard's first read probes whether the
# allowance is back (the marker is cleared as soon as one read succeeds).
DAILY_LIMIT_PAUSE = timedelta(hours=1)
DAILY_LIMIT_KEY = "gmail-daily-limit"


# -- quota and shard sizing ----------------------------------------------------------------------
@dataclass(frozen=True)
class Limits:
    """What shard sizing depends on: Gmail quota, the worker's deployment, observed latency."""

    project_units_per_minute: int = 1_200_000  # Gmail, per project
    user_units_per_minute: int = 6_000  # Gmail, per user per project (new projects)
    daily_units_threshold: int = 80_000_000  # Gmail, per project per day before billing
    units_per_call: int = 1  # users.settings.getVacation
    quota_share: float = 0.5  # the rest is headroom for retries and other Gmail callers
    parallel_shards: int = 20  # infra: vacation-worker max instances (1 shard per instance)
    concurrency: int = 8  # Gmail calls in flight per shard
    call_seconds: float = 0.5  # pessimistic getVacation latency, token refresh included
    shard_budget_seconds: float = 240.0  # polling time per shard, worker timeout is 540 s
    start_spread_seconds: float = 240.0  # shards' start times are spread over this (<= interval)
    max_shard_users: int = 1000  # keeps a redelivered shard cheap and messages small


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class ShardPlan:
    """How one tick splits the population, and what it costs against the quota."""

    users: int
    shards: int
    shard_size: int
    slot_seconds: float  # distance between consecutive shards' not_before
    max_rate: float  # Gmail calls per second one shard may make
    shard_seconds: float  # expected polling time of a full shard
    calls_per_minute_avg: float  # over the whole interval
    calls_per_minute_peak: float  # every worker instance busy at max_rate
    project_quota_share: float  # peak units per minute / project quota
    daily_units: int
    fits_interval: bool  # all shards finish before the next tick (with parallel_shards workers)


def plan_shards(users: int, interval_seconds: float, limits: Limits = DEFAULT_LIMITS) -> ShardPlan:
    """Size shards so each finishes well inside the worker's timeout and the whole population
    stays inside the Gmail quotas; pure, so the sizing can be tested and benchmarked alone."""
    budget_per_second = limits.project_units_per_minute * limits.quota_share / 60.0
    max_rate = budget_per_second / limits.units_per_call / limits.parallel_shards
    throughput = min(limits.concurrency / limits.call_seconds, max_rate)
    size_cap = max(1, min(limits.max_shard_users,
                          math.floor(throughput * limits.shard_budget_seconds)))
    shards = math.ceil(users / size_cap) if users else 0
    shard_size = math.ceil(users / shards) if shards else 0  # even shards, none nearly empty
    spread = min(float(interval_seconds), limits.start_spread_seconds)
    slot = spread / shards if shards else 0.0
    shard_seconds = shard_size / throughput if shard_size else 0.0
    waves = math.ceil(shards / limits.parallel_shards) if shards else 0
    finish = max(spread, (waves - 1) * shard_seconds) + shard_seconds if shards else 0.0
    peak = min(shards, limits.parallel_shards) * throughput * 60.0
    return ShardPlan(
        users=users,
        shards=shards,
        shard_size=shard_size,
        slot_seconds=slot,
        max_rate=max_rate,
        shard_seconds=shard_seconds,
        calls_per_minute_avg=users * 60.0 / interval_seconds,
        calls_per_minute_peak=peak,
        project_quota_share=peak * limits.units_per_call / limits.project_units_per_minute,
        daily_units=math.ceil(users * limits.units_per_call * 86_400 / interval_seconds),
        fits_interval=finish <= interval_seconds,
    )


# -- the out-of-office rule ----------------------------------------------------------------------
@dataclass(frozen=True)
class Responder:
    """The parts of a vacation setting presence needs (subject and body are never kept)."""

    enabled: bool
    start: datetime | None
    end: datetime | None

    @classmethod
    def from_api(cls, body: dict[str, Any]) -> Responder:
        return cls(bool(body.get("enableAutoReply")), _epoch_ms(body.get("startTime")),
                   _epoch_ms(body.get("endTime")))


@dataclass(frozen=True)
class Presence:
    status: str
    since: datetime | None
    until: datetime | None


def evaluate(responder: Responder, now: datetime) -> Presence:
    """Out of office iff enabled and ``start <= now < end`` (missing bounds are open).

    ``until`` says when the status will change by itself: the window's end, or for a scheduled
    responder its start.
    """
    if not responder.enabled:
        return Presence(AVAILABLE, None, None)
    start, end = responder.start, responder.end
    if start is not None and end is not None and end <= start:
        return Presence(AVAILABLE, None, None)  # an empty window is never on
    if start is not None and now < start:
        return Presence(AVAILABLE, None, start)
    if end is not None and now >= end:
        return Presence(AVAILABLE, end, None)
    return Presence(OUT_OF_OFFICE, start, end)


def _epoch_ms(value: Any) -> datetime | None:  # Any: a JSON value, checked below
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# -- the tick ------------------------------------------------------------------------------------
def on_tick(services: Services) -> ShardPlan:
    """Publish one ``vacation-shards`` message per shard of active users."""
    now = services.clock.now()
    interval = services.config.vacation_interval_seconds
    users = list(active_users(services))
    plan = plan_shards(len(users), interval)
    tick = to_rfc3339(now)
    deadline = to_rfc3339(now + timedelta(seconds=interval))
    for index in range(plan.shards):
        chunk = users[index * plan.shard_size:(index + 1) * plan.shard_size]
        services.bus.publish(Topics.VACATION_SHARD, {
            "tick": tick,
            "shard": index,
            "shards": plan.shards,
            "users": chunk,
            "not_before": to_rfc3339(now + timedelta(seconds=index * plan.slot_seconds)),
            "deadline": deadline,
            "max_rate": plan.max_rate,
        })
    # A population the interval cannot cover is the operator's to fix: a warning says so.
    level = logging.INFO if plan.fits_interval else logging.WARNING
    _LOGGER.log(level, "vacation poll planned" if plan.fits_interval else
                "vacation poll cannot cover every user within the interval; raise the interval",
                extra=fields(users=plan.users, shards=plan.shards, shard_size=plan.shard_size,
                             peak_quota_share=round(plan.project_quota_share, 4)))
    return plan


def active_users(services: Services) -> Iterator[dict[str, Any]]:
    """Active users with a mailbox, in key order, read page by page, each as its shard entry:
    ``{"id", "mail"}`` (the address sealed) and ``presence`` when one is stored."""
    last: str | None = None
    while True:
        page = services.store.query(names.USERS, [Filter("status", "==", "active")],
                                    limit=USER_PAGE, start_after=last)
        for key, doc in page:
            if doc.get("kind", "user") == "user" and doc.get("email"):
                yield _entry(services, key, doc)
        if len(page) < USER_PAGE:
            return
        last = page[-1][0]


def _entry(services: Services, user_id: str, user: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": user_id,
                             "mail": seal_address(services, user_id, str(user["email"]))}
    stored = user.get(FIELD) or {}
    carried = {k: stored[k] for k in CARRIED if stored.get(k) not in (None, False)}
    if carried:
        entry[FIELD] = carried
    return entry


# -- the address in the shard message -----------------------------------------------------------
# Gmail delegation needs the user's address; the shard message must not carry it in the clear
# (messages outlive deactivation in retention and dead-letter topics, and the data rule keeps
# addresses out of everything published). Sealing it per user with the Sealer would cost a
# data-key read and a KMS unwrap per user and cache miss, and reading the user again a document
# per user per poll (as much as the poll itself). So the address is sealed with AES-256-GCM
# under a key derived (HKDF-SHA256) from the pseudonym key: a secret the service already holds,
# whose holder can already confirm any guessed address against a pseudonym, so it is no new
# trust; the user id is the associated data, so an entry cannot be moved to another user.
_ADDRESS_INFO = b"hybridcal|vacation-shards|address|v1"
_ADDRESS_AAD = "vacation-shards|"


def seal_address(services: Services, user_id: str, email: str) -> str:
    """The user's address for a shard message: base64url AES-GCM, bound to ``user_id``."""
    sealed = _address_aead(services.config.pseudonym_key).encrypt(
        email.encode(), (_ADDRESS_AAD + user_id).encode())
    return base64.urlsafe_b64encode(sealed).decode()


def open_address(services: Services, user_id: str, sealed: str) -> str:
    """:func:`seal_address` reversed; raises :class:`BadRequest` for anything else."""
    try:
        opened = _address_aead(services.config.pseudonym_key).decrypt(
            base64.urlsafe_b64decode(sealed.encode()), (_ADDRESS_AAD + user_id).encode())
        return bytes(opened).decode()
    except (tink.TinkError, binascii.Error, ValueError):
        raise BadRequest("vacation-shards entry whose address does not open") from None


@functools.lru_cache(maxsize=4)
def _address_aead(secret: str) -> aead.Aead:
    """The AEAD of :func:`seal_address`; built once per process (and key)."""
    prk = hmac.new(b"hybridcal", secret.encode(), hashlib.sha256).digest()  # HKDF-Extract
    key = hmac.new(prk, _ADDRESS_INFO + b"\x01", hashlib.sha256).digest()  # HKDF-Expand, 32 B
    keyset = tink_pb2.Keyset(primary_key_id=1, key=[tink_pb2.Keyset.Key(
        key_data=tink_pb2.KeyData(
            type_url="type.googleapis.com/google.crypto.tink.AesGcmKey",
            value=aes_gcm_pb2.AesGcmKey(version=0, key_value=key).SerializeToString(),
            key_material_type=tink_pb2.KeyData.SYMMETRIC),
        status=tink_pb2.ENABLED, key_id=1, output_prefix_type=tink_pb2.RAW)])
    aead.register()
    handle = tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
    primitive: aead.Aead = handle.primitive(aead.Aead)
    return primitive


# -- the shard worker ----------------------------------------------------------------------------
@dataclass
class ShardResult:
    polled: int = 0
    skipped: int = 0
    changed: int = 0
    errors: int = 0
    retry: int = 0
    deferred: int = 0  # not read: Gmail's daily limit was reached (no status change)


def poll_shard(services: Services, data: dict[str, Any]) -> ShardResult:
    """Read the responders of one shard; raises :class:`TransientError` (redelivery) if some
    users could not be read, after the others were done."""
    users, tick = _shard_users(data), data.get("tick")
    if users is None or not isinstance(tick, str):
        raise BadRequest("vacation-shards message without users/tick")
    now = services.clock.now()
    deadline = data.get("deadline")
    if deadline and now >= from_rfc3339(deadline):
        _LOGGER.info("stale vacation shard skipped: the next tick covers it",
                     extra=fields(shard=data.get("shard"), users=len(users)))
        return ShardResult(skipped=len(users))
    not_before = data.get("not_before")
    if not_before:
        wait = (from_rfc3339(not_before) - now).total_seconds()
        if wait > 0:
            services.sleep(min(wait, DEFAULT_LIMITS.start_spread_seconds))
    pacer = _Pacer(services, float(data.get("max_rate") or 0))
    result = ShardResult()
    lock = threading.Lock()
    limit_reached = threading.Event()
    if _daily_limit_paused(services):
        # One read probes whether the allowance is back: one quota unit per shard while it
        # is not, and no tick of presence lost once it is.
        probe = _poll_user(services, users[0], pacer, limit_reached) if users else "deferred"
        if probe == "deferred":
            _LOGGER.info("vacation shard deferred: Gmail's daily limit was reached",
                         extra=fields(shard=data.get("shard"), users=len(users)))
            return ShardResult(deferred=len(users))
        services.store.merge(names.RATELIMITS, DAILY_LIMIT_KEY, {"until": None})
        setattr(result, probe, getattr(result, probe) + 1)
        users = users[1:]

    def one(entry: dict[str, Any]) -> None:
        outcome = _poll_user(services, entry, pacer, limit_reached)
        with lock:
            setattr(result, outcome, getattr(result, outcome) + 1)

    list(_pool().map(one, users))
    _LOGGER.info("vacation shard polled", extra=fields(
        shard=data.get("shard"), polled=result.polled, skipped=result.skipped,
        changed=result.changed, errors=result.errors, retry=result.retry,
        deferred=result.deferred))
    if result.retry:
        raise TransientError(f"{result.retry} users of the shard could not be read; redeliver")
    return result


def _shard_users(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The shard's entries; a message from before entries carried the user (``user_ids`` only,
    in flight during a deployment) gives entries without ``mail``, which read the user."""
    users, legacy = data.get("users"), data.get("user_ids")
    if isinstance(users, list) and all(isinstance(u, dict) and isinstance(u.get("id"), str)
                                       for u in users):
        return users
    if users is None and isinstance(legacy, list):
        return [{"id": str(uid)} for uid in legacy]
    return None


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One pool per process, kept warm: its threads keep their store connections and one
    instance runs one shard at a time (infra), so this is the shard's concurrency bound."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=DEFAULT_LIMITS.concurrency,
                                       thread_name_prefix="vacation")
        return _POOL


def _daily_limit_paused(services: Services) -> bool:
    doc = services.store.get(names.RATELIMITS, DAILY_LIMIT_KEY) or {}
    until = doc.get("until")
    return bool(until) and from_rfc3339(str(until)) > services.clock.now()


def _pause_for_daily_limit(services: Services) -> None:
    now = services.clock.now()
    services.store.merge(names.RATELIMITS, DAILY_LIMIT_KEY, {
        "until": to_rfc3339(now + DAILY_LIMIT_PAUSE),
        "expire_at": to_rfc3339(now + timedelta(days=1))})


def _poll_user(services: Services, entry: dict[str, Any], pacer: _Pacer,
               limit_reached: threading.Event | None = None) -> str:
    """One user: returns the ShardResult counter to bump. Never raises."""
    if limit_reached is not None and limit_reached.is_set():
        return "deferred"
    user_id = str(entry["id"])
    try:
        email, last = _carried(services, entry)
        if last.get("publish_pending"):
            # The outbox: a change stored but not published (a crash, Pub/Sub down) goes out
            # now, whether or not this user is read again: a withdrawal's user is in error, and
            # a shard redelivered too late for its tick is skipped, so this may be the last
            # chance before the claim is lost.
            _publish(services, user_id, last)
        if email is None:
            return "skipped"
        pacer.wait()
        body = services.workspace.gmail(email).vacation()
        responder = Responder.from_api(body)
        del body  # subject and message are user text: not kept beyond this line
        changed = _record(services, user_id, last, responder)
        return "changed" if changed else "polled"
    except DailyLimitExceeded as exc:  # before GoogleTransientError: it is one
        if limit_reached is not None:
            limit_reached.set()
        _pause_for_daily_limit(services)
        _LOGGER.warning("Gmail daily limit reached: vacation reads paused", extra=fields(
            user=user_id, status=exc.status, reason=exc.reason,
            pause_seconds=int(DAILY_LIMIT_PAUSE.total_seconds())))
        return "deferred"
    except DelegationRefused as exc:
        _user_error(services, user_id, exc)
        return "errors"
    except GooglePermanentError as exc:  # 403 insufficientPermissions, 404, 400 mail disabled
        _user_error(services, user_id, exc)
        return "errors"
    except GoogleTransientError as exc:
        _LOGGER.warning("vacation read still failing after retries", extra=fields(
            user=user_id, status=exc.status, reason=exc.reason))
        return "retry"
    except Exception as exc:  # a bug or a store failure: keep the other users going
        _LOGGER.exception("vacation poll failed", extra=fields(user=user_id,
                                                               error=type(exc).__name__))
        return "retry"


def _carried(services: Services, entry: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """``(address, last presence)`` from the shard entry; an entry of an older message
    (no ``mail``) reads the user instead. No address: the user is not read (not active, no
    mailbox, or an entry that does not open); a pending change is still published."""
    if "mail" in entry:
        try:
            email = open_address(services, str(entry["id"]), str(entry["mail"]))
        except BadRequest:  # a changed pseudonym key or a forged entry: the next tick re-seals
            _LOGGER.warning("vacation shard entry skipped: its address does not open",
                            extra=fields(user=str(entry["id"])))
            return None, {}
        return email, dict(entry.get(FIELD) or {})
    user = services.store.get(names.USERS, str(entry["id"])) or {}
    last = dict(user.get(FIELD) or {})
    if user.get("status") != "active" or not user.get("email"):
        return None, last
    return str(user["email"]), last


def transition(previous: dict[str, Any] | None, state: Presence, now: datetime,
               ) -> tuple[dict[str, Any], bool]:
    """Next ``{status, since, until}`` from the stored one and a fresh evaluation; pure.

    A change worth publishing is a new status, or a new window while out of office (a
    vacation extended or moved). ``since`` is the window's start when known, else when the
    change was first seen (kept across ticks); while available, only ``until`` (a scheduled
    responder's start) follows Gmail.
    """
    previous = previous or {}
    status_before = previous.get("status", AVAILABLE)
    if state.status == status_before:
        since = previous.get("since")
        if state.status == OUT_OF_OFFICE and state.since is not None:
            since = _text(state.since)
    else:
        since = _text(state.since or now)
    view = {"status": state.status, "since": since, "until": _text(state.until)}
    changed = state.status != status_before or (
        state.status == OUT_OF_OFFICE
        and (view["since"], view["until"]) != (previous.get("since"), previous.get("until")))
    return view, changed


def _same_view(view: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether ``view`` is what ``stored`` says (nothing stored is available since ever)."""
    return (view["status"], view["since"], view["until"]) == (
        stored.get("status", AVAILABLE), stored.get("since"), stored.get("until"))


def _record(services: Services, user_id: str, last: dict[str, Any],
            responder: Responder) -> bool:
    """Compare this read with the carried presence; store and publish only a difference.

    Nothing differs (almost every poll): nothing is read or written. Otherwise a transaction
    on the user document decides against what is stored, which a newer delivery may have
    changed since the tick: the user must still be active (deactivation removed presence), an
    older observation never overwrites a newer one, and a change already stored by a
    duplicate delivery is neither stored again nor published again (unless its publish is
    still pending).
    """
    now = services.clock.now()
    state = evaluate(responder, now)
    view, _ = transition(last, state, now)
    if _same_view(view, last):
        return False

    def apply(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not doc or doc.get("status") != "active":
            return doc, None  # deactivated or in error since the tick: presence stays gone
        stored = dict(doc.get(FIELD) or {})
        seen = stored.get("observed_at")
        if seen and from_rfc3339(str(seen)) > now:
            return doc, None  # a newer read of this user was stored already
        fresh, changed = transition(stored, state, now)
        if _same_view(fresh, stored):
            return doc, (stored if stored.get("publish_pending") else None)
        stored.update(fresh)
        stored["observed_at"] = to_rfc3339(now)
        if changed:
            stored["publish_pending"] = True
            stored["changed_at"] = to_rfc3339(now)
        return {**doc, FIELD: stored}, (stored if changed else None)

    changed_doc = services.store.transact(COLLECTION, user_id, apply)
    if changed_doc is None:
        return False
    _publish(services, user_id, changed_doc)
    return True


def _publish(services: Services, user_id: str, presence: dict[str, Any]) -> None:
    services.bus.publish(Topics.PRESENCE_UPDATED, _view(user_id, presence),
                         ordering_key=user_id)

    def clear(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
        stored = (doc or {}).get(FIELD) or {}
        if doc is None or not stored.get("publish_pending") or \
                stored.get("changed_at") != presence.get("changed_at"):
            return doc, None  # gone, already cleared, or a newer change is pending
        return {**doc, FIELD: {**stored, "publish_pending": False}}, None

    services.store.transact(COLLECTION, user_id, clear)
    _LOGGER.info("presence changed", extra=fields(user=user_id, status=presence.get("status")))


def _user_error(services: Services, user_id: str, exc: Exception) -> None:
    """Provisioning problem (revoked scope, deleted user): the user goes to ``error``.

    Only an active user: the shard was cut at the tick, and a user deactivated (or already
    in error) since is not put (back) in error by it."""
    _LOGGER.warning("vacation read refused: user moved to error", extra=fields(
        user=user_id, error=type(exc).__name__, status=getattr(exc, "status", None),
        reason=getattr(exc, "reason", "") or getattr(exc, "error", "")))
    from shared.google.factory import GMAIL_SETTINGS_SCOPE
    from shared.users.status import mark_error

    user = services.store.get(names.USERS, user_id) or {}
    if user.get("status") == "active":
        mark_error(services, user_id, exc, scope=GMAIL_SETTINGS_SCOPE)
    _forget_presence(services, user_id)


def _forget_presence(services: Services, user_id: str) -> None:
    """A user we can no longer read is not left "out of office" forever: the last claim is
    withdrawn (one ``presence-updated`` back to available) and polling stops with the user.
    A change whose publish is still pending goes out here too: the user leaves the ticks."""
    now = services.clock.now()

    def reset(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        stored = (doc or {}).get(FIELD) or {}
        if not doc or doc.get("status") == "deactivated" or not stored:
            return doc, None
        if stored.get("status") != OUT_OF_OFFICE:
            return doc, (stored if stored.get("publish_pending") else None)
        stored = {**stored, "status": AVAILABLE, "since": to_rfc3339(now), "until": None,
                  "observed_at": to_rfc3339(now), "publish_pending": True,
                  "changed_at": to_rfc3339(now)}
        return {**doc, FIELD: stored}, stored

    changed = services.store.transact(COLLECTION, user_id, reset)
    if changed is not None:
        _publish(services, user_id, changed)


def _text(value: datetime | None) -> str | None:
    return to_rfc3339(value) if value is not None else None


# -- reading presence ----------------------------------------------------------------------------
def get_presence(services: Services, user_id: str) -> dict[str, Any]:
    """``{"user_id", "status", "since", "until"}``; a user never seen out of office is
    available."""
    return presence_of(user_id, services.store.get(COLLECTION, user_id))


def presence_of(user_id: str, user: dict[str, Any] | None) -> dict[str, Any]:
    """:func:`get_presence` from a user document the caller has read already."""
    return _view(user_id, (user or {}).get(FIELD) or {})


def _view(user_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": user_id, "status": doc.get("status", AVAILABLE),
            "since": doc.get("since"), "until": doc.get("until")}


# -- pacing --------------------------------------------------------------------------------------
class _Pacer:
    """Token bucket: at most ``rate`` calls per second after a one-second burst, in clock time
    (so a fake clock paces in simulated time)."""

    def __init__(self, services: Services, rate: float) -> None:
        self._clock, self._sleep, self._rate = services.clock, services.sleep, rate
        self._tokens = max(1.0, rate)
        self._stamp = self._clock.now()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self._rate <= 0:
            return
        with self._lock:
            now = self._clock.now()
            elapsed = (now - self._stamp).total_seconds()
            self._tokens = min(max(1.0, self._rate), self._tokens + elapsed * self._rate)
            self._stamp = now
            self._tokens -= 1
            debt = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if debt > 0:
            self._sleep(debt)
