"""Google Cloud list prices the cost figures use: one table, with when and where they were read.

Region: infra/ deploys functions, Scheduler and KMS in ``var.region`` (default ``us-central1``,
a Tier 1 Cloud Run region) and Firestore in ``var.firestore_location`` (default ``nam5``, the
United States multi-region). Prices beyond the free tiers, in US$, no committed-use discounts.
Free tiers are left out on purpose: a tenant of 1,000 users or more spends them in days, and
they are per billing account, shared with everything else the tenant runs.

Taken 2026-11-30 with the project's search tool over stored copies of Google's pricing pages
(the figures were not re-checked on the live pages; check them before quoting a customer):

- Firestore (nam5): the stored copies of https://cloud.google.com/firestore/pricing list the
  prices per location in a table the copies did not keep; the multi-region figures ($0.06 /
  $0.18 / $0.02 per 100,000 reads / writes / deletes) are the ones the same page listed for
  multi-region locations when it still printed them inline. Regional US locations (e.g.
  us-central1) cost half ($0.03 / $0.09 / $0.01). Marked "unverified" in the table below.
- Pub/Sub: https://cloud.google.com/pubsub/pricing — throughput (publish and delivery alike)
  $40 per TiB; at least 1,000 bytes per publish, push or pull request.
- Cloud Run functions (2nd gen, request-based billing, Tier 1):
  https://cloud.google.com/run/pricing — $0.000024 per vCPU-second, $0.0000025 per
  GiB-second, $0.40 per million requests; instance time rounded up to 100 ms.
- Cloud KMS: https://cloud.google.com/kms/pricing (prices effective 2025-03-17) — $0.03 per
  10,000 cryptographic operations on SOFTWARE keys; $0.06 per active key version per month.
"""

from __future__ import annotations

from dataclasses import dataclass

TAKEN = "2026-11-30"
TIB = 2**40


@dataclass(frozen=True)
class Price:
    product: str
    unit: str
    usd: float  # per unit
    source: str
    note: str = ""


PRICES: dict[str, Price] = {
    "firestore.reads": Price("Firestore", "document read", 0.06 / 100_000,
                             "https://cloud.google.com/firestore/pricing",
                             "nam5; unverified (see module docstring)"),
    "firestore.writes": Price("Firestore", "document write", 0.18 / 100_000,
                              "https://cloud.google.com/firestore/pricing",
                              "nam5; unverified (see module docstring)"),
    "firestore.deletes": Price("Firestore", "document delete", 0.02 / 100_000,
                               "https://cloud.google.com/firestore/pricing",
                               "nam5; unverified (see module docstring)"),
    "pubsub.bytes": Price("Pub/Sub", "byte of throughput", 40 / TIB,
                          "https://cloud.google.com/pubsub/pricing",
                          ">= 1,000 bytes per publish/push request"),
    "kms.calls": Price("Cloud KMS", "cryptographic operation", 0.03 / 10_000,
                       "https://cloud.google.com/kms/pricing", "SOFTWARE protection level"),
    "functions.invocations": Price("Cloud Run functions", "request", 0.40 / 1_000_000,
                                   "https://cloud.google.com/run/pricing", "Tier 1"),
    "functions.vcpu_seconds": Price("Cloud Run functions", "vCPU-second", 0.000024,
                                    "https://cloud.google.com/run/pricing",
                                    "Tier 1, CPU allocated during requests"),
    "functions.gib_seconds": Price("Cloud Run functions", "GiB-second", 0.0000025,
                                   "https://cloud.google.com/run/pricing", "Tier 1"),
}
# Memory each function instance is given (infra/functions.tf; GiB). An entry point deployed
# twice gets its larger size.
MEMORY_GIB = {"intake_push": 0.5, "process_changes": 1.0, "renew_watches": 0.5,
              "poll_vacations": 0.5, "dispatch_join_notifications": 0.5,
              "provision_users": 0.5, "meetings_api": 1.0}

OPERATIONS = ("firestore.reads", "firestore.writes", "firestore.deletes", "pubsub.bytes",
              "kms.calls", "functions.invocations")


def operations_usd(counts: dict[str, float]) -> float:
    """US$ of the counted operations (no function time: that has no derivable minimum)."""
    return sum(counts.get(key, 0) * PRICES[key].usd for key in OPERATIONS)


def function_time_usd(counts: dict[str, float]) -> float:
    """US$ of function time: billed seconds (each request's wall time rounded up to 100 ms,
    as if alone on its instance: an upper bound when instances run requests concurrently) at
    1 vCPU and the instance's memory."""
    usd = 0.0
    for key, seconds in counts.items():
        if key.startswith("functions.billed_seconds:"):
            target = key.split(":", 1)[1]
            usd += seconds * (PRICES["functions.vcpu_seconds"].usd
                              + MEMORY_GIB.get(target, 1.0) * PRICES["functions.gib_seconds"].usd)
    return usd


def by_product(counts: dict[str, float]) -> dict[str, float]:
    """US$ per product."""
    result: dict[str, float] = {}
    for key in OPERATIONS:
        product = PRICES[key].product
        result[product] = result.get(product, 0.0) + counts.get(key, 0) * PRICES[key].usd
    result["Cloud Run functions"] = (result.get("Cloud Run functions", 0.0)
                                     + function_time_usd(counts))
    return result
