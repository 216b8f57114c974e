"""Peak memory of a user's first full sync: 2,500 events against 10,000, and 100,000 events
against the 64 MiB bound (#20).

``python -m bench.bench_memory [--sizes 2500 10000] [--bound 100000]``

The bound row: RSS growth (``ru_maxrss``, untraced, in its own process) of the activation of a
user whose calendar holds ``--bound`` events, above the runtime's baseline (the process after a
20-event user was activated, the big calendar already in the simulator). The sync streams: one
``events.list`` page (2,500 events) is listed, patched, indexed, published and written before
the next is fetched, so the growth must stay within 64 MiB whatever the calendar's size.
What the row counts: everything the process grows by above that baseline, so the service (the
function's own memory) *and* the harness that serves it in the same process: the simulator
building and sending each 2,500-event answer, werkzeug's 10,000,000-byte drain buffer, SQLite's
page caches (the store stands in for Firestore, which is not in the function's memory). Only the
simulator's calendar is left out (filled before the baseline: Google holds it). The row is thus
an upper bound of the function's growth, not the function alone. The simulator's per-user
quota is raised to fit the activation (:func:`_fit_quota`; tests keep Google's).

Each size runs in its own interpreters (one traced, one untraced for RSS and time), so peaks do
not interfere. The simulator's calendar is filled in process before measuring
(``WorkspaceSimulator.user_call``, no HTTP: 2 % of events with ``@webex`` in the location, 8 %
with a Zoom link in the description, 1 % daily series of 5, all inside the 28-day index window
so every event is indexed). A 20-event user is activated first, so imports, discovery documents
and caches are loaded before tracing (their one-time cost is printed below the table). Then
``tracemalloc`` traces ``stack.activate``: validation, watch, the full ``events.list`` paging
(2,500 per page), keyword patches (through the Webex fake), ``events.instances`` for series, the
encrypted index, and the pushes and incremental syncs our own patches cause.

Separating the service from the harness. The simulator, the Webex fake and the functions' HTTP
server share the process; the calendar the simulator holds was allocated before tracing began
and does not count, but their answers do. Their share is measured alone, over HTTP, from a raw
client that reads in 64 KiB chunks: the largest ``events.list`` page (the answer built,
serialised and sent) and a one-event answer. Both include werkzeug's dev server draining the
closed socket into a 10,000,000-byte buffer after every request, the largest harness
allocation. The traced peak is split in two phases (the full sync inside ``processing._sync``,
where listing, indexing and publishing interleave page by page, and everything else) and each phase's peak less the harness share that can coincide with it (the
big page while listing, a small answer otherwise) gives **service**. A direct, harness-free
cross-check: the bytes alive when processing publishes the index changes (no request in
flight then), and the most bytes alive at any page's publish above the sync's start (read by
wrapping ``processing._sync`` and ``processing._publish_then_write`` in this process). The embedded bus's record of published messages
(kept for tests; Pub/Sub holds them in the cloud) is switched off.

Verdict: "linear or better" when service peak(10,000) <= 4.0 x 1.1 service peak(2,500). A
fixed part makes that ratio look good on its own, so the marginal KiB per extra event is printed
too: a sync that streams pages (one page in flight) has a marginal cost near zero.
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from bench.summary import record

EMAIL = "mia@example.com"
WARM = "wes@example.com"
MIB = 2**20
SETTLE = 0.05  # seconds for the simulator's thread to let its last answer go before reading


def _fill(stack: Any, email: str, events: int) -> None:
    from shared.clock import to_rfc3339

    start = stack.now() + timedelta(hours=1)
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
        stack.sim.user_call(email, "calendar.events.insert", {"cal": "primary"}, body)


class _NoLog(list):
    """Stands in for the embedded bus's record of published messages."""

    def append(self, _message: Any) -> None:
        pass


def _fit_quota(stack: Any, events: int) -> None:
    """Give the simulator a per-user quota the activation fits in (this bench only: tests keep
    Google's 600 a minute).

    The simulated clock stands still while a sync runs (only a backoff moves it), so every
    Google call of one activation falls into one simulated minute, whereas the real calls take
    real time. A 100,000-event activation makes ~40 ``events.list`` pages, ~2,000 keyword
    ``events.patch`` and ~1,000 ``events.instances`` in its full sync, then one incremental
    ``events.list`` per push its own patches cause: the 601st call (a patch or an instances
    call around the 20,000th event) answered 403 ``userRateLimitExceeded``, the product's 5
    attempts (a few simulated seconds of backoff) stayed inside the same minute, and the
    redelivered message started the full sync over: the row measured several syncs, then
    failed. A quota of one call per event leaves room for all of them."""
    stack.sim.quotas.set(user_per_minute=max(stack.sim.quotas.user_per_minute, events),
                         project_per_minute=max(stack.sim.quotas.project_per_minute, events))


