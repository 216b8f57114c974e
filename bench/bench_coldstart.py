"""Cold start of each entry point against bare functions-framework plus the clients it needs.

``python -m bench.bench_coldstart [--repeat 7]``

Every figure is the median of ``--repeat`` fresh interpreters (nothing cached in-process):

* **ours**: ``functions_framework.create_app(target, "main.py")``, what the runtime does when an
  instance starts, then what the first request imports: the cloud wiring of
  ``shared.runtime.build_cloud`` (Firestore store, Pub/Sub bus, Sealer with Cloud KMS,
  Workspace client factory) and every module the entry point's file imports lazily, found by
  reading its syntax tree;
* **baseline**: ``create_app`` on a one-line function of the same trigger type, then the
  Google client libraries that entry point needs anyway (:data:`NEEDS`).

The ratio ours / baseline is our own code's share of a cold start: 1.0 would mean hybridcal
adds nothing to the libraries it cannot avoid. ``import main`` alone is shown too: it must
stay cheap for all seven functions since they share one source root.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.summary import record

ROOT = Path(__file__).resolve().parent.parent
FIRESTORE = "google.cloud.firestore"
PUBSUB = "google.cloud.pubsub_v1"
KMS = "google.cloud.kms_v1"
GOOGLE_API = "googleapiclient.discovery"
AUTH = "google.auth.iam"  # keyless signJwt for the delegated credentials
TINK = "tink.aead"

# What each function talks to at runtime (infra/ grants the matching roles).
NEEDS: dict[str, tuple[str, ...]] = {
    "intake_push": (FIRESTORE, PUBSUB),
    "process_changes": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH),
    "renew_watches": (FIRESTORE, PUBSUB, GOOGLE_API, AUTH),
    "poll_vacations": (FIRESTORE, PUBSUB, GOOGLE_API, AUTH),
    "provision_users": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH),
    "meetings_api": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH),
    "dispatch_join_notifications": (FIRESTORE, PUBSUB, KMS, TINK),
}
HTTP = {"intake_push", "provision_users", "meetings_api"}
CLOUD_WIRING = ("shared.store.firestore", "shared.bus.pubsub", "shared.crypto",
                "shared.keys.kms", "shared.workspace.factory")

_TIMER = """
import sys, time
started = time.perf_counter()
{body}
print(time.perf_counter() - started, len(sys.modules))
"""


def lazy_imports(target: str) -> list[str]:
    """Modules the entry point's file imports inside its functions (its first request)."""
    tree = ast.parse((ROOT / "functions" / f"{target}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.col_offset > 0:
            found += [f"{node.module}.{a.name}" if node.module == "shared" else node.module
                      for a in node.names]
        elif isinstance(node, ast.Import) and node.col_offset > 0:
            found += [a.name for a in node.names]
    return found


def _time(body: str, repeat: int, cwd: Path) -> tuple[float, int]:
    times, modules = [], 0
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _TIMER.format(body=body)], cwd=cwd,
                             capture_output=True, text=True, check=True).stdout.split()
        times.append(float(out[0]))
        modules = int(out[1])
    return statistics.median(times), modules


def _imports(modules: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"import importlib; importlib.import_module({m!r})" for m in modules)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args(argv).repeat
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp)
        (bare / "main.py").write_text(
            "import functions_framework\n\n"
            "@functions_framework.http\ndef http_fn(request):\n    return 'ok'\n\n"
            "@functions_framework.cloud_event\ndef event_fn(event):\n    return None\n")
        main_only, main_modules = _time("import main", repeat, ROOT)
        for target, needs in NEEDS.items():
            ours_body = (f"import functions_framework\n"
                         f"functions_framework.create_app({target!r}, 'main.py')\n"
                         + _imports([*CLOUD_WIRING, *lazy_imports(target), *needs]))
            kind = "http_fn" if target in HTTP else "event_fn"
            base_body = (f"import functions_framework\n"
                         f"functions_framework.create_app({kind!r}, 'main.py')\n"
                         + _imports(needs))
            ours, ours_modules = _time(ours_body, repeat, ROOT)
            base, base_modules = _time(base_body, repeat, bare)
            rows.append((target, ours, base, ours_modules, base_modules))
    print(f"{'entry point':<30}{'ours ms':>9}{'baseline ms':>13}{'ratio':>7}"
          f"{'modules':>9}{'baseline':>10}")
    for target, ours, base, ours_modules, base_modules in rows:
        print(f"{target:<30}{ours * 1000:>9.0f}{base * 1000:>13.0f}{ours / base:>7.2f}"
              f"{ours_modules:>9}{base_modules:>10}")
        record(f"cold start: {target}", f"{ours * 1000:.0f} ms",
               f"{base * 1000:.0f} ms (bare functions-framework + its clients)", ours / base)
    print(f"\n`import main` alone (shared by all seven): {main_only * 1000:.0f} ms, "
          f"{main_modules} modules. Medians of {repeat} fresh interpreters; clients needed: "
          + "; ".join(f"{t}: {', '.join(n)}" for t, n in NEEDS.items()))


if __name__ == "__main__":
    main()
