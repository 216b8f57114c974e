"""Recurring events as Google expands them: RRULE/EXDATE/RDATE evaluated in the event's time
zone (python-dateutil), instance ids ``<id>_<YYYYMMDDTHHMMSSZ>`` (``_<YYYYMMDD>`` all-day)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr


def parse_time(when: dict[str, Any], default_tz: str = "UTC") -> datetime:
    if "dateTime" in when:
        value = datetime.fromisoformat(when["dateTime"].replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(when.get("timeZone") or default_tz))
        return value
    day = date.fromisoformat(when["date"])
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(default_tz))


def bounds(event: dict[str, Any], default_tz: str = "UTC") -> tuple[datetime, datetime]:
    start = parse_time(event["start"], default_tz)
    end = parse_time(event.get("end") or event["start"], default_tz)
    return start, max(end, start)


def instance_id(event_id: str, original: datetime | date) -> str:
    if isinstance(original, datetime):
        return f"{event_id}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{event_id}_{original:%Y%m%d}"


def expand(master: dict[str, Any], time_min: datetime | None, time_max: datetime | None,
           exceptions: dict[str, dict[str, Any]], default_tz: str = "UTC",
           limit: int = 2500) -> list[dict[str, Any]]:
    """Instances overlapping [time_min, time_max), exceptions applied, sorted by start."""
    all_day = "date" in master["start"]
    tz = ZoneInfo(master["start"].get("timeZone") or default_tz)
    start, end = bounds(master, default_tz)
    duration = end - start
    local_start = start.astimezone(tz).replace(tzinfo=None)
    lines = [line for line in master.get("recurrence", []) if line.split(":")[0].split(";")[0]
             in ("RRULE", "EXDATE", "RDATE", "EXRULE")]
    rules = rrulestr("\n".join(lines), dtstart=local_start, forceset=True, ignoretz=True)
    horizon = (time_max or (time_min or start) + timedelta(days=730)).astimezone(tz)
    lower = ((time_min or start) - duration).astimezone(tz).replace(tzinfo=None)
    result = []
    for occurrence in rules.xafter(lower, count=limit, inc=True):
        if occurrence >= horizon.replace(tzinfo=None):
            break
        aware = occurrence.replace(tzinfo=tz)
        original: datetime | date = aware.date() if all_day else aware
        iid = instance_id(master["id"], original)
        if iid in exceptions:
            continue  # replaced by (or cancelled through) its exception
        inst = copy.deepcopy(master)
        inst.pop("recurrence", None)
        inst["id"] = iid
        inst["recurringEventId"] = master["id"]
        if all_day:
            inst["start"] = {"date": aware.date().isoformat()}
            inst["end"] = {"date": (aware + duration).date().isoformat()}
            inst["originalStartTime"] = {"date": aware.date().isoformat()}
        else:
            zone = master["start"].get("timeZone")
            inst["start"] = {"dateTime": aware.isoformat(), **({"timeZone": zone} if zone else {})}
            inst["end"] = {"dateTime": (aware + duration).isoformat(),
                           **({"timeZone": zone} if zone else {})}
            inst["originalStartTime"] = dict(inst["start"])
        result.append(inst)
    for exc in exceptions.values():
        if exc.get("status") != "cancelled":
            result.append(copy.deepcopy(exc))
    return sorted(
        (e for e in result if _overlaps(e, time_min, time_max, default_tz)),
        key=lambda e: bounds(e, default_tz)[0],
    )


def _overlaps(event: dict[str, Any], lo: datetime | None, hi: datetime | None, tz: str) -> bool:
    start, end = bounds(event, tz)
    if end == start:
        end = start + timedelta(seconds=1)
    return (lo is None or end > lo) and (hi is None or start < hi)


def overlaps(event: dict[str, Any], lo: datetime | None, hi: datetime | None, tz: str) -> bool:
    return _overlaps(event, lo, hi, tz)
