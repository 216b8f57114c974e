"""``CloudStack.billing()``: the bill of the deployed topology, collected from every instance.

Each function process counts its own Firestore, Pub/Sub and KMS operations; the fronts count
invocations and push deliveries; the harness reads each instance's CPU from /proc. A keyword
change must show up in all of them, in the functions that did the work (#20).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.billing import KEYS
from shared.clock import to_rfc3339

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARLA = "carla@example.com"


def test_a_keyword_change_is_billed_in_the_functions_that_did_it(cloud) -> None:
    cloud.add_user(CARLA)
    assert cloud.activate(CARLA) == "active"
    before = cloud.billing()
    assert set(KEYS) <= set(before)
    start = cloud.now() + timedelta(hours=2)
    cloud.calendar(CARLA).events().insert(calendarId="primary", body={
        "summary": "Planning", "location": "@webex",
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    cloud.settle()
    spent = cloud.billing()
    spent.subtract(before)
    assert cloud.api_calls()["calendar.events.patch"] >= 1
    assert spent["functions.invocations:intake-push"] >= 2  # the change and our patch's echo
    assert spent["functions.invocations:process-changes"] >= 2
    assert spent["functions.cpu_seconds:process-changes"] > 0
    # instance time: the spells each instance had a request in flight, in 100 ms steps
    billed = spent["functions.billed_seconds:process-changes"]
    assert billed >= 0.1 and abs(billed * 10 - round(billed * 10)) < 1e-6
    assert spent["functions.billed_seconds:provision-users"] == 0  # it did none of this work
    assert spent["firestore.reads"] > 0 and spent["firestore.writes"] > 0
    assert spent["firestore.reads:channels"] >= 2  # intake_push checks each push's channel
    assert spent["kms.calls"] >= 1  # the user's first data key, wrapped by Cloud KMS
    assert spent["pubsub.messages:calendar-changes"] >= 2
    assert spent["pubsub.deliveries"] >= spent["pubsub.messages:calendar-changes"]
    assert spent["pubsub.bytes"] >= 1000 * (spent["pubsub.messages"] + spent["pubsub.deliveries"])


def _change_bill(stack, email: str) -> dict[str, float]:
    """What one ordinary change costs once ``email`` is active and past its first keyword."""
    for summary, location in (("warm-up", "@webex"), ("plain", "")):
        before = stack.billing()
        start = stack.now() + timedelta(hours=3)
        stack.calendar(email).events().insert(calendarId="primary", body={
            "summary": summary, "location": location,
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
        stack.settle()
    spent = stack.billing()
    spent.subtract(before)
    return {key: spent[key] for key in ("firestore.reads", "firestore.writes",
                                        "firestore.deletes", "pubsub.messages",
                                        "pubsub.bytes", "functions.invocations")}


def test_both_harnesses_bill_an_ordinary_change_alike(cloud, tmp_path) -> None:
    """The embedded stack's counts are the cost model's: the deployed topology, counted in ten
    processes, must agree with them for the same work."""
    from local import LocalStack

    email = "dora@example.com"
    cloud.add_user(email)
    assert cloud.activate(email) == "active"
    deployed = _change_bill(cloud, email)
    with LocalStack(data_dir=tmp_path / "embedded") as embedded:
        embedded.add_user(email)
        assert embedded.activate(email) == "active"
        local = _change_bill(embedded, email)
    # message ids and pseudonyms differ in length between the two (the emulator's ids are
    # longer), so a message above the 1,000-byte minimum differs by a few bytes
    assert abs(deployed.pop("pubsub.bytes") - local.pop("pubsub.bytes")) <= 200
    assert deployed == local
