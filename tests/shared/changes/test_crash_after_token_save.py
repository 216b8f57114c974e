"""The sync engine's promise (``shared/changes/sync.py``): the sync token is saved only after
the changes were processed and published, so an instance that dies mid-way replays them on
redelivery, and the app is told of every change whatever the moment of the crash.

The crash is put at the store write that saves the new sync token, the first moment a saved
token exists: whatever the handler had not done by then is lost for good, because the next
sync starts from that token and never lists the change again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from shared import failpoints
from shared.bus.base import Topics
from shared.keyword.event_patch import KEY_HASH, markers
from tests.shared.changes.processing_helpers import event_body, get

pytestmark = pytest.mark.integration

ANN = "ann@example.com"
URL = "https://example.webex.com/meet/ann"


class CrashOnce:
    """Kill the first ``process_changes`` invocation reaching ``point`` while ``when()``."""

    def __init__(self, stack, point: str, when: Callable[[], bool]) -> None:
        self.stack, self.point, self.when = stack, point, when
        self.crashed = False

    def __call__(self, point: str) -> None:
        if self.crashed or point != self.point:
            return
        if self.stack.crash_injector.current == "process_changes" and self.when():
            self.crashed = True
            raise failpoints.SimulatedCrash(point)


@pytest.fixture
def ann(stack) -> Iterator:
    stack.add_user(ANN)
    assert stack.activate(ANN) == "active"
    stack.crash_handlers(0.0)  # deliveries are watched; nothing crashes at random
    yield stack


def _sync_token(stack) -> str | None:
    return (stack.services.store.get("sync", stack.services.pseudonym(ANN)) or {}
            ).get("sync_token")


def _crash_right_after_the_token_is_saved(stack) -> CrashOnce:
    before = _sync_token(stack)
    assert before  # activation's full sync saved one
    crash = CrashOnce(stack, "store.after_write", lambda: _sync_token(stack) != before)
    failpoints.install(crash)
    return crash


def test_a_crash_right_after_the_sync_token_is_saved_still_patches_the_event(ann) -> None:
    crash = _crash_right_after_the_token_is_saved(ann)
    patches = ann.api_calls()["calendar.events.patch"]

    event = ann.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "@webex", stack=ann, start_in_hours=5)).execute()
    ann.settle()  # the crashed message is redelivered after its backoff

    assert crash.crashed
    mine = get(ann, ANN, event["id"])
    assert mine["location"] == URL
    assert markers(mine).get(KEY_HASH)
    assert ann.api_calls()["calendar.events.patch"] - patches == 1
    assert [(m["title"], m["join_url"]) for m in ann.meetings(ANN)] == [("Standup", URL)]


def test_a_crash_right_after_the_sync_token_is_saved_still_tells_the_app(ann) -> None:
    from shared.crypto.sealer import open_published
    from shared.keys.local import LocalKeysetKek

    kek = LocalKeysetKek(ann.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    crash = _crash_right_after_the_token_is_saved(ann)
    user_id = ann.services.pseudonym(ANN)
    published = len(ann.published(Topics.MEETINGS_UPDATED))

    event = ann.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "@webex", stack=ann, start_in_hours=5)).execute()
    ann.settle()

    assert crash.crashed
    keys = [change["key"] for message in ann.published(Topics.MEETINGS_UPDATED)[published:]
            for change in open_published(message, kek)["changes"]]  # as the app opens them
    assert f"{user_id}|{event['id']}" in keys


def _app_holds(stack, kek, event_id: str) -> dict | None:
    """What the app holds for ``event_id`` after applying every meetings-updated message."""
    from shared.crypto.sealer import open_published

    key = f"{stack.services.pseudonym(ANN)}|{event_id}"
    held = None
    for message in stack.published(Topics.MEETINGS_UPDATED):
        payload = open_published(message, kek)
        if payload.get("reset"):
            held = None
        for change in payload["changes"]:
            if change["key"] == key:
                held = change["record"] if change["op"] == "upsert" else None
    return held


def _indexed(stack) -> int:
    from shared.store import names
    from shared.store.base import Filter

    user_id = stack.services.pseudonym(ANN)
    return len(stack.services.store.query(names.MEETINGS, [Filter("user_id", "==", user_id)]))


@pytest.mark.parametrize("point", ["bus.after_publish", "store.after_write"])
def test_a_crash_around_the_index_write_still_tells_the_app(ann, point) -> None:
    """The sync publishes a page's changes before writing them: dying after the publish
    (record not written) replays and publishes again; dying after the write (record written,
    which a replay would find unchanged) comes after the app was told."""
    from shared.keys.local import LocalKeysetKek

    kek = LocalKeysetKek(ann.data_dir / "LOCAL-DEV-ONLY-kek.keyset.json")
    before = _indexed(ann)
    published = len(ann.published(Topics.MEETINGS_UPDATED))

    def when() -> bool:
        if point == "bus.after_publish":
            return len(ann.published(Topics.MEETINGS_UPDATED)) > published
        return _indexed(ann) > before

    crash = CrashOnce(ann, point, when)
    failpoints.install(crash)

    event = ann.calendar(ANN).events().insert(calendarId="primary", body=event_body(
        "Standup", "https://example.webex.com/meet/team", stack=ann,
        start_in_hours=5)).execute()
    ann.settle()

    assert crash.crashed
    held = _app_holds(ann, kek, event["id"])
    assert held is not None
    assert (held["title"], held["join_url"]) == ("Standup", "https://example.webex.com/meet/team")
    assert [m["title"] for m in ann.meetings(ANN)] == ["Standup"]
