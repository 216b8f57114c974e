"""Sync tokens through the embedded stack (#19, "Sync token"): what a user notices when
Google's listing ends without a token, or a release lists with other parameters."""

from __future__ import annotations

from typing import Any

import pytest

from shared.bus.base import Topics
from tests.shared.changes.processing_helpers import activate, create, event_body, get

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"


def _sync_doc(stack: Any) -> dict[str, Any]:
    return stack.services.store.get("sync", stack.services.pseudonym(ANNA)) or {}


def test_a_listing_without_a_sync_token_is_retried_not_stored_as_none(stack):
    """Before: None was stored, and every later push silently cost a full sync."""
    stack.add_user(ANNA)
    stack.faults.omit_next_sync_token()
    assert activate(stack, ANNA) == "active"
    stack.settle()
    assert stack.faults.injected["omit_sync_token"] == 1
    state = _sync_doc(stack)
    assert state["sync_token"] and state["listed_from"]  # the retried sync committed
    full_at = state["last_full_sync"]

    stack.advance(seconds=60)
    event, _ = create(stack, ANNA, event_body("Review", "@webex", stack=stack))
    assert "webex.com" in get(stack, ANNA, event["id"])["location"]
    assert _sync_doc(stack)["last_full_sync"] == full_at  # the push cost an incremental list
    assert stack.bus.published(Topics.dead_letter(Topics.CALENDAR_CHANGES)) == []


def test_a_release_that_lists_differently_resyncs_instead_of_reusing_the_token(
        stack, monkeypatch):
    """The simulator refuses a token used with other list parameters; without the recorded
    parameters every round of the user failed on it."""
    from shared.google import calendar

    stack.add_user(ANNA)
    assert activate(stack, ANNA) == "active"
    stack.settle()
    before = _sync_doc(stack)

    monkeypatch.setattr(calendar, "LIST_PARAMS", {**calendar.LIST_PARAMS, "showDeleted": True})
    stack.advance(seconds=60)
    event, _ = create(stack, ANNA, event_body("Review", "@webex", stack=stack))

    assert "webex.com" in get(stack, ANNA, event["id"])["location"]
    after = _sync_doc(stack)
    assert after["last_full_sync"] != before["last_full_sync"]
    assert after["sync_params"] != before["sync_params"]
    assert stack.bus.published(Topics.dead_letter(Topics.CALENDAR_CHANGES)) == []
