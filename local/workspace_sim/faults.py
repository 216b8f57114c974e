"""Quotas and fault injection: Google's over-limit answers and a seeded unreliable network."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

# How long a drawn daily-limit fault keeps its API refusing (see Faults.set).
DAILY_LIMIT_EPISODE = timedelta(minutes=15)


@dataclass
class FaultSettings:
    rate_limit: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    duplicate_push: float = 0.0
    drop_push: float = 0.0
    early_sync: float = 0.0
    daily_limit: float = 0.0
    refused_patch: float = 0.0
    seed: int = 0


class Faults:
    """``set(...)`` replaces the whole setting; kinds left out are off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._random = random.Random(0)
        self.timeout_seconds = 0.2
        self.injected: Counter = Counter()
        self._scripted: dict[str, list[int]] = {}
        self._exhausted: dict[str, datetime] = {}
        self._omit_sync_tokens = 0

    def fail_next(self, operation: str, *, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``operation`` (e.g. ``calendar.events.watch``)
        with ``status`` (429, 500, 503 or 403 for a rateLimitExceeded), whatever ``set`` says."""
        with self._lock:
            self._scripted.setdefault(operation, []).extend([status] * times)

    def draw_scripted(self, operation: str) -> int | None:
        with self._lock:
            queue = self._scripted.get(operation)
            if not queue:
                return None
            self.injected[f"scripted_{queue[0]}"] += 1
            return queue.pop(0)

    def set(self, *, rate_limit: float = 0.0, server_error: float = 0.0, timeout: float = 0.0,
            duplicate_push: float = 0.0, drop_push: float = 0.0, early_sync: float = 0.0,
            daily_limit: float = 0.0, refused_patch: float = 0.0, seed: int = 0) -> None:
        """``early_sync``: share of ``events.watch`` calls whose ``sync`` message reaches the
        address *before* the watch call answers, which Google does not rule out.

        ``daily_limit``: share of calls that use up the project's daily allowance of their API:
        that call and every later one of the API answer 403 ``dailyLimitExceeded`` (Gmail) or
        ``quotaExceeded`` (Calendar "usage limits exceeded") for :data:`DAILY_LIMIT_EPISODE`
        of simulated time, as an exhausted allowance does until it resets (hours, at Google;
        shortened so that a chaos day sees it come and go); see also
        :meth:`exhaust_daily_limit`. A daily limit is never a one-off answer.

        ``refused_patch``: share of events whose first content patch Google refuses for good
        (the event is locked from then on, like an event created from Gmail: see
        ``WorkspaceSimulator.add_gmail_event``)."""
        with self._lock:
            self.settings = FaultSettings(rate_limit, server_error, timeout, duplicate_push,
                                          drop_push, early_sync, daily_limit, refused_patch,
                                          seed)
            self._random = random.Random(seed)

    def exhaust_daily_limit(self, api: str, until: datetime) -> None:
        """Every ``api`` (``"gmail"`` / ``"calendar"``) call answers the daily-limit 403 until
        ``until`` (clock time), as a used-up daily allowance does until it resets."""
        with self._lock:
            self._exhausted[api] = until

    def daily_limit_reached(self, api: str, now: datetime) -> bool:
        with self._lock:
            until = self._exhausted.get(api)
            if until is not None and now < until:
                self.injected["daily_limit"] += 1
                return True
            if self.settings.daily_limit and self._random.random() < self.settings.daily_limit:
                self._exhausted[api] = now + DAILY_LIMIT_EPISODE
                self.injected["daily_limit"] += 1
                self.injected["daily_limit_episodes"] += 1
                return True
            return False

    def omit_next_sync_token(self, times: int = 1) -> None:
        """The next ``times`` last pages of ``events.list`` carry no ``nextSyncToken``, as
        Google has been seen to answer (googleapis/google-api-php-client#2637)."""
        with self._lock:
            self._omit_sync_tokens += times

    def draw_omit_sync_token(self) -> bool:
        with self._lock:
            if self._omit_sync_tokens:
                self._omit_sync_tokens -= 1
                self.injected["omit_sync_token"] += 1
                return True
            return False

    def draw_refused_patch(self) -> bool:
        with self._lock:
            if self.settings.refused_patch and \
                    self._random.random() < self.settings.refused_patch:
                self.injected["refused_patch"] += 1
                return True
            return False

    def draw_request(self) -> str | None:
        """``"rate_limit" | "rate_limit_429" | "server_error" | "timeout" | "timeout_applied" |
        None``. Half the timeouts happen after Google applied the request (only the answer is
        lost, as when a connection drops on the way back), so a retried write meets its own
        effect: a changed etag, an existing channel."""
        with self._lock:
            s, r = self.settings, self._random.random()
            if r < s.rate_limit:
                kind = "rate_limit" if self._random.random() < 0.5 else "rate_limit_429"
            elif r < s.rate_limit + s.server_error:
                kind = "server_error"
            elif r < s.rate_limit + s.server_error + s.timeout:
                kind = "timeout_applied" if self._random.random() < 0.5 else "timeout"
            else:
                return None
            self.injected[kind] += 1
            return kind

    def draw_early_sync(self) -> bool:
        with self._lock:
            if self.settings.early_sync and self._random.random() < self.settings.early_sync:
                self.injected["early_sync"] += 1
                return True
            return False

    def draw_push(self) -> str | None:
        with self._lock:
            s, r = self.settings, self._random.random()
            if r < s.drop_push:
                self.injected["drop_push"] += 1
                return "drop"
            if r < s.drop_push + s.duplicate_push:
                self.injected["duplicate_push"] += 1
                return "duplicate"
            return None


class Quotas:
    """Per-user and per-project requests per clock minute."""

    def __init__(self, project_per_minute: int, user_per_minute: int) -> None:
        self.project_per_minute = project_per_minute
        self.user_per_minute = user_per_minute
        self._counts: Counter = Counter()
        self._lock = threading.Lock()

    def set(self, *, project_per_minute: int | None = None,
            user_per_minute: int | None = None) -> None:
        if project_per_minute is not None:
            self.project_per_minute = project_per_minute
        if user_per_minute is not None:
            self.user_per_minute = user_per_minute

    def charge(self, user: str, minute: int) -> str | None:
        """Count one request; ``"user"`` / ``"project"`` when that limit is exceeded."""
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = Counter({k: v for k, v in self._counts.items() if k[1] >= minute})
            self._counts[("", minute)] += 1
            self._counts[(user, minute)] += 1
            if self._counts[("", minute)] > self.project_per_minute:
                return "project"
            if self._counts[(user, minute)] > self.user_per_minute:
                return "user"
            return None