def _traced(fn: Any) -> tuple[Any, float]:
    """(fn's result, peak MiB traced while it ran)."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] / MIB
    finally:
        tracemalloc.stop()


def _harness_share(stack: Any, max_results: int, tries: int = 3) -> float:
    """Peak MiB of the simulator serving one ``events.list`` answer over HTTP, client side kept
    to a 64 KiB buffer; the largest of ``tries`` (werkzeug's drain buffer may or may not
    overlap the answer)."""
    from google.auth.transport.requests import Request

    from shared.google import clients

    creds = clients.delegated_credentials(
        EMAIL, [clients.SCOPES[0]], service_account_info=stack.sim.service_account_info,
        token_uri=stack.sim.token_uri)
    creds.refresh(Request())
    url = urlsplit(stack.sim.url)
    path = f"/calendar/v3/calendars/primary/events?maxResults={max_results}&singleEvents=false"
    peaks = []
    for _ in range(tries):
        tracemalloc.start()
        try:
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            connection.request("GET", path, headers={"Authorization": f"Bearer {creds.token}"})
            response = connection.getresponse()
            while response.read(65536):
                pass
            connection.close()
            time.sleep(2 * SETTLE)  # the server drains the closed socket after answering
            peaks.append(tracemalloc.get_traced_memory()[1] / MIB)
        finally:
            tracemalloc.stop()
    return max(peaks)


class _Phases:
    """Traced peak per phase: "list" (the full sync: listing, indexing and publishing stream
    together, page by page) and "other" (everything else)."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = defaultdict(int)
        self.phase = "other"
        self.events_held = 0  # most bytes alive at a page's publish, above the sync's start
        self.at_publish = 0  # bytes alive when the full sync's last page is published
        self._full = False
        self._start = 0

    def switch(self, phase: str) -> None:
        peak = tracemalloc.get_traced_memory()[1]
        self.peaks[self.phase] = max(self.peaks[self.phase], peak)
        tracemalloc.reset_peak()
        self.phase = phase

    def wrap(self, sync: Any, processing: Any) -> tuple[Any, Any]:
        run_sync, publish = processing._sync, processing._publish_then_write

        def measured_sync(*args: Any, **kwargs: Any) -> Any:
            full = not (args[3] if len(args) > 3 else kwargs.get("state"))
            self._full = full
            if full:
                self.switch("list")
                self._start = tracemalloc.get_traced_memory()[0]
            try:
                return run_sync(*args, **kwargs)
            finally:
                if full:
                    self.switch("other")
                self._full = False

        def measured_publish(*args: Any, **kwargs: Any) -> int:
            if self._full:
                time.sleep(SETTLE)
                live = tracemalloc.get_traced_memory()[0]
                self.at_publish = live
                self.events_held = max(self.events_held, live - self._start)
            return int(publish(*args, **kwargs))

        processing._sync, processing._publish_then_write = measured_sync, measured_publish
        return run_sync, publish


def measure(events: int, traced: bool) -> dict[str, float]:
    from local import LocalStack
    from shared.changes import processing, sync

    with LocalStack(scheduler=False) as stack:
        _fit_quota(stack, events)
        if isinstance(getattr(stack.bus, "_published", None), dict):
            stack.bus._published = defaultdict(_NoLog)
        for email, size in ((WARM, 20), (EMAIL, events)):
            stack.add_user(email)
            _fill(stack, email, size)
        if not traced:  # RSS: growth of the high-water mark during the activation; time
            assert stack.activate(WARM) == "active"
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            assert stack.activate(EMAIL) == "active"
            seconds = time.perf_counter() - started
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            return {"rss_mib": grown / 1024, "seconds": seconds}  # ru_maxrss is in KiB
        warm, cold_mib = _traced(lambda: stack.activate(WARM))
        assert warm == "active", warm
        big = _harness_share(stack, 2500)
        small = _harness_share(stack, 1)
        phases = _Phases()
        originals = phases.wrap(sync, processing)
        tracemalloc.start()
        try:
            status = stack.activate(EMAIL)
            phases.switch("other")
        finally:
            tracemalloc.stop()
            processing._sync, processing._publish_then_write = originals
        user_id = stack.services.pseudonym(EMAIL)
        indexed = sum(1 for _key, doc in stack.services.store.query("meetings")
                      if doc.get("user_id") == user_id)
    assert status == "active", status
    listing, other = phases.peaks["list"] / MIB, phases.peaks["other"] / MIB
    return {"events": events, "indexed": indexed, "peak_mib": max(listing, other),
            "list_mib": listing, "other_mib": other, "harness_big_mib": big,
            "harness_small_mib": small, "service_mib": max(listing - big, other - small),
            "publish_mib": phases.at_publish / MIB, "events_held_mib": phases.events_held / MIB,
            "cold_mib": cold_mib}


