"""The chaos day on CloudStack: ``local.chaos``'s scripted day while function instances die.

``python -m local.cloudstack.chaos --users 50`` runs the same day as ``make chaos`` (creations,
keyword edits and switches, a daily series, reschedules, cancellations, vacation responders,
every meeting at least 3.5 hours after its last change) on the deployed topology, with the
simulator's faults, while a killer SIGKILLs the instance of a function that is handling a
request at that moment (its whole process group, as an OOM kill or a crashed host would) and
starts a new one, as Cloud Run does. The requests it was serving get Cloud Run's 503 (Pub/Sub
redelivers pushes, the simulator re-sends push notifications); requests arriving meanwhile wait
for the new instance, as Cloud Run holds them while it starts one. Then the checks of
:func:`local.chaos._check` run against what CloudStack stored (Firestore), published (the
publish proxies' ledger, dead letters included) and logged (every instance's log), plus: no IAM
denial.

In-process failpoints (``crash_rate``) do not apply across processes: the kills replace them.
A kill of ``dispatch-joins`` between publishing a notification and recording it may publish it
again (subscribers drop the copy by ``notification_id``), so re-publishes are allowed up to the
number of ``dispatch-joins`` instances killed mid-request.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.chaos import (
    RECONCILE_SECONDS,
    ChaosReport,
    ChaosSettings,
    Check,
    Day,
    _check,
    markers_for,
)


@dataclass(frozen=True)
class KillSettings:
    interval: float = 10.0  # real seconds between kills (only of an instance mid-request)
    restart_after: float = 0.3  # real seconds before Cloud Run's new instance starts


# Google's request faults make the functions back off in real seconds (time.sleep: deployed
# code does not know the harness's clock), which costs minutes of wall time at these rates and
# tests nothing the embedded chaos run does not test in simulated time. Push faults are cheap.
CLOUD_DEFAULTS = ChaosSettings(users=50, crash_rate=0.0, rate_limit=0.0, server_error=0.0,
                               timeout=0.0)


class Killer(threading.Thread):
    """SIGKILLs a busy function instance every ``interval`` seconds and restarts it."""

    def __init__(self, stack: Any, seed: int, settings: KillSettings) -> None:
        super().__init__(name="cloudstack-chaos-killer", daemon=True)
        self.stack, self.settings = stack, settings
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.kills: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop.wait(self.settings.interval):
            busy = sorted(key for key, f in self.stack.functions.items() if f.front.busy)
            if not busy:
                continue
            key = self.random.choice(busy)
            self.stack.kill(key)
            self.kills[key] += 1
            time.sleep(self.settings.restart_after)
            self.stack.restart(key)


class _Published:
    """A published message as ``local.chaos`` reads it from the embedded bus. A dead letter
    forwarded by Pub/Sub's own policy (the backstop when handlers die before counting) carries
    no ``reason`` of the handler's, but its delivery count: that is its reason."""

    def __init__(self, message: Any) -> None:
        self.data = message.json()
        self.attributes = dict(message.attributes)
        count = self.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
        if count and "reason" not in self.attributes:
            self.attributes["reason"] = f"Pub/Sub dead-letter policy ({count} attempts)"


class _Bus:
    def __init__(self, stack: Any) -> None:
        self._stack = stack

    def published(self, topic: str) -> list[_Published]:
        return [_Published(m) for m in self._stack.messages(topic)]

    def topics(self) -> list[str]:
        return sorted({m.topic for m in self._stack.ledger.published})

    def pending(self) -> int:
        return len(self._stack.ledger.open_deliveries())


class _View:
    """CloudStack as ``local.chaos._check`` looks at a LocalStack."""

    def __init__(self, stack: Any, killer: Killer) -> None:
        self._stack = stack
        self.sim, self.webex, self.services = stack.sim, stack.webex, stack.services
        self.bus = _Bus(stack)
        self.crash_injector = _Kills(killer)

    def published(self, topic: str) -> list[dict[str, Any]]:
        return self._stack.published(topic)  # type: ignore[no-any-return]


class _Kills:
    def __init__(self, killer: Killer) -> None:
        self.crashes_in = Counter({("dispatch_join_notifications", "bus.after_publish"):
                                   killer.kills["dispatch-joins"]})


def _haystacks(stack: Any) -> dict[str, bytes]:
    """Everything persisted (Firestore), published and logged, for the marker search."""
    from shared.bus.base import encode
    from shared.store import names

    stored = []
    collections = (*names.PER_USER_BY_KEY, *names.PER_USER_BY_FIELD,
                   *names.PER_USER_HANDLED_APART, *names.NOT_PER_USER)
    for collection in collections:
        for key, doc in stack.store.iter_all(collection):
            stored.append(key.encode() + encode(doc))
    published = [m.data + encode(m.attributes) for m in stack.ledger.published]
    logs = [p.read_bytes() for p in sorted((stack.data_dir / "logs").glob("*.log"))]
    return {"persisted": b"".join(stored), "published": b"".join(published),
            "logged": b"".join(logs)}


