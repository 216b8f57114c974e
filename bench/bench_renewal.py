"""Watch renewal fan-out: what one renewal wave costs for N users, extrapolated to 100,000.

``python -m bench.bench_renewal [--users 10000]``

N users are put in the simulated domain as active users with a real watch channel each
(``events.watch`` through googleapiclient; full validation is benchmarked elsewhere). The
clock then moves to the point where every channel is inside the renewal horizon, as it is a
week after a bulk activation, and one ``renew_watches`` tick runs for real:

* the tick (indexed queries, one ``watch-renewals`` message per user), timed per 500-user page;
* the workers (make-before-break: ``events.watch`` then ``channels.stop``), timed per message.

Calendar calls are read from the simulator's counters; the quota is Calendar's documented
default of 10,000 requests per minute per project (the simulator enforces the same).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta

from bench.summary import record
from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.users import renewal
from shared.users.watch import start_channel

CALENDAR_QUOTA_PER_MINUTE = 10_000
FUNCTION_TIMEOUT_SECONDS = 540  # the tick's function timeout (infra/functions.tf)
TARGET = 100_000


def _seed(stack: object, users: int) -> float:
    services = stack.services  # type: ignore[attr-defined]
    far = to_rfc3339(stack.now() + timedelta(days=365))  # type: ignore[attr-defined]
    started = time.perf_counter()
    for n in range(users):
        if n and n % 4000 == 0:
            stack.clock.advance(60)  # a bulk activation stays under the per-minute quota
        email = f"user{n:06d}@example.com"
        stack.sim.add_user(email)  # type: ignore[attr-defined]
        user_id = services.pseudonym(email)
        services.store.put("users", user_id, {
            "email": email, "user_id": user_id, "status": "active", "kind": "user",
            "next_reconcile_at": far})
        start_channel(services, user_id, email)
    return time.perf_counter() - started


def _live(stack: object) -> int:
    return sum(1 for c in stack.sim.channels() if not c["stopped"])  # type: ignore[attr-defined]


def run(users: int) -> list[tuple[str, str, str, str]]:
    from local import LocalStack

    with tempfile.TemporaryDirectory() as data, LocalStack(data_dir=data,
                                                           scheduler=False) as stack:
        seed_seconds = _seed(stack, users)
        config = stack.services.config
        stack.clock.advance(config.watch_ttl_seconds - config.renewal_horizon_seconds + 3600)
        stack.sim.reset_counters()

        started = time.perf_counter()
        fanned = renewal.on_tick(stack.services)
        tick_seconds = time.perf_counter() - started
        messages = len(stack.published(Topics.RENEW_USER))

        started = time.perf_counter()
        stack.settle(max_wait=timedelta(hours=2))
        worker_seconds = time.perf_counter() - started
        dead = len(stack.bus.published(Topics.dead_letter(Topics.RENEW_USER)))
        # Renewals that met the quota more often than Pub/Sub retries are dead-lettered; their
        # channel is still inside the horizon, so the next hourly tick fans them out again.
        extra_ticks = 0
        while _live(stack) < users and extra_ticks < 3:
            extra_ticks += 1
            stack.clock.advance(3600)
            stack.tick(Topics.RENEW_TICK)
        calls = stack.api_calls()
        attempted = calls["calendar.events.watch"] + calls["calendar.channels.stop"]
        channels = stack.sim.channels()
        created = len(channels) - users
        stopped = sum(1 for c in channels if c["stopped"])
        live = _live(stack)

    assert fanned.renewals == users == messages, (fanned, messages)
    assert live == users and created == users and stopped == users, (live, created, stopped)
    watches, stops = created, stopped
    refused = attempted - created - stopped  # answered 403/429 by the quota, then retried

    pages = -(-users // renewal.PAGE)
    per_page = tick_seconds / pages
    per_message = worker_seconds / messages
    calls_per_user = (watches + stops) / users
    target_pages = -(-TARGET // renewal.PAGE)
    target_tick = per_page * target_pages
    # Everyone expires within the same day after a bulk activation: the workers must finish
    # inside the renewal horizon, at no more than the per-minute project quota.
    target_calls = TARGET * calls_per_user
    minutes_at_quota = target_calls / CALENDAR_QUOTA_PER_MINUTE
    horizon_minutes = config.renewal_horizon_seconds / 60
    record(f"renewal: Calendar calls per user ({users:,} users)", f"{calls_per_user:.2f}",
           "2 (minimum: watch + stop)", calls_per_user / 2)
    record(f"renewal: project quota for {TARGET:,} users (extrapolated)",
           f"{minutes_at_quota:.1f} quota-minutes",
           f"{horizon_minutes:.0f} min renewal horizon", minutes_at_quota / horizon_minutes)
    record(f"renewal: tick time for {TARGET:,} users (extrapolated)", f"{target_tick:.1f} s",
           f"{FUNCTION_TIMEOUT_SECONDS} s function timeout",
           target_tick / FUNCTION_TIMEOUT_SECONDS)
    return [
        ("users", f"{users:,}", f"{TARGET:,}", ""),
        ("seeding (events.watch, s)", f"{seed_seconds:.1f}", "", "one-off"),
        ("tick pages (500 users)", f"{pages}", f"{target_pages}", ""),
        ("tick time per page (ms)", f"{per_page * 1000:.1f}", "", ""),
        ("tick time (s)", f"{tick_seconds:.2f}", f"{target_tick:.1f}",
         f"{target_tick / FUNCTION_TIMEOUT_SECONDS:.3f} of the {FUNCTION_TIMEOUT_SECONDS} s "
         "timeout"),
        ("messages fanned out", f"{messages:,}", f"{TARGET:,}", "one per user"),
        ("worker time per message (ms)", f"{per_message * 1000:.1f}", "", "simulator, 1 process"),
        ("Calendar calls per user", f"{calls_per_user:.2f}", f"{calls_per_user:.2f}",
         "minimum 2 (watch + stop)"),
        ("calls per renewal wave", f"{watches + stops:,}", f"{target_calls:,.0f}", ""),
        ("calls refused by the quota, retried", f"{refused:,}", "",
         f"{refused / max(attempted, 1):.1%} of attempts (the whole wave in one fake minute)"),
        ("dead-lettered, renewed by a later tick", f"{dead:,}", "",
         f"{extra_ticks} extra tick(s); none left to expire"),
        ("minutes of project quota needed", f"{(watches + stops) / CALENDAR_QUOTA_PER_MINUTE:.1f}",
         f"{minutes_at_quota:.1f}",
         f"{minutes_at_quota / horizon_minutes:.3f} of the {horizon_minutes:.0f}-minute horizon"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    rows = run(args.users)
    print("| figure | measured | extrapolated | ratio / note |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
