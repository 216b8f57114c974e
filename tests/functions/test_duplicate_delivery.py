"""Pub/Sub delivers at least once: a message whose acknowledgement was lost arrives again, with
the same message id, after the first delivery finished its work. Nothing a user sees may
happen twice because of it: no second patch, no second ``meetings-updated`` for the same
change, no second join notification, no second presence update, no second channel.

Each test lets the handler finish and marks the message done, then kills the instance before
the acknowledgement (the ``handler.before_ack`` failpoint), so the bus redelivers exactly that
message. ``functions/_events.py`` keeps no record of handled message ids (issue #20: a claim
per message cost a Firestore read and write on every invocation); these tests are what shows
that is safe, because every handler is idempotent on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from shared import failpoints
from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.crypto.sealer import open_published
from shared.keys.local import LocalKeysetKek
from tests.shared.changes.processing_helpers import event_body, get

pytestmark = pytest.mark.integration

ANN = "ann@example.com"
URL = "https://example.webex.com/meet/ann"


class LoseAckOnce:
    """The first ``target`` invocation that finished while ``when()`` holds loses its ack."""

    def __init__(self, stack: Any, target: str, when: Callable[[], bool]) -> None:
        self.stack, self.target, self.when = stack, target, when
        self.lost = False

    def __call__(self, point: str) -> None:
        if self.lost or point != "handler.before_ack":
            return
        if self.stack.crash_injector.current == self.target and self.when():
            self.lost = True
            raise failpoints.SimulatedCrash(point)


def lose_ack_once(stack: Any, target: str, when: Callable[[], bool]) -> LoseAckOnce:
    stack.crash_handlers(0.0)  # deliveries are watched; nothing crashes at random
    lost = LoseAckOnce(stack, target, when)
    failpoints.install(lost)
    return lost


@pytest.fixture
def ann(stack) -> Iterator[Any]:
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    yield stack


def _sync_state(stack: Any) -> dict[str, Any]:
    return stack.services.store.get("sync", stack.services.pseudonym(ANN)) or {}


def _index_updates(stack: Any, event_id: str) -> list[dict[str, Any]]:
    """Every change to ``event_id`` the app was sent, opened as the app opens them."""
    kek = LocalKeysetKek(stack.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    key = f"{stack.services.pseudonym(ANN)}|{event_id}"
    return [change for message in stack.published(Topics.MEETINGS_UPDATED)
            for change in open_published(message, kek)["changes"] if change["key"] == key]


def _keyword_event(stack: Any) -> dict[str, Any]:
    return stack.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "@webex", stack=stack, start_in_hours=5)).execute()


def _patched_once_and_sent_once(stack: Any, event_id: str, patches_before: int) -> None:
    assert get(stack, ANN, event_id)["location"] == URL
    assert stack.api_calls()["calendar.events.patch"] - patches_before == 1
    updates = _index_updates(stack, event_id)
    assert [(u["op"], u["record"]["join_url"]) for u in updates] == [("upsert", URL)]


def test_a_duplicated_push_message_patches_once_and_updates_the_app_once(ann) -> None:
    # The push's sync committed (the state records its listing) and the push lost its ack.
    lost = lose_ack_once(ann, "process_changes", lambda: bool(_sync_state(ann).get("listed_from")))
    patches = ann.api_calls()["calendar.events.patch"]

    event = _keyword_event(ann)
    ann.settle()

    assert lost.lost
    _patched_once_and_sent_once(ann, event["id"], patches)


def test_a_duplicated_sync_message_patches_once_and_updates_the_app_once(ann) -> None:
    def patched() -> bool:
        return any(URL in (e.get("location") or "") for e in ann.sim.events_of(ANN))

    lost = lose_ack_once(ann, "process_changes", patched)
    patches = ann.api_calls()["calendar.events.patch"]

    event = _keyword_event(ann)
    ann.settle()

    assert lost.lost
    _patched_once_and_sent_once(ann, event["id"], patches)


def test_a_duplicated_notification_tick_notifies_once(ann) -> None:
    def sent() -> int:
        return len(ann.published(Topics.JOIN_NOTIFICATIONS))

    lost = lose_ack_once(ann, "dispatch_join_notifications", lambda: sent() > 0)
    start = ann.now() + timedelta(minutes=8)
    ann.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": "Standup", "location": "@webex", "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=15))}}).execute()
    ann.settle()

    ann.advance(minutes=8)

    assert lost.lost
    assert sent() == 1


def test_a_duplicated_vacation_shard_updates_presence_once(ann) -> None:
    def updates() -> list[dict[str, Any]]:
        return ann.published(Topics.PRESENCE_UPDATED)

    lost = lose_ack_once(ann, "poll_vacations", lambda: len(updates()) > 0)
    ann.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away",
        "responseBodyPlainText": "Back soon"}).execute()

    ann.advance(seconds=ann.services.config.vacation_interval_seconds)

    assert lost.lost
    assert [u["status"] for u in updates()] == ["out_of_office"]
    assert ann.presence(ANN)["status"] == "out_of_office"


def test_a_duplicated_renewal_opens_one_new_channel(tmp_path) -> None:
    from local import LocalStack

    with LocalStack(data_dir=tmp_path / "data", scheduler=False) as stack:
        stack.add_user(ANN)
        assert stack.activate(ANN) == "active"
        def watches() -> int:
            return stack.api_calls()["calendar.events.watch"]

        lost = lose_ack_once(stack, "renew_watches", lambda: watches() == 2)
        stack.clock.advance(timedelta(days=6, hours=12).total_seconds())

        stack.tick(Topics.RENEW_TICK)

        assert lost.lost
        assert watches() == 2  # activation's channel and one renewal
        live = [c for c in stack.sim.channels() if c["calendar"] == ANN and not c["stopped"]]
        assert len(live) == 1


def test_a_duplicated_provisioning_job_activates_each_user_once(stack) -> None:
    from shared.users.admin_api import SYNC_LIMIT

    emails = [f"user{n}@example.com" for n in range(SYNC_LIMIT + 1)]  # queued, not inline
    for email in emails:
        stack.add_user(email)
    def statuses() -> set[str]:
        return {stack.user_status(e)["status"] for e in emails}

    lost = lose_ack_once(stack, "process_changes", lambda: statuses() == {"active"})

    answer = requests.post(stack.url("provision_users") + "/users:activate", timeout=30,
                           json={"emails": emails},
                           headers={"Authorization": f"Bearer {stack.admin_token}"})
    stack.settle()

    assert answer.status_code == 202
    assert lost.lost
    assert statuses() == {"active"}
    assert stack.api_calls()["calendar.events.watch"] == len(emails)  # one channel each
