"""Out-of-office presence from the Gmail vacation responder (issue 9).

Gmail has no push for vacation settings, so every active user's responder is read once per
``vacation_interval_seconds``:

* :func:`on_tick` (``poll-vacations-tick``) pages through active users, cuts them into shards
  (:func:`plan_shards`) and publishes one ``vacation-shards`` message per shard. Shard *i* carries
  ``not_before = tick + i * slot`` so the shards' start times are spread evenly over a window, and
  a ``max_rate`` so that even with every worker instance busy the project stays far inside its
  Gmail quota.
* :func:`poll_shard` (``vacation-shards``) waits for its slot, then reads each user's responder
  with a small thread pool through the Gmail gateway (backoff on 429 / 403 rate limits). Each user
  is done at most once per tick (``polled_tick`` in ``presence/{user}``), so a shard redelivered
  after a transient failure redoes only the users it had not finished.

Out of office = ``enableAutoReply`` and now within ``[startTime, endTime)`` (epoch ms, either may
be absent); ``restrictToContacts`` / ``restrictToDomain`` do not matter. Because every tick
re-reads and re-evaluates the window against the clock, a scheduled responder flips at its start
and back at its end at the first tick after the boundary, with no change in Gmail.

Stored per user: ``presence/{user}`` with ``status``, ``since``, ``until`` and the window as
times (``window_start``/``window_end``: times, not user text). The responder's subject and body
are user text and are dropped as soon as the response is parsed: never stored, published or
logged. Only a change of ``(status, since, until)`` publishes ``presence-updated``; the
``publish_pending`` flag is an outbox so a crash between the write and the publish still sends it.

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

import logging
import math
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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
COLLECTION = names.PRESENCE
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
    user_ids = list(active_user_ids(services))
    plan = plan_shards(len(user_ids), interval)
    tick = to_rfc3339(now)
    deadline = to_rfc3339(now + timedelta(seconds=interval))
    for index in range(plan.shards):
        chunk = user_ids[index * plan.shard_size:(index + 1) * plan.shard_size]
        services.bus.publish(Topics.VACATION_SHARD, {
            "tick": tick,
            "shard": index,
            "shards": plan.shards,
            "user_ids": chunk,
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


def active_user_ids(services: Services) -> Iterator[str]:
    """Active users with a mailbox, in key order, read page by page."""
    last: str | None = None
    while True:
        page = services.store.query(names.USERS, [Filter("status", "==", "active")],
                                    limit=USER_PAGE, start_after=last)
        for key, doc in page:
            if doc.get("kind", "user") == "user":
                yield key
        if len(page) < USER_PAGE:
            return
        last = page[-1][0]


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
    user_ids, tick = data.get("user_ids"), data.get("tick")
    if not isinstance(user_ids, list) or not isinstance(tick, str):
        raise BadRequest("vacation-shards message without user_ids/tick")
    now = services.clock.now()
    deadline = data.get("deadline")
    if deadline and now >= from_rfc3339(deadline):
        _LOGGER.info("stale vacation shard skipped: the next tick covers it",
                     extra=fields(shard=data.get("shard"), users=len(user_ids)))
        return ShardResult(skipped=len(user_ids))
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
        probe = _poll_user(services, str(user_ids[0]), tick, pacer, limit_reached) \
            if user_ids else "deferred"
        if probe == "deferred":
            _LOGGER.info("vacation shard deferred: Gmail's daily limit was reached",
                         extra=fields(shard=data.get("shard"), users=len(user_ids)))
            return ShardResult(deferred=len(user_ids))
        services.store.merge(names.RATELIMITS, DAILY_LIMIT_KEY, {"until": None})
        setattr(result, probe, getattr(result, probe) + 1)
        user_ids = user_ids[1:]

    def one(user_id: str) -> None:
        outcome = _poll_user(services, str(user_id), tick, pacer, limit_reached)
        with lock:
            setattr(result, outcome, getattr(result, outcome) + 1)

    list(_pool().map(one, user_ids))
    _LOGGER.info("vacation shard polled", extra=fields(
        shard=data.get("shard"), polled=result.polled, skipped=result.skipped,
        changed=result.changed, errors=result.errors, retry=result.retry,
        deferred=result.deferred))
    if result.retry:
        raise TransientError(f"{result.retry} users of the shard could not be read; redeliver")
    return result


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


def _poll_user(services: Services, user_id: str, tick: str, pacer: _Pacer,
               limit_reached: threading.Event | None = None) -> str:
    """One user: returns the ShardResult counter to bump. Never raises."""
    if limit_reached is not None and limit_reached.is_set():
        return "deferred"
    try:
        current = services.store.get(COLLECTION, user_id) or {}
        if current.get("publish_pending"):
            # The outbox: a change stored but not published (a crash, Pub/Sub down) goes out
            # now, whether or not this user is read again: a withdrawal's user is in error, and
            # a shard redelivered too late for its tick is skipped, so this may be the last
            # chance before the claim is lost.
            _publish(services, user_id, current)
        if current.get("polled_tick") == tick:
            return "skipped"
        user = services.store.get(names.USERS, user_id)
        if not user or user.get("status") != "active" or not user.get("email"):
            return "skipped"
        pacer.wait()
        body = services.workspace.gmail(user["email"]).vacation()
        responder = Responder.from_api(body)
        del body  # subject and message are user text: not kept beyond this line
        changed = _record(services, user_id, tick, responder)
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


def _record(services: Services, user_id: str, tick: str, responder: Responder) -> bool:
    """Store this tick's evaluation; publish if the presence changed."""
    now = services.clock.now()
    state = evaluate(responder, now)

    def apply(doc: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
        doc = dict(doc or {})
        if doc.get("polled_tick") == tick:
            return doc, None  # a concurrent delivery of this shard got here first
        view, changed = transition(doc, state, now)
        doc.update(view)
        doc.update({
            "user_id": user_id,
            "enabled": responder.enabled,
            "window_start": _text(responder.start),
            "window_end": _text(responder.end),
            "polled_tick": tick,
            "checked_at": to_rfc3339(now),
        })
        if changed:
            doc["publish_pending"] = True
            doc["changed_at"] = to_rfc3339(now)
        return doc, (doc if changed else None)

    changed_doc = services.store.transact(COLLECTION, user_id, apply)
    if changed_doc is None:
        return False
    _publish(services, user_id, changed_doc)
    return True


def _publish(services: Services, user_id: str, doc: dict[str, Any]) -> None:
    services.bus.publish(Topics.PRESENCE_UPDATED, _view(user_id, doc), ordering_key=user_id)

    def clear(current: dict[str, Any] | None) -> tuple[dict[str, Any] | None, None]:
        if current is None:
            return None, None
        if current.get("changed_at") == doc.get("changed_at"):
            current = {**current, "publish_pending": False}
        return current, None

    services.store.transact(COLLECTION, user_id, clear)
    _LOGGER.info("presence changed", extra=fields(user=user_id, status=doc.get("status")))


def _user_error(services: Services, user_id: str, exc: Exception) -> None:
    """Provisioning problem (revoked scope, deleted user): the user goes to ``error``."""
    _LOGGER.warning("vacation read refused: user moved to error", extra=fields(
        user=user_id, error=type(exc).__name__, status=getattr(exc, "status", None),
        reason=getattr(exc, "reason", "") or getattr(exc, "error", "")))
    from shared.google.factory import GMAIL_SETTINGS_SCOPE
    from shared.users.status import mark_error

    mark_error(services, user_id, exc, scope=GMAIL_SETTINGS_SCOPE)
    _forget_presence(services, user_id)


def _forget_presence(services: Services, user_id: str) -> None:
    """A user we can no longer read is not left "out of office" forever: the last claim is
    withdrawn (one ``presence-updated`` back to available) and polling stops with the user."""
    now = services.clock.now()

    def reset(doc: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if not doc or doc.get("status") != OUT_OF_OFFICE:
            return doc, None
        doc = {**doc, "status": AVAILABLE, "since": to_rfc3339(now), "until": None,
               "publish_pending": True, "changed_at": to_rfc3339(now)}
        return doc, doc

    changed = services.store.transact(COLLECTION, user_id, reset)
    if changed is not None:
        _publish(services, user_id, changed)


def _text(value: datetime | None) -> str | None:
    return to_rfc3339(value) if value is not None else None


# -- reading presence ----------------------------------------------------------------------------
def get_presence(services: Services, user_id: str) -> dict[str, Any]:
    """``{"user_id", "status", "since", "until"}``; a user never seen out of office is
    available."""
    return _view(user_id, services.store.get(COLLECTION, user_id) or {})


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
