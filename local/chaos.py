"""The chaos run: a scripted day for many users while Google, the network and the runner fail.

``python -m local.chaos --users 1000`` (``make chaos``); CI runs 200 users with a fixed seed
(``tests/chaos``). The embedded stack runs every entry point; the Workspace simulator injects
rate limits (403 and 429), server errors, timeouts (half of them after the write was applied),
duplicated and dropped pushes; the runner kills a share of message-handler invocations at a
random point (:mod:`shared.failpoints`: before side effects, after a Google call, a store write
or a publish, before the ack) and the bus redelivers them as Pub/Sub would.

The day, per user (each user's choices drawn from the seed):

* 08:05-10:00 creations: a plain meeting with a colleague and an external guest, a meeting
  with ``@webex`` in Location, one with a Zoom link in its description, and for half the users
  a daily series (three occurrences) with ``@meet`` or a room;
* 10:10-12:00 edits: a title change, a reschedule, a keyword typed into an existing meeting,
  a keyword switch (``@webex`` → ``@meet``) or removal (the join URL replaced by a room), an
  attendee added, a cancellation;
* vacation responders switched on and, 40-100 minutes later, off again (30 % of users);
* every meeting starts at 15:30 or later, at least 3.5 hours after its last change, so that
  a change whose pushes were all dropped is still healed in time by reconciliation (every
  2 hours here, ``HYBRIDCAL_RECONCILE_INTERVAL_SECONDS``), as the design promises.

Checked afterwards (each a row of the printed table, each a failure if violated): every event
that ends with a keyword carries exactly one join block whose URL is in Location and is the
right one for the keyword, and events without one carry none; every user's meetings index
equals the simulator's truth; every occurrence with a join link that started during the day
was notified exactly once; every presence change was published; no message is left
unprocessed except on a dead-letter topic, each with a reason; and no marker planted in a
title, description, location, attendee address or responder appears in anything persisted,
published or logged.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.clock import to_rfc3339

RECONCILE_SECONDS = 7200
UNCHANGED = "unchanged"  # an edit that leaves the event's keyword as it was
WEBEX_SITE = "example"


@dataclass(frozen=True)
class ChaosSettings:
    users: int = 1000
    seed: int = 20261125
    crash_rate: float = 0.01
    rate_limit: float = 0.10
    server_error: float = 0.05
    timeout: float = 0.02
    duplicate_push: float = 0.05
    drop_push: float = 0.02
    # Google behaviours of #19: a used-up daily allowance (Gmail dailyLimitExceeded, Calendar
    # quotaExceeded), a watch's sync message before its answer, events Google locks for patches
    early_sync: float = 0.05
    # per call, the chance that the API's allowance runs out for 15 simulated minutes (a few
    # times a day for 1,000 users; a share of calls refused one by one is not how it happens)
    daily_limit: float = 0.00003
    refused_patch: float = 0.01
    vacation_share: float = 0.30


@dataclass
class Tracked:
    """One scripted event and what its organizer's last edit asked for."""

    owner: str
    event_id: str
    keyword: str | None = None
    cancelled: bool = False


@dataclass
class Check:
    name: str
    expected: str
    observed: str
    ok: bool


