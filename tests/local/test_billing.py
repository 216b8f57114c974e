"""``stack.billing()``: what Google would bill for the work the stack did (issue #20).

The counts are an operator's bill, so they must move with the work: a keyword change reaches
intake_push and process_changes, seals its record (a KMS operation the first time a data key is
made), writes the index and publishes; every Pub/Sub request is billed at least 1,000 bytes.
"""

from __future__ import annotations

from datetime import timedelta

from shared.billing import KEYS
from shared.clock import to_rfc3339


def _event(stack, email: str, summary: str, location: str = "") -> None:
    start = stack.now() + timedelta(hours=2)
    stack.calendar(email).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()
    stack.settle()


def test_billing_counts_every_billed_kind_of_a_keyword_change(stack):
    stack.add_user("alice@example.com")
    assert stack.activate("alice@example.com") == "active"
    before = stack.billing()
    assert set(KEYS) <= set(before)
    _event(stack, "alice@example.com", "Review", "@webex")
    spent = stack.billing()
    spent.subtract(before)
    assert spent["functions.invocations:intake_push"] >= 2  # the change and our patch's echo
    assert spent["functions.invocations:process_changes"] >= 2
    assert spent["functions.invocations"] == sum(
        n for key, n in spent.items() if key.startswith("functions.invocations:"))
    assert spent["functions.cpu_seconds"] > 0
    assert spent["firestore.reads"] > 0 and spent["firestore.writes"] > 0
    assert spent["kms.calls"] >= 1  # the user's first data key is wrapped by the KEK
    assert spent["pubsub.messages"] >= 2  # calendar-changes and meetings-updated at least
    # each publish and each push delivery is a request billed at least 1,000 bytes
    requests = spent["pubsub.messages"] + spent["pubsub.deliveries"]
    assert spent["pubsub.bytes"] >= 1000 * requests


def test_a_push_for_a_change_nothing_indexes_costs_less_than_a_keyword_change(stack):
    stack.add_user("alice@example.com")
    assert stack.activate("alice@example.com") == "active"
    _event(stack, "alice@example.com", "warm-up", "@webex")  # the data key exists from here on
    before = stack.billing()
    _event(stack, "alice@example.com", "Plain")
    plain = stack.billing()
    plain.subtract(before)
    before = stack.billing()
    _event(stack, "alice@example.com", "Keyword", "@webex")
    keyword = stack.billing()
    keyword.subtract(before)
    assert stack.api_calls()["calendar.events.patch"] == 2
    assert plain["functions.invocations:intake_push"] == 1  # no patch, so no echo push
    assert keyword["functions.invocations:intake_push"] == 2
    assert keyword["firestore.writes"] > plain["firestore.writes"]


def test_instance_time_is_billed_in_whole_100_ms_steps_rounded_up():
    from shared.billing import billed_instance_seconds

    assert billed_instance_seconds(0.0) == 0.1  # a request too short to measure: one step
    assert billed_instance_seconds(0.1) == 0.1
    assert billed_instance_seconds(0.101) == 0.2
    assert abs(billed_instance_seconds(0.25) - 0.3) < 1e-9
    assert abs(billed_instance_seconds(1.0) - 1.0) < 1e-9  # not 1.1 from float error