def _child(size: int, traced: bool) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.bench_memory", "--one", str(size)]
    out = subprocess.run(command + ([] if traced else ["--untraced"]), capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2500, 10_000])
    parser.add_argument("--bound", type=int, default=100_000,
                        help="events of the first sync held to the 64 MiB bound (0: skip)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--untraced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, traced=not args.untraced)))
        return
    results = [_child(size, True) | _child(size, False) for size in sorted(args.sizes)]
    print(f"{'events':>7}{'indexed':>9}{'peak MiB':>10}{'listing':>9}{'other':>7}"
          f"{'service':>9}{'MiB/1,000 ev':>14}{'live at publish':>17}{'events held':>13}"
          f"{'RSS +MiB':>10}{'sync s':>8}")
    for r in results:
        print(f"{r['events']:>7,}{r['indexed']:>9,}{r['peak_mib']:>10.1f}{r['list_mib']:>9.1f}"
              f"{r['other_mib']:>7.1f}{r['service_mib']:>9.1f}"
              f"{r['service_mib'] / r['events'] * 1000:>14.2f}{r['publish_mib']:>17.1f}"
              f"{r['events_held_mib']:>13.1f}{r['rss_mib']:>10.1f}{r['seconds']:>8.1f}")
    small, large = results[0], results[-1]
    print(f"\npeak: tracemalloc over stack.activate, everything in the process; listing / "
          f"other: the peak of each phase; harness share measured alone: "
          f"{large['harness_big_mib']:.1f} MiB for a 2,500-event page, "
          f"{large['harness_small_mib']:.1f} MiB for a small answer (werkzeug's 9.5 MiB drain "
          f"buffer included); service = max(listing - page share, other - small share); live "
          f"at publish: bytes alive when the index changes are published (no request in flight: "
          f"ours only); events held: the most bytes alive at a page's publish above the "
          f"sync's start (one page's events and changes when streaming); RSS +MiB: growth of ru_maxrss in an untraced "
          f"run; sync s: that run's activation, wall clock. The first activation in a fresh process (imports, discovery documents, a 20-event "
          f"calendar) costs {small['cold_mib']:.1f} MiB traced, once, not included above.")
    if args.bound:
        _bound_row(args.bound)
    if large["events"] == small["events"]:
        return
    growth = large["service_mib"] / small["service_mib"]
    linear = large["events"] / small["events"]
    verdict = "linear or better" if growth <= linear * 1.1 else "WORSE than linear"
    extra = large["events"] - small["events"]
    marginal = (large["service_mib"] - small["service_mib"]) * 1024 / extra
    live = (large["publish_mib"] - small["publish_mib"]) * 1024 / extra
    held = (large["events_held_mib"] - small["events_held_mib"]) * 1024 / extra
    print(f"\nservice peak grows {growth:.2f}x for {linear:.0f}x the events (linear "
          f"{linear:.1f}, limit {linear * 1.1:.1f}): {verdict}")
    print(f"marginal: {marginal:.2f} KiB of peak per extra event; alive at publish "
          f"{live:.2f} KiB per event, {held:.2f} KiB of it the listed events: "
          + ("the peak is O(events) (the whole calendar and every index change are held "
             "until processing publishes), not bounded by the page size"
             if live > marginal / 4 else "bounded by the page size"))
    record(f"peak memory, full sync of {large['events']:,} vs {small['events']:,} events",
           f"{growth:.2f}x ({large['service_mib']:.0f} vs {small['service_mib']:.0f} MiB)",
           f"{linear:.0f}x (linear)", growth / linear,
           f"{verdict}; {marginal:.1f} KiB per extra event")


BOUND_MIB = 64


def _bound_row(events: int) -> None:
    """The #20 row: a first sync of ``events`` events within BOUND_MIB of RSS growth."""
    r = _child(events, False)
    verdict = "within the bound" if r["rss_mib"] <= BOUND_MIB else "OVER the bound"
    print(f"\nfirst sync of {events:,} events: RSS +{r['rss_mib']:.1f} MiB above the runtime "
          f"baseline (bound {BOUND_MIB} MiB, {r['rss_mib'] * 1024 / events:.2f} KiB per event),"
          f" {r['seconds']:.0f} s: {verdict}. Counted: the service and the harness serving it in"
          f" the same process (the simulator's answers, werkzeug's drain buffer, SQLite's "
          f"caches), the simulator's calendar excepted: an upper bound of the function's "
          f"growth.")
    record(f"first sync of {events:,} events, RSS above baseline", f"{r['rss_mib']:.0f} MiB",
           f"{BOUND_MIB} MiB", r["rss_mib"] / BOUND_MIB, verdict)


if __name__ == "__main__":
    main()