def run(settings: ChaosSettings, kills: KillSettings = KillSettings(), *,
        data_dir: Path | None = None, firestore: Any = None, pubsub: Any = None,
        progress: Callable[[str], None] | None = None) -> ChaosReport:
    from local.cloudstack.stack import CloudStack
    from local.leakcheck import leaks

    say = progress or (lambda _text: None)
    began = time.monotonic()
    settings = replace(settings, crash_rate=0.0)  # the kills replace in-process failpoints
    markers = markers_for(settings.seed)
    report = ChaosReport(settings)
    with CloudStack(data_dir=data_dir, firestore=firestore, pubsub=pubsub, variables={
            "reconcile_interval_seconds": RECONCILE_SECONDS, "log_level": "INFO"}) as stack:
        emails = [f"user{i:04d}@example.com" for i in range(settings.users)]
        for email in emails:
            stack.add_user(email)
        answer = stack.activate_all(emails)
        statuses = Counter(stack.user_status(e)["status"] for e in emails)
        say(f"activated {statuses['active']} of {len(emails)} users ({answer.get('queued')} "
            f"queued) in {time.monotonic() - began:.0f} s")
        day = Day(stack, settings, emails, markers)
        stack.faults.set(rate_limit=settings.rate_limit, server_error=settings.server_error,
                         timeout=settings.timeout, duplicate_push=settings.duplicate_push,
                         drop_push=settings.drop_push, seed=settings.seed)
        stack.faults.timeout_seconds = 0.02
        killer = Killer(stack, settings.seed, kills)
        killer.start()
        calls_before = stack.api_calls()
        hour = None
        try:
            for when, _order, action in day.actions:
                if when > stack.now():
                    stack.advance(seconds=(when - stack.now()).total_seconds())
                if when.hour != hour:
                    hour = when.hour
                    say(f"{when:%H:%M} simulated, {sum(killer.kills.values())} kills "
                        f"({time.monotonic() - began:.0f} s)")
                action()
            run_end = day.day0 + timedelta(hours=15, minutes=30)
            while stack.now() < run_end:
                stack.advance(seconds=min(3600.0, (run_end - stack.now()).total_seconds()))
                say(f"{stack.now():%H:%M} simulated, {sum(killer.kills.values())} kills "
                    f"({time.monotonic() - began:.0f} s)")
        finally:
            killer.stop.set()
            killer.join()
        stack.faults.set()
        stack.settle()
        calls = stack.api_calls() - calls_before
        _check(report, _View(stack, killer), day, run_end, statuses)
        found = leaks(_haystacks(stack), markers)
        report.checks.append(Check("plaintext markers found", "0", str(len(found)), not found))
        report.problems += [f"marker {name} found in {where}" for where, name in found]
        denials = stack.iam_denials()
        report.checks.append(Check("IAM denials", "0", str(len(denials)), not denials))
        report.problems += [f"denied: {d}" for d in denials]
        report.injected = Counter(stack.faults.injected)
        report.figures += [
            ("users / scripted actions", f"{len(emails)} / {len(day.actions)}"),
            ("instances killed mid-request (SIGKILL)",
             f"{sum(killer.kills.values())} ("
             + ", ".join(f"{k} {v}" for k, v in sorted(killer.kills.items())) + ")"),
            ("pushes answered 503 by a dead instance / dead-lettered by Pub/Sub",
             f"{sum(d.statuses.count(503) for d in stack.ledger.deliveries.values())} / "
             f"{len(stack.ledger.dead_lettered)}"),
            ("Google calls by the service", str(sum(v for k, v in calls.items()
                                                    if not k.startswith("oauth")))),
            ("faults injected", ", ".join(f"{k} {v}" for k, v in
                                          sorted(report.injected.items()))),
            ("wall time", f"{time.monotonic() - began:.0f} s"),
        ]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=CLOUD_DEFAULTS.users)
    parser.add_argument("--seed", type=int, default=ChaosSettings.seed)
    parser.add_argument("--kill-interval", type=float, default=KillSettings.interval,
                        help="real seconds between kills of a busy instance")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the functions' logs here (default: a temporary directory)")
    for name in ("rate_limit", "server_error", "timeout", "duplicate_push", "drop_push",
                 "vacation_share"):
        parser.add_argument("--" + name.replace("_", "-"), type=float,
                            default=getattr(CLOUD_DEFAULTS, name), help="a share, 0..1")
    args = vars(parser.parse_args(argv))
    kills = KillSettings(interval=args.pop("kill_interval"))
    data_dir = args.pop("data_dir")
    settings = ChaosSettings(**args)
    report = run(settings, kills, data_dir=data_dir, progress=lambda text: print(f"[cloud chaos] {text}",
                                                              file=sys.stderr, flush=True))
    print(f"# CloudStack chaos run: {settings.users} users, seed {settings.seed}, a busy "
          f"instance SIGKILLed every {kills.interval:g} s; faults: {settings.rate_limit:.0%} "
          f"rate limits, {settings.server_error:.0%} server errors, {settings.timeout:.0%} "
          f"timeouts, {settings.duplicate_push:.0%} duplicated and {settings.drop_push:.0%} "
          "dropped pushes\n")
    print(report.table())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
