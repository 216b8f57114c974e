"""Throughput of ``process_changes``: changes per CPU-second, and the instances a Monday-morning
burst needs at the concurrency ``infra/`` sets.

``python -m bench.bench_throughput [--users 5] [--changes 8]``

Every user of a LocalStack makes ``--changes`` calendar changes one after the other (one in
ten with a keyword, the rest ordinary), each settling before the next, and ``stack.billing()``
gives process_changes' invocations, the CPU seconds of the threads that ran them
(``time.thread_time``: the Workspace simulator, which stands for Google, runs in other
threads) and their wall time. The burst: 100,000 users making five changes each within ten
minutes. Cloud Run gives each process-changes instance 1 vCPU (``available_cpu``) and
``concurrency`` requests at once (``infra/functions.tf``): an instance is CPU-bound at 1 CPU
second per second, or concurrency-bound when its requests wait on Google. The wall time per
request here is the embedded stack's (the simulator answers in-process within milliseconds,
Google in tens to hundreds), so the concurrency-bound figure is a lower bound.
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import timedelta
from pathlib import Path

from bench import bench_billing
from bench.summary import record

ROOT = Path(__file__).resolve().parent.parent
BURST_USERS, BURST_CHANGES, BURST_SECONDS = 100_000, 5, 600


def infra_sizing(function: str = "process-changes") -> tuple[int, int]:
    """(concurrency, max instances) of a function in infra/functions.tf."""
    text = (ROOT / "infra" / "functions.tf").read_text()
    block = text.split(f"    {function} = {{", 1)[1].split("\n    }", 1)[0]
    concurrency = int(re.search(r"\bconcurrency\s*=\s*(\d+)", block).group(1))  # type: ignore[union-attr]
    maximum = int(re.search(r"\bmax\s*=\s*(\d+)", block).group(1))  # type: ignore[union-attr]
    return concurrency, maximum


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--changes", type=int, default=8)
    args = parser.parse_args(argv)
    stack, emails = bench_billing.start_stack(args.users)
    try:
        def work() -> None:
            for n in range(args.changes):
                for email in emails:
                    keyword = "@webex" if n % 10 == 9 else ""
                    bench_billing._event(stack, email, f"change {n}", keyword,
                                         start_in=timedelta(hours=2 + n))

        spent = bench_billing._spent(stack, work)
    finally:
        stack.close()
    changes = args.users * args.changes
    cpu = spent["functions.cpu_seconds:process_changes"]
    invocations = spent["functions.invocations:process_changes"]
    wall = spent["functions.billed_seconds:process_changes"]  # >= 100 ms each (rounded up)
    per_cpu_second = changes / cpu
    concurrency, maximum = infra_sizing()
    rate = BURST_USERS * BURST_CHANGES / BURST_SECONDS  # changes per second
    cpu_bound = math.ceil(rate / per_cpu_second)
    inflight = rate * (invocations / changes) * (wall / invocations)
    concurrency_bound = math.ceil(inflight / concurrency)
    needed = max(cpu_bound, concurrency_bound)
    # changes per second all allowed instances sustain: the lower of CPU and concurrency
    capacity = min(per_cpu_second * maximum,
                   maximum * concurrency / (wall / invocations) / (invocations / changes))
    print(f"{'figure':<58}{'value':>14}")
    for label, value in [
        ("changes measured", f"{changes}"),
        ("process_changes invocations per change", f"{invocations / changes:.2f}"),
        ("CPU ms per change (process_changes)", f"{cpu / changes * 1000:.1f}"),
        ("changes per CPU-second", f"{per_cpu_second:.0f}"),
        ("burst: changes per second (100,000 users x 5 in 10 min)", f"{rate:.0f}"),
        ("instances needed, CPU-bound (1 vCPU each)", f"{cpu_bound}"),
        (f"instances needed, concurrency-bound ({concurrency}/instance, >=100 ms each)",
         f"{concurrency_bound}"),
        ("infra/ max instances of process-changes", f"{maximum}"),
        ("changes per second at max instances", f"{capacity:.0f}"),
        ("burst keeps pace at max instances", "yes" if capacity >= rate else "no"),
    ]:
        print(f"{label:<58}{value:>14}")
    print("\nCPU is the handler threads' own (time.thread_time), measured on this machine; "
          "the concurrency-bound figure uses the embedded stack's request times, rounded up "
          "to Cloud Run's 100 ms, a lower bound against Google's latency.")
    record("throughput: process_changes changes per CPU-second", f"{per_cpu_second:.0f}",
           f"burst needs {rate:.0f}/s: {needed} instances (max {maximum})",
           needed / maximum, "ratio = instances needed / infra max")


if __name__ == "__main__":
    main()
