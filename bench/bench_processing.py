"""Calendar API calls per change: hybridcal's processing vs the minimum and a naive processor.

``python -m bench.bench_processing``

Scenarios run on the embedded stack (Workspace simulator, real googleapiclient):

* burst: 50 events created at once (5 with a keyword), 50 pushes;
* mixed day: 60 spaced edits of one organizer's calendar (creations with and without keywords,
  a recurring series, title/time/attendee edits, keyword switches, link removals, deletions).

Both users are activated and every event invites the guest, so each change also changes the
guest's copy (Google pushes for both calendars, and for both again after our patch). The
minimum is one ``events.list`` per calendar per sync that is needed (one per burst, one per
spaced edit, one more after our patch since its push could hide a concurrent user edit) plus
the patches the changes need. The naive processor lists the whole calendar on every push, for
both calendars (its own patches cause pushes too) and patches with the same rules. Each
Pub/Sub delivery takes :data:`DELIVERY_SECONDS` of simulated time (the embedded stack's clock
otherwise stands still, which would put a whole burst and every sync of it at one instant).
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.summary import record
from shared.bus.base import Topics
from shared.clock import to_rfc3339

ORGANIZER = "olga@example.com"
GUEST = "gus@example.com"
CALENDARS = 2  # the organizer's and the activated guest's: both change on every edit
# Simulated time a Pub/Sub delivery takes (Google's latency, modelled): a sync covers the pushes
# received before its listing began, which only means something when time passes between them.
DELIVERY_SECONDS = 0.25


def _syncs(patches: int) -> int:
    """Lists a perfect processor needs for one change: each calendar once, and once more
    after our patch (whose push it cannot tell from a user's edit without listing)."""
    return CALENDARS * (1 + (patches > 0))


@dataclass
class Step:
    action: Callable[[Any], None]  # the user's change(s), through the Calendar API
    pushes: int  # notifications Google sends for it
    syncs_needed: int  # lists a perfect processor needs
    patches_needed: int


def _body(stack: Any, summary: str, location: str, hours: float, **extra: Any) -> dict:
    start = stack.now() + timedelta(hours=hours)
    return {"summary": summary, "location": location, "attendees": [{"email": GUEST}],
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=45))}, **extra}


def _insert(stack: Any, body: dict) -> str:
    return stack.calendar(ORGANIZER).events().insert(calendarId="primary", body=body).execute()["id"]


def _patch(stack: Any, event_id: str, body: dict) -> None:
    stack.calendar(ORGANIZER).events().patch(calendarId="primary", eventId=event_id,
                                             body=body).execute()


def burst() -> list[Step]:
    def action(stack: Any) -> None:
        for i in range(50):
            _insert(stack, _body(stack, f"Burst {i}", "@webex" if i % 10 == 0 else "Room 1",
                                 2 + i))

    return [Step(action, pushes=50, syncs_needed=_syncs(5), patches_needed=5)]


def mixed_day() -> list[Step]:
    steps: list[Step] = []
    ids: list[str] = []

    def create(location: str, patches: int, **extra: Any) -> None:
        def action(stack: Any) -> None:
            ids.append(_insert(stack, _body(stack, f"Meeting {len(ids)}", location,
                                            3 + len(ids), **extra)))
        steps.append(Step(action, 1, _syncs(patches), patches))

    def change(index: int, body: Callable[[Any], dict], patches: int) -> None:
        steps.append(Step(lambda stack: _patch(stack, ids[index], body(stack)), 1,
                          _syncs(patches), patches))

    def delete(index: int) -> None:
        def action(stack: Any) -> None:
            stack.calendar(ORGANIZER).events().delete(calendarId="primary",
                                                      eventId=ids[index]).execute()
        steps.append(Step(action, 1, _syncs(0), 0))

    for i in range(20):
        create("@webex" if i % 4 == 0 else ("Room 2" if i % 3 else "@meet"),
               1 if i % 4 == 0 or i % 3 == 0 else 0)
    create("@webex", 1, recurrence=["RRULE:FREQ=DAILY;COUNT=10"])
    for i in range(20):
        change(i, lambda stack, i=i: {"summary": f"Renamed {i}"}, 0)
    for i in range(1, 11):
        change(i, lambda stack: {"attendees": [{"email": GUEST}, {"email": "x@example.com"}]}, 0)
    for i in (0, 4, 8):
        change(i, lambda stack: {"location": "@webex:space"}, 1)
    for i in (12, 16):
        change(i, lambda stack: {"location": "Room 9"}, 1)
    for i in (2, 5, 7, 11):
        delete(i)
    return steps


