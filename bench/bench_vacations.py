"""Vacation polling at scale: Gmail calls per minute against the quota, shards, time per shard.

``python -m bench.bench_vacations [--users 10000]``

One scheduler tick polls the simulated population through the embedded stack: the tick's
CloudEvent reaches ``poll_vacations``, which publishes one ``vacation-shards`` message per shard;
each shard message is delivered as a CloudEvent and reads every user's responder with the real
googleapiclient against the Workspace simulator (token exchange, HTTP, quota accounting).

The users are created directly as *active* (a ``users`` document in the store plus a simulator
account; one in ten with the responder on, set in the simulator's state): activating 10,000
users through full validation would take minutes and is not what is measured here.

Calls are counted by the simulator itself: the total from its API counters, the per-minute
figure by the simulator clock's minute at which each ``getVacation`` arrived (a fake clock: the
shards' ``not_before`` waits and the pacing pass simulated time, the work does not). Wall time per
shard is this machine's: one process hosts the worker's threads *and* the simulator on 2 cores,
so it is CPU-bound where a deployment is network-bound (the plan assumes 0.5 s per call).

The extrapolation column sizes 100,000 users every 10 minutes with the product's own
:func:`shared.presence.vacation.plan_shards`, once with the plan's assumed Gmail latency and once with the
per-call time measured here; quota figures are the constants of :class:`shared.presence.vacation.Limits`
(Gmail's documented quotas) and, for the measured run, the simulator's own per-minute quotas.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

from bench.summary import record
from shared.bus.base import Topics
from shared.presence import vacation as presence

LIMITS = presence.DEFAULT_LIMITS
GET_VACATION = "gmail.users.settings.getVacation"
TARGET_USERS, TARGET_INTERVAL = 100_000, 600
RESPONDER_EVERY = 10  # one user in ten is out of office
WORKER_TIMEOUT_SECONDS = 540  # infra: the vacation worker's timeout (see Limits)


def _populate(stack: Any, users: int) -> tuple[list[str], int]:
    """Active users straight into the store and the simulator; returns (emails, responders)."""
    services, sim = stack.services, stack.sim
    emails = [f"v{i:06d}@{sim.domain}" for i in range(users)]
    for index, email in enumerate(emails):
        sim.add_user(email)
        uid = services.pseudonym(email)
        services.store.put("users", uid, {"email": email, "user_id": uid, "status": "active",
                                          "kind": "user"})
        if index % RESPONDER_EVERY == 0:
            with sim.lock:  # as updateVacation stores it (the API path is covered by tests)
                sim.users[email]["vacation"] = {
                    "enableAutoReply": True, "responseSubject": "Away",
                    "responseBodyPlainText": "Back next week",
                    "restrictToDomain": index % (2 * RESPONDER_EVERY) == 0}
    return emails, len(range(0, users, RESPONDER_EVERY))


class _Recorder:
    """Simulator-side: when (simulator clock) each getVacation arrived. Main-side: per shard,
    wall time and the slice of those arrivals it made (shards are delivered one at a time)."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.arrivals: list[datetime] = []
        self.shards: list[dict[str, Any]] = []
        self.tick_seconds = 0.0
        self._lock = threading.Lock()
        counted = stack.sim.count

        def count(key: str) -> None:
            counted(key)
            if key == GET_VACATION:
                with self._lock:
                    self.arrivals.append(stack.sim.clock.now())

        stack.sim.count = count  # instance attribute: the simulator's server calls self.count

    def wrap_tick(self, original: Any) -> Any:
        def on_tick(services: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(services)
            finally:
                self.tick_seconds = time.perf_counter() - started
        return on_tick

    def wrap_shard(self, original: Any) -> Any:
        def poll_shard(services: Any, data: dict[str, Any]) -> Any:
            first, started = len(self.arrivals), time.perf_counter()
            try:
                return original(services, data)
            finally:
                wall = time.perf_counter() - started
                with self._lock:
                    mine = self.arrivals[first:]
                self.shards.append({"users": len(data["user_ids"]), "wall": wall,
                                    "calls": len(mine), "first": min(mine, default=None),
                                    "last": max(mine, default=None)})
        return poll_shard


def measure(users: int) -> dict[str, Any]:
    from local import LocalStack

    with LocalStack(scheduler=False, webex_fake=False) as stack:
        started = time.perf_counter()
        emails, responders = _populate(stack, users)
        populate_seconds = time.perf_counter() - started
        recorder = _Recorder(stack)
        before = stack.api_calls()[GET_VACATION]
        originals = presence.on_tick, presence.poll_shard
        presence.on_tick = recorder.wrap_tick(originals[0])  # type: ignore[assignment]
        presence.poll_shard = recorder.wrap_shard(originals[1])  # type: ignore[assignment]
        tick_at = stack.now()
        try:
            started = time.perf_counter()
            stack.tick(Topics.VACATION_TICK)
            total_wall = time.perf_counter() - started
        finally:
            presence.on_tick, presence.poll_shard = originals  # type: ignore[assignment]
        calls = stack.api_calls()[GET_VACATION] - before
        updates = stack.published(Topics.PRESENCE_UPDATED)
        out = {m["user_id"] for m in updates if m["status"] == presence.OUT_OF_OFFICE}
        errors = sum(1 for email in emails[:: max(1, users // 100)]
                     if stack.user_status(email)["status"] != "active")
        dead = stack.bus.published(Topics.dead_letter(Topics.VACATION_SHARD))
        interval = stack.config.vacation_interval_seconds
        sim_quota = (stack.sim.quotas.project_per_minute, stack.sim.quotas.user_per_minute)

    per_minute = Counter(int((at - tick_at).total_seconds() // 60) for at in recorder.arrivals)
    shards = recorder.shards
    assert calls == len(recorder.arrivals) and shards and not dead and not errors, (
        calls, len(recorder.arrivals), len(shards), len(dead), errors)
    return {
        "users": users, "responders": responders, "interval": interval,
        "populate_seconds": populate_seconds, "total_wall": total_wall,
        "tick_seconds": recorder.tick_seconds, "calls": calls, "updates": len(updates),
        "out_of_office": len(out), "shards": shards,
        "peak_minute": max(per_minute.values()),
        "busy_minutes": len(per_minute),
        "starts": [(s["first"] - tick_at).total_seconds() for s in shards if s["first"]],
        "sim_quota": sim_quota,
    }


def _finish_seconds(plan: presence.ShardPlan, interval: float, limits: presence.Limits) -> float:
    """When the last shard of a tick is done (as ``plan_shards`` decides ``fits_interval``)."""
    if not plan.shards:
        return 0.0
    spread = min(float(interval), limits.start_spread_seconds)
    waves = math.ceil(plan.shards / limits.parallel_shards)
    return max(spread, (waves - 1) * plan.shard_seconds) + plan.shard_seconds


def _pct(part: float, whole: float) -> str:
    if not whole:
        return "-"
    share = part / whole * 100
    return f"{share:.2f}%" if share >= 0.1 else f"{share:.2g}%"


def report(m: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    users, interval, shards = m["users"], m["interval"], m["shards"]
    walls = [s["wall"] for s in shards]
    per_call_wall = sum(walls) / m["calls"]  # one process, LIMITS.concurrency threads
    measured_latency = per_call_wall * LIMITS.concurrency  # what each thread waited per call
    here = presence.plan_shards(users, interval)
    fast = dataclasses.replace(LIMITS, call_seconds=measured_latency)
    target = presence.plan_shards(TARGET_USERS, TARGET_INTERVAL)
    target_here = presence.plan_shards(TARGET_USERS, TARGET_INTERVAL, fast)
    finish = _finish_seconds(target, TARGET_INTERVAL, LIMITS)
    finish_here = _finish_seconds(target_here, TARGET_INTERVAL, fast)
    sizes = Counter(s["users"] for s in shards)
    sim_durations = [(s["last"] - s["first"]).total_seconds() for s in shards if s["first"]]
    project_q, user_q = LIMITS.project_units_per_minute, LIMITS.user_units_per_minute
    sim_project_q, sim_user_q = m["sim_quota"]
    wall_rate = m["calls"] / m["total_wall"] * 60
    tick_scaled = m["tick_seconds"] * TARGET_USERS / users

    def yes(flag: bool) -> str:
        return "yes" if flag else "NO"

    record(f"vacation poll: Gmail calls per user per tick ({users:,} users)",
           f"{m['calls'] / users:.2f}", "1 (minimum)", m["calls"] / users)
    record(f"vacation poll: peak calls/min for {TARGET_USERS:,} users (extrapolated)",
           f"{target.calls_per_minute_peak:,.0f}", f"{project_q:,} (Gmail project quota)",
           target.calls_per_minute_peak / project_q)
    record(f"vacation poll: {TARGET_USERS:,} users done after (extrapolated)", f"{finish:.0f} s",
           f"{TARGET_INTERVAL} s interval", finish / TARGET_INTERVAL)

    return [
        ("users polled", f"{users:,} ({m['responders']:,} out of office)",
         f"{TARGET_USERS:,} every {TARGET_INTERVAL // 60} min",
         f"{TARGET_USERS:,} every {TARGET_INTERVAL // 60} min",
         f"measured run: interval {interval} s"),
        ("shards x size", " + ".join(f"{n} x {size:,}" for size, n in sorted(sizes.items())),
         f"{target.shards} x {target.shard_size:,}",
         f"{target_here.shards} x {target_here.shard_size:,}",
         f"plan for {users:,}: {here.shards} x {here.shard_size:,}; "
         f"cap {LIMITS.max_shard_users:,} users per shard"),
        ("shard start slot (s)", f"{here.slot_seconds:.1f}", f"{target.slot_seconds:.1f}",
         f"{target_here.slot_seconds:.1f}",
         f"starts spread over {LIMITS.start_spread_seconds:.0f} s"),
        ("last shard started after (sim s)", f"{max(m['starts']):.0f}",
         f"{(target.shards - 1) * target.slot_seconds:.0f}",
         f"{(target_here.shards - 1) * target_here.slot_seconds:.0f}",
         f"measured on the simulator clock (plan: {(here.shards - 1) * here.slot_seconds:.0f})"),
        ("getVacation calls per tick", f"{m['calls']:,}", f"{TARGET_USERS:,}", f"{TARGET_USERS:,}",
         f"{m['calls'] / users:.2f} per user (> 1 would be retries)"),
        ("presence-updated published", f"{m['updates']:,}", "-", "-",
         f"{m['out_of_office']:,} users out of office, {m['responders']:,} responders on"),
        ("calls/min, peak simulated minute", f"{m['peak_minute']:,}",
         f"{target.calls_per_minute_peak:,.0f}", f"{target_here.calls_per_minute_peak:,.0f}",
         f"{_pct(m['peak_minute'], project_q)} / {_pct(target.calls_per_minute_peak, project_q)}"
         f" / {_pct(target_here.calls_per_minute_peak, project_q)} of {project_q:,} units/min "
         f"(Gmail, project); measured = {_pct(m['peak_minute'], sim_project_q)} of the "
         f"simulator's {sim_project_q:,}"),
        ("calls/min, average over the interval", f"{users * 60 / interval:,.0f}",
         f"{target.calls_per_minute_avg:,.0f}", f"{target_here.calls_per_minute_avg:,.0f}",
         f"{_pct(users * 60 / interval, project_q)} / "
         f"{_pct(target.calls_per_minute_avg, project_q)} of {project_q:,} units/min"),
        ("calls/min, this process (wall clock)", f"{wall_rate:,.0f}", "-", "-",
         f"{_pct(wall_rate, project_q)} of {project_q:,} units/min; one process, 2 cores"),
        ("calls per user per minute", f"{60 / interval:.2f}", f"{60 / TARGET_INTERVAL:.2f}",
         f"{60 / TARGET_INTERVAL:.2f}",
         f"{_pct(60 / TARGET_INTERVAL, user_q)} of {user_q:,} units/min (Gmail, user); "
         f"simulator {sim_user_q:,}"),
        ("time per call in a shard (s)", f"{per_call_wall:.4f} wall, {measured_latency:.3f} "
         f"per thread", f"{LIMITS.call_seconds:.3f} assumed", f"{measured_latency:.3f}",
         f"{LIMITS.concurrency} calls in flight per shard"),
        ("time per shard (s)",
         f"{statistics.mean(walls):.1f} mean, {max(walls):.1f} max (wall)",
         f"{target.shard_seconds:.0f}", f"{target_here.shard_seconds:.0f}",
         f"{_pct(target.shard_seconds, LIMITS.shard_budget_seconds)} of the "
         f"{LIMITS.shard_budget_seconds:.0f} s shard budget (worker timeout "
         f"{WORKER_TIMEOUT_SECONDS} s); measured max = "
         f"{_pct(max(walls), LIMITS.shard_budget_seconds)}"),
        ("shard duration on the simulator clock (s)", f"{max(sim_durations):.1f} max", "-", "-",
         f"paced at <= {here.max_rate:.0f} calls/s per shard"),
        ("tick: page users + publish shards (s)", f"{m['tick_seconds']:.3f}",
         f"{tick_scaled:.1f} (linear)", f"{tick_scaled:.1f} (linear)",
         f"{_pct(tick_scaled, WORKER_TIMEOUT_SECONDS)} of the {WORKER_TIMEOUT_SECONDS} s timeout"),
        ("all shards done after (s)", f"{m['total_wall']:.0f} wall (1 worker, waits on the fake clock)",
         f"{finish:.0f} ({LIMITS.parallel_shards} workers)",
         f"{finish_here:.0f} ({LIMITS.parallel_shards} workers)",
         f"{_pct(finish, TARGET_INTERVAL)} of the {TARGET_INTERVAL} s interval"),
        ("fits the interval and the quota", "yes" if m["total_wall"] <= interval else "NO",
         yes(target.fits_interval and target.calls_per_minute_peak <= project_q),
         yes(target_here.fits_interval and target_here.calls_per_minute_peak <= project_q),
         "plan_shards.fits_interval and peak <= project quota"),
        ("Gmail units per day", f"{m['calls'] * 86_400 // interval:,}",
         f"{target.daily_units:,}", f"{target_here.daily_units:,}",
         f"{_pct(target.daily_units, LIMITS.daily_units_threshold)} of "
         f"{LIMITS.daily_units_threshold:,} (daily threshold)"),
    ]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    users = parser.parse_args(argv).users
    m = measure(users)
    _table(("figure", f"measured, {users:,} users", "100,000 / 10 min, plan latency",
            "100,000 / 10 min, measured latency", "against"), report(m))
    print(f"\n{users:,} users created directly as active (users documents in the store + "
          f"simulator accounts, responders set in the simulator's state) in "
          f"{m['populate_seconds']:.1f} s, not through activation; then one vacation tick "
          f"through the embedded stack (CloudEvents, real googleapiclient, simulator) in "
          f"{m['total_wall']:.1f} s wall. Every figure is measured or comes from "
          "shared.presence.vacation.plan_shards; quotas are shared.presence.vacation.Limits (Gmail) and the "
          "simulator's.")


if __name__ == "__main__":
    main()
