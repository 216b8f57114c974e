"""A small imitation of ``events.quickAdd`` for common English phrasing.

Understands ``today``/``tomorrow``/weekday names, ``3pm``/``15:00``/``9:15am``, ranges
``3pm-4pm``, ``for N minutes|hours`` and ``at <place>``; keywords such as ``@webex`` stay in the
summary, as Google leaves them. Unparseable text becomes an hour from the next half hour.

Hostile text is answered as Google answers it: something shaped like a time that is no clock
time (``99:99``, ``25pm``) is not a time, so it stays in the title like any other word (Google's
parser never refuses text for its phrasing); a duration that puts the end beyond what Calendar
can store (``for 99999999999 hours``) is refused with Google's generic ``400 badRequest``, the
answer Calendar gives an event it cannot represent.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local.workspace_sim.errors import ApiError

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_TIME = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?"
_RANGE = re.compile(rf"\b{_TIME}\s*-\s*{_TIME}\b", re.I)
_SINGLE = re.compile(r"\b(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b|\b(?:at\s+)?(\d{1,2}):(\d{2})\b", re.I)
_FOR = re.compile(r"\bfor\s+(\d+)\s*(minutes?|mins?|hours?|h)\b", re.I)
_DAY = re.compile(r"\b(?:on\s+)?(today|tomorrow|(?:next\s+)?(?:" + "|".join(_WEEKDAYS) + r"))\b",
                  re.I)
_AT_PLACE = re.compile(r"\s+at\s+(.+)$", re.I)


def _hm(hour: str, minute: str | None, ampm: str | None) -> tuple[int, int]:
    h, m = int(hour), int(minute or 0)
    if ampm:
        h = h % 12 + (12 if ampm.lower() == "pm" else 0)
    return h, m


def _clock(hour: str | None, minute: str | None, ampm: str | None) -> bool:
    """Whether the digits are a time of day at all (``99:99`` and ``13pm`` are not)."""
    if hour is None:
        return False
    limit = 12 if ampm else 23
    return int(hour) <= limit and int(minute or 0) <= 59 and not (ampm and int(hour) == 0)


def _first(pattern: re.Pattern[str], text: str,
           valid: Any) -> re.Match[str] | None:  # Any: a predicate on the match
    return next((m for m in pattern.finditer(text) if valid(m)), None)


def _bad_request() -> ApiError:
    return ApiError(400, "badRequest", "Bad Request")


def parse_quick_add(text: str, now: datetime, tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    rest = text
    duration = timedelta(hours=1)
    start_hm = end_hm = None
    if m := _first(_RANGE, rest, lambda m: (m.group(3) or m.group(6) or m.group(2))
                   and _clock(m.group(1), m.group(2), m.group(3) or m.group(6))
                   and _clock(m.group(4), m.group(5), m.group(6))):
        start_hm = _hm(m.group(1), m.group(2), m.group(3) or m.group(6))
        end_hm = _hm(m.group(4), m.group(5), m.group(6))
        rest = rest[:m.start()] + rest[m.end():]
    elif m := _first(_SINGLE, rest, lambda m: _clock(m.group(1), m.group(2), m.group(3))
                     if m.group(1) else _clock(m.group(4), m.group(5), None)):
        start_hm = _hm(m.group(1), m.group(2), m.group(3)) if m.group(1) else \
            _hm(m.group(4), m.group(5), None)
        rest = rest[:m.start()] + rest[m.end():]
    if m := _FOR.search(rest):
        n = int(m.group(1))
        try:
            duration = timedelta(hours=n) if m.group(2).lower().startswith("h") else \
                timedelta(minutes=n)
        except OverflowError:
            raise _bad_request() from None
        rest = rest[:m.start()] + rest[m.end():]
    day = None
    if m := _DAY.search(rest):
        word = m.group(1).lower().replace("next ", "")
        if word == "today":
            day = local_now.date()
        elif word == "tomorrow":
            day = local_now.date() + timedelta(days=1)
        else:
            ahead = (_WEEKDAYS.index(word) - local_now.weekday()) % 7 or 7
            day = local_now.date() + timedelta(days=ahead)
        rest = rest[:m.start()] + rest[m.end():]
    location = None
    if m := _AT_PLACE.search(rest):
        location = m.group(1).strip()
        rest = rest[:m.start()]
    summary = re.sub(r"\s{2,}", " ", rest).strip() or text
    if start_hm is None and day is None:
        start = (local_now + timedelta(minutes=30)).replace(second=0, microsecond=0)
        start = start.replace(minute=0 if start.minute < 30 else 30)
        body = _timed(summary, start, _end(start, duration), tz)
    elif start_hm is None:
        body = {"summary": summary, "start": {"date": day.isoformat()},
                "end": {"date": (day + timedelta(days=1)).isoformat()}}
    else:
        base = day or local_now.date()
        start = datetime(base.year, base.month, base.day, *start_hm, tzinfo=zone)
        if day is None and start <= local_now:
            start += timedelta(days=1)
        end = start.replace(hour=end_hm[0], minute=end_hm[1]) if end_hm else _end(start, duration)
        if end <= start:
            end += timedelta(days=1)
        body = _timed(summary, start, end, tz)
    if location:
        body["location"] = location
    return body


def _end(start: datetime, duration: timedelta) -> datetime:
    try:
        return start + duration
    except OverflowError:
        raise _bad_request() from None


def _timed(summary: str, start: datetime, end: datetime, tz: str) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": start.isoformat(), "timeZone": tz},
            "end": {"dateTime": end.isoformat(), "timeZone": tz}}
