"""The chaos day's truth, computed without the product (#22).

The chaos day (:mod:`local.chaos`) compares every user's meetings index with what the index
should hold. If that expectation were computed with the product's own code (``shared.meetings.
index.join_details``), a bug there would sit on both sides of the comparison and pass. So this
module imports nothing from ``shared/`` (``tests/chaos/test_chaos_oracle.py`` checks its
imports): it reads the simulator's events and applies its own rules, small enough to read at a
glance because the day's inputs are known (``Day._script_user``):

* the join URL of an event is the first URL after the join-block delimiter in its description
  (the block the keyword service writes: ``@webex`` and ``@meet``), else the Zoom link the
  script put into the description, else none (plain meetings, rooms, removed keywords);
* an occurrence belongs in the comparison when it starts in ``[lo, hi)``; all of the day's
  events are timed (no all-day events are scripted);
* a cancelled event or occurrence must have no record at all, and a record the product marked
  cancelled is compared like any other (it is an error, not something to skip).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The delimiter that opens the join block, as README.md documents it (copied, not imported).
BLOCK_BEGIN = "-::~:~::~:~:~ hybridcal join details ~:~:~::~:~::-"
_URL = re.compile(r"https?://[^\s<>\"']+")
# The only link the script types itself: https://zoom.us/j/<10 digits>?pwd=x in a description.
_ZOOM = re.compile(r"https://zoom\.us/j/\d+(?:\?pwd=[\w.]+)?")


@dataclass(frozen=True)
class Truth:
    """What one user's index must hold: ``records`` maps event id -> (start, join URL), and
    ``absent`` names cancelled events that must have no record."""

    records: dict[str, tuple[str, str | None]]
    absent: frozenset[str]


def utc(text: str) -> str:
    """A dateTime as the index stores it: UTC, seconds, ``Z``."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def join_url(event: Mapping[str, Any]) -> str | None:
    description = event.get("description") or ""
    _, found, after = description.partition(BLOCK_BEGIN)
    if found:
        match = _URL.search(after)
        if match:
            return match.group(0)
    zoom = _ZOOM.search(description)
    return zoom.group(0) if zoom else None


def truth(events: Iterable[Mapping[str, Any]], lo: datetime, hi: datetime) -> Truth:
    """The expected index of one user, from the simulator's single-event listing of their
    calendar (``showDeleted=true``, so cancelled events and occurrences are in it)."""
    records: dict[str, tuple[str, str | None]] = {}
    absent: set[str] = set()
    for event in events:
        if event.get("status") == "cancelled":
            absent.add(event["id"])
            continue
        start = utc(event["start"]["dateTime"])
        if utc(lo.isoformat()) <= start < utc(hi.isoformat()):
            records[event["id"]] = (start, join_url(event))
    return Truth(records, frozenset(absent - set(records)))


def differences(expected: Truth, index: Mapping[str, tuple[str, str | None, str]]
                ) -> list[str]:
    """How the index (event id -> (start, join URL, status)) differs from the truth."""
    problems = []
    for event_id, (start, url) in sorted(expected.records.items()):
        got = index.get(event_id)
        if got is None:
            problems.append(f"{event_id}: missing")
        elif (got[0], got[1]) != (start, url) or got[2] != "confirmed":
            problems.append(f"{event_id}: {got} instead of {(start, url, 'confirmed')}")
    for event_id in sorted(set(index) - set(expected.records)):
        why = "cancelled, still indexed" if event_id in expected.absent else "not on the calendar"
        problems.append(f"{event_id}: {why}")
    return problems
