"""Every kind of work bills at most 1.5 times its derived minimum (issue #20).

The counts are deterministic (operations, not time), so this is a test, not a benchmark: it
runs ``bench.bench_billing``'s rows on a two-user embedded stack and fails naming every row
whose Firestore, Pub/Sub, KMS and request bill passes the target. docs/cost.md derives each
minimum; a change that adds a read or a write to a hot path shows up here first.
"""

from __future__ import annotations

from bench import bench_billing


def test_every_kind_of_work_bills_at_most_one_and_a_half_times_its_minimum():
    users = 2
    stack, emails = bench_billing.start_stack(users)
    try:
        rows = bench_billing.measure(stack, emails)
    finally:
        stack.close()
    ratios = bench_billing.ratios(rows, users)
    assert set(ratios) == set(bench_billing.minimum(users))  # every row was measured
    over = {name: round(ratio, 2) for name, ratio in ratios.items()
            if ratio > bench_billing.TARGET}
    assert over == {}, {row.name: row.kinds() for row in rows if row.name in over}