@dataclass
class ChaosReport:
    settings: ChaosSettings
    checks: list[Check] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # first examples of each failure
    injected: Counter = field(default_factory=Counter)  # simulator faults by kind
    crashes: Counter = field(default_factory=Counter)  # handler crashes by failpoint

    @property
    def failures(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def table(self) -> str:
        width = max(len(c.name) for c in self.checks) + 2
        lines = [f"{'check':<{width}}{'expected':>22}{'observed':>22}  result"]
        for c in self.checks:
            lines.append(f"{c.name:<{width}}{c.expected:>22}{c.observed:>22}  "
                         f"{'ok' if c.ok else 'FAILED'}")
        lines.append("")
        fwidth = max(len(name) for name, _ in self.figures) + 2
        lines += [f"{name:<{fwidth}}{value}" for name, value in self.figures]
        if self.problems:
            lines += ["", "first problems:"] + [f"  {p}" for p in self.problems[:20]]
        return "\n".join(lines)


def markers_for(seed: int) -> dict[str, str]:
    tag = f"{random.Random(seed).getrandbits(40):010x}"
    return {name: f"{name}marker{tag}" for name in
            ("title", "description", "location", "attendee", "vacationsubject", "vacationbody")}


class Day:
    """The script: ``(when, order, action)`` triples, run in time order."""

    def __init__(self, stack: Any, settings: ChaosSettings, emails: list[str],
                 markers: dict[str, str]) -> None:
        self.stack, self.settings, self.emails, self.m = stack, settings, emails, markers
        self.day0 = stack.now()
        self.actions: list[tuple[datetime, int, Callable[[], None]]] = []
        self.tracked: list[Tracked] = []
        self.vacations: dict[str, list[str]] = {}  # email -> statuses it should go through
        for index, email in enumerate(emails):
            self._script_user(index, email, random.Random(f"{settings.seed}:{index}"))
        self.actions.sort(key=lambda a: (a[0], a[1]))

    # -- acting as the user's own calendar client --------------------------------------------------
    def call(self, email: str, operation: str, body: dict | None = None,
             event_id: str | None = None) -> Any:
        """``operation`` on ``email``'s primary calendar, as their own calendar client."""
        params = {"cal": "primary"} | ({"eid": event_id} if event_id else {})
        return self.stack.sim.user_call(email, operation, params, body)

    def _at(self, minute: int, action: Callable[[], None]) -> None:
        self.actions.append((self.day0 + timedelta(minutes=minute), len(self.actions), action))

    def _body(self, summary: str, start_minute: int, **extra: Any) -> dict[str, Any]:
        start = self.day0 + timedelta(minutes=start_minute)
        return {"summary": f"{summary} {self.m['title']}",
                "description": f"Agenda {self.m['description']}",
                "start": {"dateTime": to_rfc3339(start)},
                "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}, **extra}

    def _insert(self, minute: int, email: str, tracked: Tracked, body: dict[str, Any]) -> None:
        def action() -> None:
            tracked.event_id = self.call(email, "calendar.events.insert", body)["id"]
        self._at(minute, action)

    def _patch(self, minute: int, email: str, tracked: Tracked, body: dict[str, Any],
               keyword: str | None = UNCHANGED) -> None:
        def action() -> None:
            self.call(email, "calendar.events.patch", body, tracked.event_id)
        self._at(minute, action)
        if keyword != UNCHANGED:
            tracked.keyword = keyword  # what the organizer's edit leaves in Location

    def _script_user(self, index: int, email: str, rng: random.Random) -> None:
        colleague = self.emails[(index + 1) % len(self.emails)]
        guest = f"{self.m['attendee']}{index}@external.example"
        starts = iter(rng.sample(range(450, 841, 15), 8))  # 15:30-22:00, distinct

        plain = Tracked(email, "")
        self._insert(rng.randint(5, 60), email, plain, self._body(
            "Plain", next(starts), location=f"Room 12 {self.m['location']}",
            attendees=[{"email": colleague}, {"email": guest}]))
        keyword = Tracked(email, "", keyword="@webex")
        location = "@webex" if rng.random() < 0.7 else f"Room 4 {self.m['location']} @webex"
        self._insert(rng.randint(5, 120), email, keyword, self._body(
            "Keyword", next(starts), location=location, attendees=[{"email": colleague}]))
        link = Tracked(email, "")
        body = self._body("Zoom", next(starts))
        body["description"] += f"\nhttps://zoom.us/j/{rng.randrange(10**9, 10**10)}?pwd=x"
        self._insert(rng.randint(5, 120), email, link, body)
        self.tracked += [plain, keyword, link]
        if rng.random() < 0.5:
            series = Tracked(email, "", keyword="@meet" if rng.random() < 0.5 else None)
            self._insert(rng.randint(5, 120), email, series, self._body(
                "Series", next(starts), location=series.keyword or "Room 3",
                recurrence=["RRULE:FREQ=DAILY;COUNT=3"]))
            self.tracked.append(series)

        # edits, 10:10-12:00, each after every creation
        self._patch(rng.randint(130, 150), email, keyword,
                    {"summary": f"Renamed {self.m['title']}"})
        moved = rng.choice([plain, link])
        new_start = self.day0 + timedelta(minutes=next(starts))
        self._patch(rng.randint(151, 170), email, moved, {
            "start": {"dateTime": to_rfc3339(new_start)},
            "end": {"dateTime": to_rfc3339(new_start + timedelta(minutes=45))}})
        fate = rng.random()
        if fate < 1 / 3:
            self._patch(rng.randint(171, 190), email, keyword, {"location": "@meet"}, "@meet")
        elif fate < 2 / 3:
            self._patch(rng.randint(171, 190), email, keyword, {"location": "Room 7"}, None)
        if rng.random() < 0.2:
            self._patch(rng.randint(171, 190), email, plain, {"location": "Room 12 @webex"},
                        "@webex")
        if rng.random() < 0.1:
            self._patch(rng.randint(191, 200), email, link, {"attendees": [
                {"email": colleague}, {"email": self.emails[(index + 2) % len(self.emails)]}]})
        if rng.random() < 0.3:
            plain_cancel = plain

            def cancel() -> None:
                self.call(email, "calendar.events.delete",
                           event_id=plain_cancel.event_id)
                plain_cancel.cancelled = True
            self._at(rng.randint(201, 240), cancel)

        if rng.random() < self.settings.vacation_share:
            on = rng.randint(20, 150)
            off = on + rng.randint(40, 100)
            self._at(on, lambda: self._vacation(email, True))
            self._at(off, lambda: self._vacation(email, False))
            self.vacations[email] = ["out_of_office", "available"]

    def _vacation(self, email: str, enabled: bool) -> None:
        self.stack.sim.user_call(email, "gmail.users.settings.updateVacation", {"uid": "me"}, {
            "enableAutoReply": enabled, "responseSubject": self.m["vacationsubject"],
            "responseBodyPlainText": self.m["vacationbody"]})


def run(settings: ChaosSettings, *, progress: Callable[[str], None] | None = None) -> ChaosReport:
    """Run the day on a fresh embedded stack and return the checked report.

    The run's logs go to a scanner for the plaintext check; the caller's log handlers and
    level are put back afterwards (tests share one process).
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        return _run(settings, progress)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _run(settings: ChaosSettings, progress: Callable[[str], None] | None) -> ChaosReport:
    from local import LocalStack
    from local.leakcheck import MarkerScanningStream, all_leaks
    from shared import logs

    say = progress or (lambda _text: None)
    began = time.monotonic()
    markers = markers_for(settings.seed)
    log_scan = MarkerScanningStream(markers)
    logs.configure("INFO", log_scan)
    env = {"HYBRIDCAL_RECONCILE_INTERVAL_SECONDS": str(RECONCILE_SECONDS),
           "HYBRIDCAL_WEBEX_SITE": WEBEX_SITE}
    report = ChaosReport(settings)
    with LocalStack(env=env) as stack:
        emails = [f"user{i:04d}@example.com" for i in range(settings.users)]
        for email in emails:
            stack.add_user(email)
        # Activation opens every channel: that is where a sync may overtake the watch answer.
        stack.faults.set(early_sync=settings.early_sync, seed=settings.seed)
        statuses = Counter(stack.activate(email) for email in emails)
        say(f"activated {statuses['active']} of {len(emails)} users "
            f"({time.monotonic() - began:.0f} s)")
        day = Day(stack, settings, emails, markers)
        stack.faults.set(rate_limit=settings.rate_limit, server_error=settings.server_error,
                         timeout=settings.timeout, duplicate_push=settings.duplicate_push,
                         drop_push=settings.drop_push, early_sync=settings.early_sync,
                         daily_limit=settings.daily_limit,
                         refused_patch=settings.refused_patch, seed=settings.seed)
        stack.faults.timeout_seconds = 0.02
        injector = stack.crash_handlers(settings.crash_rate, seed=settings.seed)
        calls_before = stack.api_calls()
        hour = None
        for when, _order, action in day.actions:
            if when > stack.now():
                stack.advance(seconds=(when - stack.now()).total_seconds())
            if when.hour != hour:
                hour = when.hour
                say(f"{when:%H:%M} simulated ({time.monotonic() - began:.0f} s)")
            action()
        run_end = day.day0 + timedelta(hours=15, minutes=30)  # 23:30, after the last start
        while stack.now() < run_end:
            stack.advance(seconds=min(3600.0, (run_end - stack.now()).total_seconds()))
            say(f"{stack.now():%H:%M} simulated ({time.monotonic() - began:.0f} s)")
        stack.settle()
        calls = stack.api_calls() - calls_before
        _check(report, stack, day, run_end, statuses)
        leaks = all_leaks(stack, markers, logs=log_scan)
        report.checks.append(Check("plaintext markers found", "0", str(len(leaks)), not leaks))
        report.problems += [f"marker {name} found in {where}" for where, name in leaks]
        injected = report.injected = Counter(stack.faults.injected)
        report.crashes = Counter(injector.crashes)
        report.figures += [
            ("users / scripted actions", f"{len(emails)} / {len(day.actions)}"),
            ("handler invocations / crashed",
             f"{injector.invocations} / {sum(injector.crashes.values())} "
             f"({', '.join(f'{k} {v}' for k, v in sorted(injector.crashes.items()))})"),
            ("Google calls by the service", str(sum(v for k, v in calls.items()
                                                    if not k.startswith("oauth")))),
            ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))),
            ("log lines scanned", str(log_scan.lines)),
            ("wall time", f"{time.monotonic() - began:.0f} s"),
        ]
    return report


def _check(report: ChaosReport, stack: Any, day: Day, run_end: datetime,
           statuses: Counter) -> None:
    from local import chaos_oracle
    from shared.keyword import joinblock
    from shared.keyword.event_patch import KEY_HASH, KEY_KEYWORD, markers
    from shared.meetings import index as meetings_index
    from shared.store.base import Filter

    services = stack.services
    add, problems = report.checks.append, report.problems
    add(Check("users active after activation", str(len(day.emails)),
              str(statuses["active"]), statuses["active"] == len(day.emails)))

    # 1. join blocks on the organizers' events
    wrong = wrong_keyword = 0
    keyword_events = 0
    webex_links = {m["webLink"] for m in stack.webex.meetings.values()} if stack.webex else set()
    refused = stack.sim.refused_patches()  # Google refused their patches: skipped by design
    report.figures.append(("events whose patches Google refused (skipped)", str(len(refused))))
    for tracked in day.tracked:
        if tracked.cancelled or (tracked.owner, tracked.event_id) in refused:
            continue
        event = day.call(tracked.owner, "calendar.events.get", event_id=tracked.event_id)
        description, location = event.get("description") or "", event.get("location") or ""
        blocks = description.count(joinblock.BEGIN)
        problem = None
        if tracked.keyword:
            keyword_events += 1
            url = joinblock.url_in(joinblock.find(description))
            name = tracked.owner.split("@", 1)[0]
            right = (url == f"https://{WEBEX_SITE}.webex.com/meet/{name}"
                     if tracked.keyword == "@webex" else url in webex_links)
            if blocks != 1:
                problem = f"{blocks} join blocks"
            elif not right or url not in location:
                problem = "wrong join URL"
            elif "@webex" in location or "@meet" in location:
                problem = "keyword left in Location"
            elif markers(event).get(KEY_KEYWORD) != tracked.keyword:
                problem = "markers name another keyword"
        elif blocks or markers(event).get(KEY_HASH):
            problem = "join details on an event without a keyword"
        if problem:
            wrong += 1
            wrong_keyword += bool(tracked.keyword)
            problems.append(f"event of {services.pseudonym(tracked.owner)}: {problem} "
                            f"(keyword {tracked.keyword})")
    add(Check("keyword events with one right join block", str(keyword_events),
              str(keyword_events - wrong_keyword), wrong_keyword == 0))
    add(Check("other events with join details", "0", str(wrong - wrong_keyword),
              wrong == wrong_keyword))

    # 2. meetings index against the simulator's truth; 3. notifications against that truth.
    # The truth comes from local.chaos_oracle, which shares no code with shared/ (a bug in the
    # product's join-link rules must not be on both sides), and cancelled events count too.
    lo, hi = day.day0, day.day0 + timedelta(days=4)
    index_wrong = 0
    expected_notifications: set[tuple[str, str, str]] = set()
    indexed = cancelled = 0
    for email in day.emails:
        user_id = services.pseudonym(email)
        listing = stack.sim.user_call(email, "calendar.events.list", {"cal": "primary"}, query={
            "singleEvents": "true", "timeMin": to_rfc3339(lo), "timeMax": to_rfc3339(hi),
            "maxResults": "2500", "showDeleted": "true"})
        truth = chaos_oracle.truth(listing.get("items") or [], lo, hi)
        cancelled += len(truth.absent)
        for event_id, (start, url) in truth.records.items():
            if url and lo <= datetime.fromisoformat(start.replace("Z", "+00:00")) <= run_end:
                expected_notifications.add((user_id, event_id, start))
        index: dict[str, tuple[str, str | None, str]] = {}
        for key, doc in services.store.query(meetings_index.COLLECTION,
                                             [Filter("user_id", "==", user_id)]):
            if not to_rfc3339(lo) <= doc["start"] < to_rfc3339(hi):
                continue
            record = services.sealer.open(user_id, f"{meetings_index.COLLECTION}|{key}",
                                          doc["blob"])
            index[doc["event_id"]] = (doc["start"], record.get("join_url"), doc["status"])
        indexed += len(index)
        differences = chaos_oracle.differences(truth, index)
        if differences:
            index_wrong += 1
            problems.append(f"index of {user_id}: {len(differences)} wrong, e.g. "
                            f"{differences[0]}")
    add(Check("users whose index equals the truth", str(len(day.emails)),
              str(len(day.emails) - index_wrong), index_wrong == 0))

    messages = stack.bus.published("join-notifications")
    sent = Counter((m.data["user_id"], m.data["event_id"], m.data["start"]) for m in messages)
    republished = sum(n - 1 for n in sent.values() if n > 1)
    ids: dict[tuple[str, str, str], set[str | None]] = {}
    for m in messages:
        ids.setdefault((m.data["user_id"], m.data["event_id"], m.data["start"]),
                       set()).add(m.attributes.get("notification_id"))
    # What users see: the subscriber shows one message per notification_id, so an occurrence
    # is shown twice when its copies carry different ids (or none).
    duplicates = sum(len(found) - 1 + (None in found) for found in ids.values())
    missing = expected_notifications - set(sent)
    unexpected = set(sent) - expected_notifications
    add(Check("join notifications", str(len(expected_notifications)),
              str(len(set(sent) & expected_notifications)), not missing))
    add(Check("duplicate join notifications", "0", str(duplicates), duplicates == 0))
    # A publish can only be repeated when the notifier died between publishing and recording
    # it (the subscriber then drops the copy by notification_id); never for any other reason.
    window = stack.crash_injector.crashes_in[("dispatch_join_notifications",
                                              "bus.after_publish")]
    add(Check("re-publishes beyond crashes after publish", "0",
              str(max(0, republished - window)), republished <= window))
    report.figures.append(("notifier crashes after publish / re-publishes",
                           f"{window} / {republished}"))
    add(Check("notifications for no meeting", "0", str(len(unexpected)), not unexpected))
    problems += [f"notification missing: {k}" for k in sorted(missing)[:5]]
    problems += [f"notification unexpected: {k}" for k in sorted(unexpected)[:5]]

    # 4. presence changes
    seen: dict[str, list[str]] = {}
    for message in stack.published("presence-updated"):
        statuses_seen = seen.setdefault(message["user_id"], [])
        if not statuses_seen or statuses_seen[-1] != message["status"]:
            statuses_seen.append(message["status"])
    expected_changes = sum(len(v) for v in day.vacations.values())
    observed = mismatched = 0
    for email in day.emails:
        got = seen.get(services.pseudonym(email), [])
        while got and got[0] == "available":
            got = got[1:]  # a first "available" is not a change of presence
        want = day.vacations.get(email, [])
        if got == want:
            observed += len(want)
        else:
            mismatched += 1
            problems.append(f"presence of {services.pseudonym(email)}: {got} not {want}")
    add(Check("presence changes published", str(expected_changes), str(observed),
              observed == expected_changes and not mismatched))

    # 5. nothing left behind but dead letters with a reason
    pending = stack.bus.pending() + stack.sim.pending_pushes()
    add(Check("messages left unprocessed", "0", str(pending), pending == 0))
    dead = [(topic, m) for topic in stack.bus.topics() if topic.endswith("-dead-letter")
            for m in stack.bus.published(topic)]
    reasonless = [m for _t, m in dead if not m.attributes.get("reason")]
    add(Check("dead letters without a reason", "0", str(len(reasonless)), not reasonless))
    reasons = Counter(f"{t.removesuffix('-dead-letter')}: {m.attributes.get('reason')}"
                      for t, m in dead)
    report.figures.append(("dead letters", ", ".join(f"{k} x{v}" for k, v in
                                                     sorted(reasons.items())) or "none"))
    report.figures.append(("index records compared / cancelled events checked absent",
                           f"{indexed} / {cancelled}"))
    meet_events = sum(1 for t in day.tracked if t.keyword == "@meet" and not t.cancelled)
    report.figures.append(("Webex meetings created for @meet",
                           f"{len(webex_links)} for {meet_events} events ending with @meet"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=ChaosSettings.users)
    parser.add_argument("--seed", type=int, default=ChaosSettings.seed)
    for name in ("crash_rate", "rate_limit", "server_error", "timeout", "duplicate_push",
                 "drop_push", "early_sync", "daily_limit", "refused_patch", "vacation_share"):
        parser.add_argument("--" + name.replace("_", "-"), type=float,
                            default=getattr(ChaosSettings, name), help="a share, 0..1")
    args = parser.parse_args(argv)
    settings = ChaosSettings(**vars(args))
    report = run(settings, progress=lambda text: print(f"[chaos] {text}", file=sys.stderr,
                                                       flush=True))
    print(f"# chaos run: {settings.users} users, seed {settings.seed}, faults: "
          f"{settings.rate_limit:.0%} rate limits, {settings.server_error:.0%} server errors, "
          f"{settings.timeout:.0%} timeouts, {settings.duplicate_push:.0%} duplicated and "
          f"{settings.drop_push:.0%} dropped pushes, {settings.early_sync:.0%} early syncs, "
          f"{settings.daily_limit:.3%} daily-limit episodes, {settings.refused_patch:.0%} refused "
          f"patches, {settings.crash_rate:.0%} handler crashes\n")
    print(report.table())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
