"""The chaos run in CI: 200 users, the seed fixed, every check of ``make chaos`` asserted.

``make chaos`` runs the same day for 1,000 users; see :mod:`local.chaos` for the script and
the faults. The table is printed (``pytest -s`` shows it) so a failure says which guarantee
broke and the first examples.
"""

from __future__ import annotations

import pytest

from local.chaos import ChaosSettings, run

pytestmark = pytest.mark.integration

CI_USERS = 200
SEED = 20261125


@pytest.fixture(scope="module")
def report():
    return run(ChaosSettings(users=CI_USERS, seed=SEED))


def test_every_guarantee_holds_through_the_chaos_day(report):
    print("\n" + report.table())
    assert report.failures == [], report.table()


def test_the_day_really_was_chaotic(report):
    # Faults of every kind were injected and handlers died at every kind of point: the
    # guarantees above were kept under them, not in their absence.
    assert set(report.injected) >= {"rate_limit", "rate_limit_429", "server_error", "timeout",
                                    "timeout_applied", "duplicate_push", "drop_push"}
    assert set(report.crashes) >= {"handler.start", "google.after_call", "store.after_write",
                                   "bus.after_publish", "handler.after_side_effects",
                                   "handler.before_ack"}
    assert {c.name for c in report.checks} >= {
        "keyword events with one right join block", "users whose index equals the truth",
        "join notifications", "duplicate join notifications", "presence changes published",
        "messages left unprocessed", "dead letters without a reason",
        "plaintext markers found"}