def _activate(stack: Any, email: str) -> None:
    from shared.users import provisioning

    if hasattr(provisioning, "activate_now"):
        stack.activate(email)
        return
    services = stack.services
    user_id = services.pseudonym(email)
    services.store.put("users", user_id, {"email": email, "user_id": user_id,
                                          "status": "active", "locale": "en",
                                          "timezone": "UTC"})
    services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id, "reason": "initial"},
                         ordering_key=user_id)
    stack.settle()


def _synthetic_pushes(stack: Any, email: str, count: int) -> None:
    from shared.store.base import Filter

    user_id = stack.services.pseudonym(email)
    live = stack.services.store.query("channels", [Filter("user_id", "==", user_id),
                                                   Filter("state", "==", "active")])
    if live:
        return  # the simulator pushes for real
    for number in range(count):
        stack.services.bus.publish(Topics.CALENDAR_CHANGES, {
            "user_id": user_id, "channel_id": "bench", "message_number": number + 2},
            ordering_key=user_id)


def run_hybridcal(steps: list[Step], stack: Any) -> Counter:
    _activate(stack, ORGANIZER)
    _activate(stack, GUEST)
    total: Counter = Counter()
    for step in steps:
        step.action(stack)
        before = stack.api_calls()
        _synthetic_pushes(stack, ORGANIZER, step.pushes)
        stack.settle()
        total += stack.api_calls() - before
        stack.advance(seconds=300)
    return total


def run_naive(steps: list[Step], stack: Any) -> Counter:
    """Full list on every push of either calendar, patches by the same rules; its patches
    cause pushes on both calendars."""
    from shared.keyword.event_patch import apply_keyword, is_organizer_copy
    from shared.keyword.providers import keyword_map

    services = stack.services
    gateways = {email: services.workspace.calendar(email) for email in (ORGANIZER, GUEST)}
    user = {"email": ORGANIZER, "locale": "en", "timezone": "UTC"}
    keywords = keyword_map(services, user)
    total: Counter = Counter()
    for step in steps:
        step.action(stack)
        before = stack.api_calls()
        pushes = Counter({ORGANIZER: step.pushes, GUEST: step.pushes})
        while +pushes:
            email = next(iter(+pushes))
            pushes[email] -= 1
            page_token = None
            while True:
                page = gateways[email].list_page(sync_token=None, page_token=page_token)
                for event in page.get("items") or []:
                    if (email == ORGANIZER and event.get("status") != "cancelled"
                            and is_organizer_copy(event, ORGANIZER)):
                        _, sent = apply_keyword(services, gateways[email], "naive", user, event,
                                                keywords)
                        pushes[ORGANIZER] += sent
                        pushes[GUEST] += sent
                page_token = page.get("nextPageToken")
                if not page_token:
                    break
        total += stack.api_calls() - before
        stack.advance(seconds=300)
    return total


def _calendar_calls(counter: Counter) -> int:
    return sum(v for k, v in counter.items() if k.startswith("calendar."))


def main(argv: list[str] | None = None) -> None:
    from local import LocalStack

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rows = []
    for name, factory in (("50-push burst", burst), ("mixed day (60 edits)", mixed_day)):
        results = {}
        for label, runner in (("hybridcal", run_hybridcal), ("naive", run_naive)):
            steps = factory()
            with LocalStack(scheduler=False, delivery_seconds=DELIVERY_SECONDS) as stack:
                stack.add_user(ORGANIZER)
                stack.add_user(GUEST)
                results[label] = runner(steps, stack)
        steps = factory()
        changes = sum(s.pushes for s in steps)
        minimum = sum(s.syncs_needed + s.patches_needed for s in steps)
        rows.append((name, changes, minimum, _calendar_calls(results["hybridcal"]),
                     _calendar_calls(results["naive"]), results["hybridcal"]))
    print(f"{'scenario':<22}{'changes':>8}{'minimum':>9}{'hybridcal':>10}{'naive':>8}"
          f"{'calls/change':>13}{'hc/min':>8}{'naive/min':>10}{'naive/hc':>9}")
    for name, changes, minimum, ours, naive, _detail in rows:
        print(f"{name:<22}{changes:>8}{minimum:>9}{ours:>10}{naive:>8}{ours / changes:>13.2f}"
              f"{ours / minimum:>8.2f}{naive / minimum:>10.2f}{naive / ours:>9.2f}")
    for name, changes, minimum, ours, naive, _detail in rows:
        record(f"Calendar calls per change, {name}", f"{ours / changes:.2f}",
               f"{minimum / changes:.2f} (minimum: syncs + needed patches)", ours / minimum)
        record(f"Calendar calls per change, {name}, vs naive", f"{ours / changes:.2f}",
               f"{naive / changes:.2f} (full list per push)", ours / naive)
    for name, *_rest, detail in rows:
        print(f"  {name}: " + ", ".join(f"{k.removeprefix('calendar.')}={v}"
                                        for k, v in sorted(detail.items())))


if __name__ == "__main__":
    main()
