"""A user's own text between our delimiters is theirs unless the event carries our markers.

Users copy descriptions from one event to another, delimiters and all; only an event we wrote
(its private ``hybridcal_hash`` marker) holds a block of ours. Without the markers the text
between the delimiters is the user's, and a sync must leave it exactly as it is.
"""

from __future__ import annotations

import pytest

from shared.keyword import joinblock
from tests.shared.changes.processing_helpers import create, event_body, get

pytestmark = pytest.mark.integration

ANNA = "anna@example.com"


@pytest.mark.parametrize("pasted", [
    "My dial-in notes: call the front desk first",
    "Old link, do not use: https://example.webex.com/meet/someone-else",
], ids=["plain-text", "with-a-link"])
def test_pasted_delimiters_without_our_markers_keep_the_users_text(stack, pasted) -> None:
    stack.add_user(ANNA)
    assert stack.activate(ANNA) == "active"
    description = f"Agenda: budget\n\n{joinblock.BEGIN}\n{pasted}\n{joinblock.END}\nThanks!"

    event, calls = create(stack, ANNA, event_body("Budget", "Room 4", stack=stack,
                                                  description=description))

    mine = get(stack, ANNA, event["id"])
    assert mine["description"] == description
    assert calls["calendar.events.patch"] == 0
    assert mine["location"] == "Room 4"
    assert "extendedProperties" not in mine
