"""The chaos day on CloudStack (local.cloudstack.chaos): 50 users, function instances
SIGKILLed mid-request and restarted, checked as ``make chaos`` checks.

It takes many minutes (a simulated day of per-minute Scheduler ticks through real processes),
so it runs when asked: ``CLOUDSTACK_CHAOS=1`` (``make cloud-chaos`` runs it as a program).
"""

from __future__ import annotations

import os

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.skipif(
    os.environ.get("CLOUDSTACK_CHAOS", "") in ("", "0"),
    reason="the CloudStack chaos day takes many minutes: CLOUDSTACK_CHAOS=1 runs it")]


def test_a_day_of_killed_instances_loses_and_duplicates_nothing(firestore_emulator,
                                                                pubsub_emulator, tmp_path):
    from local.cloudstack.chaos import CLOUD_DEFAULTS, KillSettings, run

    users = int(os.environ.get("CLOUDSTACK_CHAOS_USERS", CLOUD_DEFAULTS.users))
    report = run(CLOUD_DEFAULTS.__class__(**{**CLOUD_DEFAULTS.__dict__, "users": users}),
                 KillSettings(), data_dir=tmp_path / "cloud", firestore=firestore_emulator,
                 pubsub=pubsub_emulator)

    assert not report.failures, report.table()
    kills = dict(report.figures)["instances killed mid-request (SIGKILL)"]
    assert int(kills.split()[0]) > 0, report.table()
