"""An overloaded intake must not lose a push (#19 item 7).

Google retries a push only when it is answered 500, 502, 503 or 504 (Calendar guide "Push
notifications"); any other failure loses it. So whenever intake cannot take a push in (its
store or Pub/Sub busy, or a failure it did not expect), it answers one of those, and the
simulator, which retries exactly those, brings the push back.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.bus.base import Topics
from shared.errors import TransientError
from tests.shared.changes.processing_helpers import activate, event_body, get

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"


def _failing_publish(stack: Any, monkeypatch: Any, exc: Exception, times: int) -> list[int]:
    """Intake's publish fails ``times`` times (Pub/Sub overloaded); returns the count left."""
    left = [times]
    publish = stack.bus.publish

    def flaky(topic: str, data: dict[str, Any], **kwargs: Any) -> Any:
        if topic == Topics.CALENDAR_CHANGES and "channel_id" in data and left[0]:
            left[0] -= 1
            raise exc
        return publish(topic, data, **kwargs)

    monkeypatch.setattr(stack.bus, "publish", flaky)
    return left


@pytest.mark.parametrize("failure", [TransientError("pubsub busy"),
                                     RuntimeError("unexpected backend failure")],
                         ids=["transient", "unexpected"])
def test_a_push_intake_could_not_take_in_is_answered_for_a_retry_and_not_lost(
        stack, monkeypatch, failure):
    stack.add_user(ANNA)
    assert activate(stack, ANNA) == "active"
    stack.settle()
    left = _failing_publish(stack, monkeypatch, failure, times=2)

    event = stack.calendar(ANNA).events().insert(calendarId="primary", body=event_body(
        "Review", "@webex", stack=stack)).execute()
    stack.settle()  # delivery fails twice; Google's backoff brings it back a third time

    assert left == [0]
    assert stack.sim.push_failures == []  # every failure was one Google retries
    assert "webex.com" in get(stack, ANNA, event["id"])["location"]
