"""main.py is the deploy contract: seven entry points, each of the right kind, cheap to import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ENTRY_POINTS = {
    "intake_push": "http",
    "process_changes": "cloudevent",
    "renew_watches": "cloudevent",
    "poll_vacations": "cloudevent",
    "dispatch_join_notifications": "cloudevent",
    "provision_users": "http",
    "meetings_api": "http",
}

HEAVY = ("googleapiclient", "tink", "google.cloud.kms", "google.cloud.firestore",
         "google.cloud.pubsub")


def test_main_exposes_exactly_the_deploy_contract():
    import main

    assert sorted(main.__all__) == sorted(ENTRY_POINTS)
    for name in ENTRY_POINTS:
        assert callable(getattr(main, name))


@pytest.mark.parametrize(("name", "kind"), sorted(ENTRY_POINTS.items()))
def test_entry_point_registers_its_signature_type(name, kind):
    from functions_framework import _function_registry

    import main  # noqa: F401  (registers the decorators)

    assert _function_registry.REGISTRY_MAP[name] == kind


def test_importing_main_loads_no_heavy_client_library():
    code = (
        "import sys, json; import main; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []


def test_cloud_mode_without_required_settings_fails_with_named_variable():
    code = (
        "import os; os.environ.clear(); os.environ['HYBRIDCAL_MODE']='cloud'; "
        "from functions._deps import deps\n"
        "try:\n    deps()\nexcept Exception as e:\n    print(type(e).__name__, e)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("ConfigError GOOGLE_CLOUD_PROJECT is required")
