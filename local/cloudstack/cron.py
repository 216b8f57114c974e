"""Cloud Scheduler's unix-cron schedules (``minute hour day-of-month month day-of-week``), in
UTC (``infra/`` sets ``time_zone = "Etc/UTC"``): when a job fires next."""

from __future__ import annotations

from datetime import datetime, timedelta

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = int(first), int(last)
        else:
            start = int(spec)
            end = high if step_text else start
        if not low <= start <= end <= high + (1 if high == 6 else 0):
            raise ValueError(f"cron field {text!r} outside {low}-{high}")
        values.update(v % 7 if high == 6 else v for v in range(start, end + 1, step))
    return frozenset(values)


def parse(schedule: str) -> tuple[frozenset[int], ...]:
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron schedule: {schedule!r}")
    return tuple(_field(text, low, high) for text, (low, high) in zip(fields, _RANGES,
                                                                       strict=True))


def next_fire(schedule: str, after: datetime) -> datetime:
    """The first minute strictly after ``after`` that ``schedule`` selects."""
    minutes, hours, days, months, weekdays = parse(schedule)
    day_any = schedule.split()[2] == "*"
    weekday_any = schedule.split()[4] == "*"
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        weekday = (moment.weekday() + 1) % 7  # cron: Sunday = 0
        if day_any or weekday_any:
            day_ok = moment.day in days and weekday in weekdays
        else:  # both restricted: either matches (cron's rule)
            day_ok = moment.day in days or weekday in weekdays
        if moment.month not in months or not day_ok:
            moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            continue
        if moment.hour not in hours:
            moment = moment.replace(minute=0) + timedelta(hours=1)
            continue
        if moment.minute in minutes:
            return moment
        moment += timedelta(minutes=1)
    raise ValueError(f"cron schedule {schedule!r} never fires")
