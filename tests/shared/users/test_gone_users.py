"""A user deleted or renamed in Google Workspace after activation (#19 item 4).

Google's token endpoint may answer ``400 invalid_request`` ('Invalid impersonation "sub"
field.') for such an address, besides ``invalid_grant``. It was retried as transient, then
dead-lettered, on every push and reconciliation, with the user still shown ``active``.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.bus.base import Topics

pytestmark = pytest.mark.integration

ANN = "ann@example.com"


def _reconcile(stack: Any, email: str) -> None:
    """The periodic reconciliation's sync message for the user, delivered now."""
    stack.services.bus.publish(Topics.CALENDAR_CHANGES, {
        "user_id": stack.services.pseudonym(email), "reason": "reconcile"},
        ordering_key=stack.services.pseudonym(email))
    stack.settle()


@pytest.mark.parametrize("how", ["deleted", "renamed"])
def test_a_gone_user_moves_to_error_with_a_reason_the_admin_can_act_on(stack, how):
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.settle()
    if how == "deleted":
        stack.sim.remove_user(ANN)
    else:
        stack.sim.rename_user(ANN, "ann.lee@example.com")
    stack.services.workspace.forget(ANN)  # the cached access token has run out
    token_calls = stack.api_calls()["oauth.token"]

    _reconcile(stack, ANN)

    status = stack.user_status(ANN)
    assert (status["status"], status["reason_code"]) == ("error", "user_not_found")
    assert "deleted or renamed" in status["reason"]
    assert "new primary Workspace email" in status["reason"]
    assert stack.bus.published(Topics.dead_letter(Topics.CALENDAR_CHANGES)) == []
    assert stack.api_calls()["oauth.token"] - token_calls == 1  # asked once, not retried
