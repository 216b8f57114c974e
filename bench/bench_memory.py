"""Peak memory of a user's first full sync: 2,500 events against 10,000 (linear or better?).

``python -m bench.bench_memory [--sizes 2500 10000]``

Each size runs in its own interpreter. The simulator's calendar is filled in process before
measuring (``WorkspaceSimulator.user_call``: 2 % of events with ``@webex``, 10 % with a Zoom
link in the description, 1 % daily series, all inside the 28-day index window), then
``tracemalloc`` traces the activation: validation, watch, the full ``events.list`` paging
(2,500 per page), keyword patches, ``events.instances`` for series and the encrypted index.

The simulator shares the process, so its answers (one page of JSON at a time) are in the peak
too; the calendar it holds was allocated before tracing began and is not. "Linear" means the
10,000-event peak is at most 4x the 2,500-event one; paging should keep it well below that.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta

from bench.summary import record

EMAIL = "mia@example.com"


def _fill(stack: object, events: int) -> None:
    from shared.clock import to_rfc3339

    start = stack.now() + timedelta(hours=1)  # type: ignore[attr-defined]
    for n in range(events):
        when = start + timedelta(minutes=(n * 37) % (27 * 24 * 60))
        body = {"summary": f"Meeting {n}", "description": "Agenda\n" * 5,
                "location": "Room 2",
                "start": {"dateTime": to_rfc3339(when)},
                "end": {"dateTime": to_rfc3339(when + timedelta(minutes=30))},
                "attendees": [{"email": f"guest{n % 50}@external.example"}]}
        if n % 50 == 0:
            body["location"] = "@webex"
        elif n % 10 == 0:
            body["description"] += f"https://zoom.us/j/{10**9 + n}"
        if n % 100 == 1:
            body["recurrence"] = ["RRULE:FREQ=DAILY;COUNT=5"]
        stack.sim.user_call(EMAIL, "calendar.events.insert",  # type: ignore[attr-defined]
                            {"cal": "primary"}, body)


def measure(events: int) -> dict[str, float]:
    from local import LocalStack

    with LocalStack(scheduler=False) as stack:
        stack.add_user(EMAIL)
        _fill(stack, events)
        tracemalloc.start()
        started = time.perf_counter()
        status = stack.activate(EMAIL)
        seconds = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        indexed = len(stack.services.store.query("meetings"))
    assert status == "active", status
    return {"events": events, "peak_mib": peak / 2**20, "seconds": seconds,
            "indexed": indexed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 10_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, "-m", "bench.bench_memory", "--one", str(size)],
                             capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'events':>8}{'indexed':>9}{'peak MiB':>10}{'MiB / 1,000 events':>20}{'sync s':>8}")
    for r in results:
        print(f"{r['events']:>8,}{r['indexed']:>9,}{r['peak_mib']:>10.1f}"
              f"{r['peak_mib'] / r['events'] * 1000:>20.2f}{r['seconds']:>8.1f}")
    small, large = results[0], results[-1]
    if large["events"] != small["events"]:
        growth = large["peak_mib"] / small["peak_mib"]
        linear = large["events"] / small["events"]
        verdict = "linear or better" if growth <= linear * 1.1 else "WORSE than linear"
        print(f"\npeak grows {growth:.2f}x for {linear:.0f}x the events: {verdict}")
        record(f"peak memory, full sync of {large['events']:,} vs {small['events']:,} events",
               f"{growth:.2f}x ({large['peak_mib']:.0f} vs {small['peak_mib']:.0f} MiB)",
               f"{linear:.0f}x (linear)", growth / linear, verdict)


if __name__ == "__main__":
    main()
