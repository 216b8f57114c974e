"""Time as a dependency.

Every feature that reasons about time (leases, watch expiry, vacation windows, notification lead
times) asks a :class:`Clock` instead of calling ``datetime.now`` so that the embedded stack and the
tests can drive a whole simulated week deterministically with :class:`FakeClock`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (always timezone-aware UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, used when deployed."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """The simulated time a local harness shares with the function processes it starts.

    ``local.CloudStack`` runs each function in its own process and moves one fake clock for
    all of them: it writes an RFC 3339 timestamp to a file (atomically: write, then rename)
    and passes the file as ``HYBRIDCAL_CLOCK_FILE``. Deployed, that setting is never set and
    :class:`SystemClock` is used; nothing here runs. Each ``now()`` reads the file (some
    microseconds), so every process sees a move at once.
    """

    def __init__(self, path: str) -> None:
        self._path = path

    def now(self) -> datetime:
        with open(self._path, encoding="ascii") as source:
            return from_rfc3339(source.read().strip())


class FakeClock:
    """A clock that only moves when told to; thread-safe because the simulator reads it from
    its server threads while the test thread advances it."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        """Move forward (never backwards: leases and tokens assume monotonic time)."""
        delta = timedelta(seconds=seconds, **kwargs)
        if delta < timedelta(0):
            raise ValueError("a clock never goes back")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("a clock never goes back")
            self._now = when.astimezone(UTC)


def to_rfc3339(value: datetime, timespec: str = "seconds") -> str:
    """RFC 3339 with an explicit offset, the format Google and our APIs exchange; whole
    seconds unless ``timespec`` ("milliseconds") asks for finer (stamps compared across
    instances within a second, such as a push's receipt and a listing's start)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; attach a timezone")
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def from_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or offset) into an aware datetime."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return parsed
