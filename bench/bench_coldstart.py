"""Cold start of each entry point against bare functions-framework plus the clients it needs.

``python -m bench.bench_coldstart [--repeat 7]``

Every figure is the median of ``--repeat`` fresh interpreters (nothing cached in-process;
interpreter startup excluded; ours and baseline take turns, so load drift hits both alike):

* **ours**: ``functions_framework.create_app(target, "main.py")``, what the runtime does when an
  instance starts, then what the first request does: ``deps()`` builds the cloud wiring of
  ``shared.runtime.build_cloud`` for real (Firestore store, Pub/Sub bus; the Sealer with Cloud
  KMS and the Workspace client factory only where the entry point uses them, since they are
  built on first use), every module the entry point's file and the ``functions/`` helpers
  it uses (``_deps``, ``_events``, ``_api``) import inside functions, found by reading their
  syntax trees, and the lazy imports deeper in ``shared/`` that its first request reaches
  (:data:`FIRST_USE`: delegated clients, ``tenacity`` retries, ``re2`` join-link parsing, ID
  token checks), plus the clients in :data:`NEEDS`;
* **baseline**: ``create_app`` on a one-line function of the same trigger type (a temporary
  ``main.py``), then the Google client libraries that entry point needs anyway (:data:`NEEDS`,
  read from ``shared/``: Firestore and Pub/Sub for all, Cloud KMS and Tink where sealed records
  are read or written, googleapiclient plus keyless ``signJwt`` (``google.auth.iam`` and its
  requests transport) where Calendar or Gmail is called, ID token verification for the API).

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
AUTH_HTTP = "google.auth.transport.requests"  # the transport signJwt and token checks need
ID_TOKEN = "google.oauth2.id_token"  # callers of the meetings API present Google ID tokens
TINK = "tink.aead"

# What each function talks to at runtime (infra/ grants the matching roles).
NEEDS: dict[str, tuple[str, ...]] = {
    "intake_push": (FIRESTORE, PUBSUB),
    "process_changes": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH, AUTH_HTTP),
    "renew_watches": (FIRESTORE, PUBSUB, GOOGLE_API, AUTH, AUTH_HTTP),
    "poll_vacations": (FIRESTORE, PUBSUB, GOOGLE_API, AUTH, AUTH_HTTP),
    "provision_users": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH, AUTH_HTTP),
    "meetings_api": (FIRESTORE, PUBSUB, KMS, TINK, GOOGLE_API, AUTH, AUTH_HTTP, ID_TOKEN),
    "dispatch_join_notifications": (FIRESTORE, PUBSUB, KMS, TINK),
}
# Imported inside functions deeper in shared/ on the first request (not found by lazy_imports):
# delegated clients and call_google's retries wherever Google is called, join-link parsing
# (google-re2) wherever events are indexed, Google ID token checks in the API.
_GOOGLE = ("shared.google.clients", "tenacity")
FIRST_USE: dict[str, tuple[str, ...]] = {
    "intake_push": (),
    "process_changes": (*_GOOGLE, "shared.joinlinks"),
    "renew_watches": _GOOGLE,
    "poll_vacations": _GOOGLE,
    "provision_users": _GOOGLE,
    "meetings_api": (*_GOOGLE, "shared.joinlinks", "shared.meetings.auth"),
    "dispatch_join_notifications": (),
}
HTTP = {"intake_push", "provision_users", "meetings_api"}
# The components built on first use (shared.runtime.Lazy), by what the entry point needs.
SEALER_WIRING = ("shared.crypto.sealer", "shared.keys.kms")
GOOGLE_WIRING = ("shared.google.factory",)
# A deployment's environment (values shaped as infra/ sets them; nothing is called: the
# Firestore client is built against an emulator address, so it needs no credentials).
CLOUD_ENV = {
    "HYBRIDCAL_MODE": "cloud",
    "HYBRIDCAL_DELEGATED_SA": "hybridcal-delegate@proj-123456.iam.gserviceaccount.com",
    "HYBRIDCAL_INTAKE_URL": "https://example.invalid/intake",
    "HYBRIDCAL_KMS_KEY": "projects/proj-123456/locations/us-central1/keyRings/r/cryptoKeys/k",
    "HYBRIDCAL_ORG_DOMAINS": "example.com",
    "GOOGLE_CLOUD_PROJECT": "proj-123456",
    "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
}
_FIRST_DEPS = "from functions._deps import deps\ndeps()\n"


def wiring(needs: tuple[str, ...]) -> tuple[str, ...]:
    """The lazily built components an entry point's first requests build."""
    return (*(SEALER_WIRING if TINK in needs else ()),
            *(GOOGLE_WIRING if GOOGLE_API in needs else ()))

