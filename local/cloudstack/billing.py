"""What CloudStack's function instances would be billed for (``CloudStack.billing()``, #20).

Every function runs in its own process on the Firestore and Pub/Sub emulators, so the counts of
:mod:`shared.billing` live in many processes. Each instance (``local.cloudstack.instance``)
writes its services' meter to ``<data_dir>/billing/<function>-<pid>.json`` after every request,
before the answer leaves (a small file write, harness-only; in production the meter stays an
in-memory counter); files outlive killed instances, so their counts stay in the bill.
The harness adds what Google's side of the deployment measures: invocations (requests each
function's Cloud Run front passed on), billed instance time (the spells an instance had a request
in flight, each rounded up to 100 ms, as request-based billing counts it; real seconds, not the
fake clock's), Pub/Sub push deliveries and their billed bytes (counted
by the fronts) and CPU seconds of each instance's process group (``/proc/<pid>/stat`` utime and
stime of the gunicorn arbiter and worker, children's included; a killed instance's CPU counts
up to the last time the harness looked, so call ``billing()`` before killing to keep it).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shared.billing import KEYS

DIR_ENV = "CLOUDSTACK_BILLING_DIR"


def install_writer(app: Any, directory: str) -> None:
    """After each request, write this process's meter (instance side)."""
    lock = threading.Lock()
    name = f"{os.environ.get('K_SERVICE', 'function')}-{{pid}}.json"

    def write(response: Any) -> Any:
        from functions import _deps

        if _deps._installed is None and _deps._from_environment.cache_info().currsize == 0:
            return response  # services never built (a probe, a refused request)
        counts = dict(_deps.deps().billing())
        path = Path(directory) / name.format(pid=os.getpid())
        with lock:
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(counts), encoding="utf-8")
            os.replace(tmp, path)
        return response

    app.after_request(write)


class CpuWatch:
    """CPU seconds of each instance's process group, remembered across kills."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, int], float] = {}
        self._tick = os.sysconf("SC_CLK_TCK")

    def sample(self, groups: dict[str, int]) -> dict[str, float]:
        """Function key -> CPU seconds of every process group it ever had."""
        live: dict[int, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            # after the command: state, ppid, pgrp, ... utime stime cutime cstime (14-17)
            pgrp = int(fields[2])
            ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
            live[pgrp] = live.get(pgrp, 0.0) + ticks / self._tick
        for key, pgid in groups.items():
            if pgid in live:
                self._seen[(key, pgid)] = max(self._seen.get((key, pgid), 0.0), live[pgid])
        result: dict[str, float] = {}
        for (key, _), seconds in self._seen.items():
            result[key] = result.get(key, 0.0) + seconds
        return result


def collect(directory: Path, fronts: Iterable[tuple[str, Any]], cpu: dict[str, float]) -> Counter:
    """The bill so far: every instance's meter file, the fronts' counts and the CPU."""
    counts: Counter = Counter(dict.fromkeys(KEYS, 0))
    for path in sorted(directory.glob("*.json")):
        try:
            counts.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # replaced while read: the next call sees it
    for key, front in fronts:
        counts["functions.invocations"] += front.requests
        counts[f"functions.invocations:{key}"] += front.requests
        counts["functions.billed_seconds"] += front.billed_seconds
        counts[f"functions.billed_seconds:{key}"] += front.billed_seconds
        deliveries = getattr(front, "push_deliveries", 0)
        counts["pubsub.deliveries"] += deliveries
        counts["pubsub.bytes"] += getattr(front, "push_bytes", 0)
    for key, seconds in cpu.items():
        counts["functions.cpu_seconds"] += seconds
        counts[f"functions.cpu_seconds:{key}"] += seconds
    return counts
