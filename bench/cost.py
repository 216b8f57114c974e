"""What a tenant pays: US$ per 1,000 users per month, measured on the embedded stack.

``python -m bench.cost [--users 5] [--changes 20] [--keyword-share 0.1] ...``

The stated workload (every figure an option; defaults in brackets): each user's calendar
changes ``--changes`` [20] times a day, of which ``--keyword-share`` [0.1] add a keyword and
``--unindexed-share`` [0.2] change nothing the index keeps (events beyond its window, for
example); ``--linked`` [3] meetings with join links a day each send a join notification;
every active user's vacation responder is read every ``--vacation-interval`` [600] seconds, and
reconciled every ``--reconcile-interval`` [21,600] seconds; each push channel (7 days) is
renewed every ``--renewal-days`` [6] days; the Scheduler's join-notification tick runs every
minute for the whole deployment of ``--org-users`` [100,000] users.

How: ``bench.bench_billing`` runs each kind of work on a LocalStack of ``--users`` [10] users and
counts what it is billed (``stack.billing()``), per unit; this multiplies the units the
workload makes per user and day, then by the list prices of :mod:`bench.prices`, and prints
US$ per 1,000 users per 30.4-day month split by product, next to the same for the derived
minimum (docs/cost.md). Function time: each request's wall time rounded up to 100 ms at 1 vCPU
and its instance's memory (an upper bound: concurrent requests share an instance); for the
minimum, 100 ms per request (the floor of a request alone on its instance).
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass

from bench import bench_billing
from bench.prices import PRICES, TAKEN, by_product
from bench.summary import record

DAYS_PER_MONTH = 365 / 12
MIN_REQUEST_SECONDS = 0.1
PRODUCTS = ("Firestore", "Pub/Sub", "Cloud KMS", "Cloud Run functions")


@dataclass(frozen=True)
class Workload:
    users: int = 10
    changes: float = 20
    keyword_share: float = 0.1
    unindexed_share: float = 0.2
    linked: float = 3
    vacation_interval: int = 600
    reconcile_interval: int = 21_600
    renewal_days: float = 6
    org_users: int = 100_000

    def per_user_day(self) -> dict[str, float]:
        """Units of each row of bench_billing a user makes a day."""
        ordinary = max(0.0, 1 - self.keyword_share - self.unindexed_share)
        return {
            "push, nothing indexed": self.changes * self.unindexed_share,
            "ordinary change": self.changes * ordinary,
            "keyword change + echo": self.changes * self.keyword_share,
            "join notification": self.linked,
            "vacation poll, per user": 86_400 / self.vacation_interval,
            "reconciliation, per user": 86_400 / self.reconcile_interval,
            "renewal, per user": 1 / self.renewal_days,
        }


def _as_counts(kinds: dict[str, float]) -> Counter:
    """A minimum row (kinds) as billing counts, with its 100-ms-per-request function time."""
    counts: Counter = Counter()
    for kind, value in kinds.items():
        counts[bench_billing._KEY[kind]] += value
    counts["functions.billed_seconds:minimum"] = kinds.get("invocations", 0) * MIN_REQUEST_SECONDS
    return counts


def _scaled(counts: Counter, factor: float) -> Counter:
    return Counter({key: value * factor for key, value in counts.items()})


def run(workload: Workload) -> dict[str, tuple[Counter, Counter]]:
    """Per kind of work: (measured, minimum) billing counts per user and day."""
    from local.stack import LocalStack  # noqa: F401  (fail early without the dev install)

    env = {"HYBRIDCAL_VACATION_INTERVAL_SECONDS": str(workload.vacation_interval),
           "HYBRIDCAL_RECONCILE_INTERVAL_SECONDS": str(workload.reconcile_interval)}
    stack, emails = bench_billing.start_stack(workload.users, env)
    try:
        rows = {row.name: row for row in bench_billing.measure(stack, emails)}
        # the idle join-notification tick, paid by the deployment every minute
        idle = bench_billing._spent(stack, lambda: bench_billing._minute_ticks(stack, 10))
    finally:
        stack.close()
    floor = bench_billing.minimum(workload.users)
    rates = workload.per_user_day()
    result: dict[str, tuple[Counter, Counter]] = {}
    for name, rate in rates.items():
        row = rows[name]
        per_unit = Counter({key: value / row.units for key, value in row.spent.items()})
        result[name] = (_scaled(per_unit, rate), _scaled(_as_counts(floor[name]), rate))
    ticks_per_user_day = 1440 / workload.org_users / 10
    result["notification ticks (deployment)"] = (
        _scaled(idle, ticks_per_user_day),
        _scaled(_as_counts({"reads": 1, "messages": 1, "bytes": 2000, "invocations": 1}),
                1440 / workload.org_users))
    return result


def _month(counts: Counter) -> dict[str, float]:
    """US$ per product per 1,000 users per month, from counts per user and day."""
    return {product: usd * 1000 * DAYS_PER_MONTH
            for product, usd in by_product(counts).items()}


def report(workload: Workload, result: dict[str, tuple[Counter, Counter]]) -> tuple[float, float]:
    measured_total: Counter = Counter()
    minimum_total: Counter = Counter()
    for measured, least in result.values():
        measured_total.update(measured)
        minimum_total.update(least)
    got, least = _month(measured_total), _month(minimum_total)
    print(f"US$ per 1,000 users per month ({DAYS_PER_MONTH:.1f} days), list prices of {TAKEN}"
          " (bench/prices.py)\n")
    print(f"{'product':<22}{'measured':>12}{'minimum':>12}{'ratio':>8}")
    for product in PRODUCTS:
        ratio = (f"{got.get(product, 0) / least[product]:.1f}" if least.get(product)
                 else "-")  # KMS: the minimum makes no KMS call (cached data keys)
        print(f"{product:<22}{got.get(product, 0):>12.2f}{least.get(product, 0):>12.2f}"
              f"{ratio:>8}")
    total, floor = sum(got.values()), sum(least.values())
    print(f"{'total':<22}{total:>12.2f}{floor:>12.2f}{total / floor:>8.1f}\n")
    print(f"{'by kind of work':<34}{'units/user/day':>15}{'measured':>10}{'minimum':>10}"
          f"{'share':>7}")
    rates = workload.per_user_day()
    shares = []
    for name, (measured, minimum) in result.items():
        usd, usd_min = sum(_month(measured).values()), sum(_month(minimum).values())
        shares.append((usd, name))
        units = rates.get(name, 1440 / workload.org_users)
        print(f"{name:<34}{units:>15.3g}{usd:>10.2f}{usd_min:>10.2f}{usd / total:>7.0%}")
    fixed = [n for n in ("vacation poll, per user", "reconciliation, per user",
                         "renewal, per user", "notification ticks (deployment)")]
    fixed_usd = sum(u for u, n in shares if n in fixed)
    top = max(shares)
    print(f"\nfixed per-user-day costs (vacation polling, reconciliation, renewal, ticks): "
          f"US$ {fixed_usd:.2f} of {total:.2f} ({fixed_usd / total:.0%}); the largest single "
          f"item is '{top[1]}' ({top[0] / total:.0%}).")
    print(f"Workload: {workload}. Prices: " + "; ".join(
        f"{p.product} {p.unit} {p.usd:.3g} ({p.note})" for p in PRICES.values()))
    print("Not included: Firestore storage and index-entry reads, KMS key versions "
          "(US$ 0.06 a month each, per deployment), Cloud Scheduler jobs, egress, free tiers.")
    record("cost: US$ per 1,000 users per month", f"US$ {total:.2f}",
           f"minimum US$ {floor:.2f}", total / floor,
           f"{workload.changes:g} changes/user/day, vacation every {workload.vacation_interval}"
           f" s; fixed per-user costs {fixed_usd / total:.0%}")
    return total, floor


def main(argv: list[str] | None = None) -> None:
    defaults = Workload()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    workload = Workload(**{name: getattr(args, name) for name in vars(defaults)})
    report(workload, run(workload))


if __name__ == "__main__":
    main()