_TIMER = """
import sys, time
started = time.perf_counter()
{body}
print(time.perf_counter() - started, len(sys.modules), int("tink" in sys.modules))
"""


def lazy_imports(target: str) -> list[str]:
    """Modules the entry point's file, and the ``functions/`` helpers it imports, import inside
    their functions (its first request)."""
    files = [ROOT / "functions" / f"{target}.py", ROOT / "functions" / "_deps.py"]
    source = files[0].read_text()
    files += [ROOT / "functions" / f"{helper}.py" for helper in ("_events", "_api")
              if helper in source]
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.col_offset > 0:
                found += [f"{node.module}.{a.name}" if node.module == "shared" else node.module
                          for a in node.names]
            elif isinstance(node, ast.Import) and node.col_offset > 0:
                found += [a.name for a in node.names]
    return list(dict.fromkeys(found))


def _run(body: str, cwd: Path) -> tuple[float, int]:
    """(seconds, modules loaded) of ``body`` in a fresh interpreter (startup excluded); the
    modules count is negative when Tink was loaded (shown in the table's tink column)."""
    import os

    out = subprocess.run([sys.executable, "-c", _TIMER.format(body=body)], cwd=cwd,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, **CLOUD_ENV}).stdout.split()
    return float(out[0]), int(out[1]) * (-1 if out[2] == "1" else 1)


def _time(runs: list[tuple[str, Path]], repeat: int) -> list[tuple[float, int]]:
    """Median seconds and module count of each (body, cwd); the bodies take turns, so drift in
    the machine's load affects all of them alike. One untimed run each first (bytecode)."""
    for body, cwd in runs:
        _run(body, cwd)
    samples: list[list[tuple[float, int]]] = [[] for _ in runs]
    for _ in range(repeat):
        for sample, (body, cwd) in zip(samples, runs, strict=True):
            sample.append(_run(body, cwd))
    return [(statistics.median(t for t, _ in sample), sample[-1][1]) for sample in samples]


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
        [(main_only, main_modules)] = _time([("import main", ROOT)], repeat)
        for target, needs in NEEDS.items():
            ours_body = (f"import functions_framework\n"
                         f"functions_framework.create_app({target!r}, 'main.py')\n"
                         + _FIRST_DEPS
                         + _imports([*wiring(needs), *lazy_imports(target),
                                     *FIRST_USE[target], *needs]))
            kind = "http_fn" if target in HTTP else "event_fn"
            base_body = (f"import functions_framework\n"
                         f"functions_framework.create_app({kind!r}, 'main.py')\n"
                         + _imports(needs))
            (ours, ours_modules), (base, base_modules) = _time(
                [(ours_body, ROOT), (base_body, bare)], repeat)
            rows.append((target, ours, base, ours_modules, base_modules))
    print(f"{'entry point':<30}{'ours ms':>9}{'baseline ms':>13}{'ratio':>7}"
          f"{'modules':>9}{'baseline':>10}{'tink':>6}")
    for target, ours, base, ours_modules, base_modules in rows:
        tink = "yes" if ours_modules < 0 else "no"
        print(f"{target:<30}{ours * 1000:>9.0f}{base * 1000:>13.0f}{ours / base:>7.2f}"
              f"{abs(ours_modules):>9}{abs(base_modules):>10}{tink:>6}")
        record(f"cold start: {target}", f"{ours * 1000:.0f} ms",
               f"{base * 1000:.0f} ms (bare functions-framework + its clients)", ours / base)
    print(f"\n`import main` alone (shared by all seven): {main_only * 1000:.0f} ms, "
          f"{abs(main_modules)} modules. Medians of {repeat} fresh interpreters each, ours and "
          "baseline taking turns; interpreter startup excluded; 'modules' = len(sys.modules) "
          "once ready; 'tink' = whether ours loaded Tink (only entry points that seal or open "
          "records should). Clients in both columns:")
    for target, needs in NEEDS.items():
        print(f"  {target}: {', '.join(needs)}")


if __name__ == "__main__":
    main()
