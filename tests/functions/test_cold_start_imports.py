"""Each entry point loads only what it uses (#20 cold start).

``intake_push`` reads a channel and publishes: it never seals, opens or calls Google, so its
instance must not pay for Tink, Cloud KMS or googleapiclient at cold start. Checked in a fresh
interpreter, as a new instance starts: functions-framework loads ``main.py``, the first request
builds the services (cloud wiring), and ``sys.modules`` tells what was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.bench_coldstart import CLOUD_ENV  # a deployment's environment, as the bench uses it

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tink", "google.cloud.kms_v1", "googleapiclient", "shared.crypto.sealer")

_PROBE = """
import json, sys
import functions_framework
functions_framework.create_app(sys.argv[1], "main.py")
from functions._deps import deps
services = deps()
if sys.argv[2] == "seal":
    services.sealer.key_uri if hasattr(services.sealer, "key_uri") else services.sealer._kek
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("tink", "google",
      "googleapiclient", "shared"))))
"""


def _modules_after_first_deps(target: str, use: str = "") -> set[str]:
    import os

    env = {**os.environ, **CLOUD_ENV}
    out = subprocess.run([sys.executable, "-c", _PROBE, target, use], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return set(json.loads(out))


def test_intake_push_cold_start_loads_neither_tink_nor_kms_nor_googleapiclient():
    loaded = _modules_after_first_deps("intake_push")
    assert "shared.store.firestore" in loaded  # it did build its services
    assert [m for m in loaded if m.split(".")[0] == "tink" or m.startswith(HEAVY)] == []


def test_the_sealer_is_built_on_its_first_use():
    """The same wiring loads Tink and the KMS adapter once something seals: lazy, not missing."""
    loaded = _modules_after_first_deps("process_changes", "seal")
    assert "shared.crypto.sealer" in loaded
    assert "shared.keys.kms" in loaded
    assert any(m.split(".")[0] == "tink" for m in loaded)
