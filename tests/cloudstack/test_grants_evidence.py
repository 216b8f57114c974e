"""Every grant infra/ gives a function is one its code was seen to use, and none is missing.

The expectations are not a list kept by hand (the first one locked in missing grants, issue
18), nor read off the source: they are what the function processes *did*. One tour through
every feature on the deployed topology records each binding that let a call through
(``Policy.exercised``: publishing, signing as the delegated account, KMS encrypt/decrypt, secret
access when an instance starts):

- an admin's synchronous and queued (above 50) activations, a room, deactivation;
- a keyword event with the room invited; the meetings list as a user and as the room's device;
  free/busy; a join notification; the vacation responder; reconciliation and renewal; a push
  for a channel nobody knows;
- the dead-letter path of every consumer but one (``EMULATOR_GAP``): with the grant for what it
  publishes taken away, the work fails, is retried, and the handler moves the message to its
  topic's dead-letter topic (with its own publisher grant there) instead of losing it.

Then, for each function's service account, every binding Terraform gives it was exercised (a
grant the code never uses is one too many), and nothing was refused but what the test took
away.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
import requests

from shared.clock import to_rfc3339
from tests.cloudstack.scenarios import active, insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN, LATE = "ann@example.com", "late@example.com"
SAM = "sam@example.com"
ROOM = "room-9@example.com"
PUBLISHER = "roles/pubsub.publisher"
# Grants the tour cannot exercise, and why.
NOT_EXERCISED_HERE = {
    # Firestore: the emulator checks no IAM; CloudStack checks the grant once, at deployment.
    "roles/datastore.user",
}
# The one consumer whose dead-letter path is not toured (see the workers phase): the same
# _events.handle code path as every other consumer's, which the tour does exercise.
EMULATOR_GAP = "watch-renewals"


def _sa(cloud, key: str) -> str:
    return f"serviceAccount:{cloud.functions[key].service_account}"


def _starve(cloud, grants: dict[str, str]) -> None:
    """Take away each function's publisher grant on one topic (function key -> topic)."""
    for key, topic in grants.items():
        resource = f"projects/{cloud.project}/topics/{topic}"
        assert cloud.policy.revoke(_sa(cloud, key), PUBLISHER, resource) == 1, (key, topic)


def _handler_dead_letters(cloud) -> set[str]:
    """Topics whose consumer's handler moved a message to the dead-letter topic itself."""
    return {m.topic.removesuffix("-dead-letter") for m in cloud.ledger.published
            if m.topic.endswith("-dead-letter") and "source_message_id" in m.attributes}


def test_every_grant_of_every_function_is_used_and_none_is_missing(cloud) -> None:
    # The dead-letter phase waits for the emulator's real-time push retries (five attempts,
    # backoff growing towards a minute); on a loaded machine a gap can pass the default 120 s.
    cloud.settle_timeout = 360
    plan = list(cloud.policy.bindings)
    active(cloud, ANN)
    cloud.add_room(ROOM, "Room 9")
    assert cloud.activate_workspace(ROOM) == "active"

    # intake-push, process-changes: a keyword event with the room invited
    insert(cloud, ANN, "Design review", "@webex", start=cloud.now() + timedelta(minutes=12),
           attendees=[{"email": ROOM}])
    cloud.settle()

    # meetings-api: a user with an ID token, the room's device with a token from the secret
    api = cloud.url("meetings_api")
    user = {"Authorization": f"Bearer {cloud.api_token(f'user:{ANN}')}"}
    device = {"Authorization": f"Bearer {cloud.api_token(f'device:{ROOM}')}"}
    mine = requests.get(f"{api}/users/{ANN}/meetings", timeout=60, headers=user)
    board = requests.get(f"{api}/users/{ROOM}/meetings", timeout=60, headers=device)
    free = requests.post(f"{api}/freebusy", timeout=60, headers=user, json={
        "users": [ANN, ROOM], "from": to_rfc3339(cloud.now()),
        "to": to_rfc3339(cloud.now() + timedelta(hours=4)), "duration_minutes": 30})
    assert (mine.status_code, board.status_code, free.status_code) == (200, 200, 200)
    assert [m["title"] for m in board.json()["meetings"]] == ["Design review"]

    # dispatch-joins, poll-vacations, vacation-worker
    cloud.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away"}).execute()
    cloud.use_jobs({"join-notifications", "poll-vacations"})
    cloud.advance(minutes=15)
    assert cloud.messages("join-notifications") and cloud.messages("presence-updated")

    # intake-push: a push for a channel nobody knows asks for the orphan to be stopped
    orphan = requests.post(cloud.url("intake_push"), timeout=60, headers={
        "X-Goog-Channel-ID": str(uuid.uuid4()), "X-Goog-Resource-ID": "orphan-resource",
        "X-Goog-Resource-State": "exists", "X-Goog-Message-Number": "7",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events"})
    assert orphan.status_code == 200
    cloud.settle()
    assert cloud.messages("watch-renewals")

    # renew-watches, renew-watches-worker: reconciliation (6-hourly), then renewal (a day
    # before the channels' seven days end)
    # renew-watches-worker also revalidates: a user refused while suspended and reinstated is
    # validated again by the renew tick, and the worker queues the user's initial sync
    cloud.add_user(SAM, suspended=True)
    assert cloud.activate(SAM) == "error"
    cloud.sim.set_suspended(SAM, False)
    cloud.use_jobs({"renew-watches"})
    syncs = len(cloud.messages("calendar-changes"))
    cloud.advance(days=6, hours=1)
    assert cloud.user_status(SAM)["status"] == "active"
    assert len(cloud.messages("calendar-changes")) > syncs
    assert cloud.api_calls()["calendar.events.watch"] >= 4  # two first watches, two renewals

    # provision-users queues a batch above 50 on provisioning-jobs; the worker activates it
    batch = [f"batch{i:02d}@example.com" for i in range(51)]
    for email in batch:
        cloud.add_user(email)
    assert cloud.activate_all(batch).get("queued") == len(batch)
    assert {cloud.user_status(e)["status"] for e in batch} == {"active"}
    for part in (batch[:50], batch[50:]):  # fewer users for the ticks below
        cloud.admin_call("POST", "/users:deactivate", {"emails": part})
    cloud.settle()

    # The dead-letter path of the tick consumers: their output publish refused.
    cloud.use_jobs(())
    # The channels' renewal is due again (renew-watches publishes watch-renewals only for work
    # its worker does: renewals, revalidations, orphans; reconciliation syncs it publishes on
    # calendar-changes itself, and that grant stays in the plan here).
    cloud.clock.advance(6 * 86400 + 3600)
    insert(cloud, ANN, "Standup", "https://example.webex.com/meet/ann",
           start=cloud.now() + timedelta(minutes=3))
    cloud.settle()
    ticks = {"dispatch-joins": "join-notifications", "poll-vacations": "vacation-shards",
             "renew-watches": "watch-renewals"}
    _starve(cloud, ticks)
    for job in ("join-notifications", "poll-vacations", "renew-watches"):
        cloud.tick(job)
    cloud.policy.bindings = list(plan)

    # ... and of the workers: each message fails until the handler moves it aside.
    # (Not renew-watches-worker: with its publish refused, Google's Pub/Sub emulator stopped
    # redelivering its watch-renewals messages after the third attempt in two runs of four, so
    # its dead-letter grant is the one listed in EMULATOR_GAP below.)
    workers = {"process-changes": "meetings-updated", "provisioning-worker": "calendar-changes",
               "vacation-worker": "presence-updated"}
    _starve(cloud, workers)
    cloud.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": False}).execute()
    insert(cloud, ANN, "Retro", "https://example.webex.com/meet/ann",
           start=cloud.now() + timedelta(days=2))
    cloud.add_user(LATE)
    cloud.inject("provisioning-jobs", json.dumps({"emails": [LATE]}).encode())
    cloud.tick("poll-vacations")
    cloud.policy.bindings = list(plan)
    refused = {(d.function, d.permission, d.resource.rsplit("/", 1)[-1])
               for d in cloud.iam_denials()}
    assert refused == {(key, "pubsub.topics.publish", topic)
                       for key, topic in {**ticks, **workers}.items()}
    cloud.policy.clear_denials()

    # provision-users: deactivation (no KMS: shredding deletes data keys)
    assert cloud.deactivate(ANN) == "deactivated"

    assert cloud.iam_denials() == []
    consumers = {s.topic for s in cloud.ledger.subscriptions.values()}
    assert _handler_dead_letters(cloud) == consumers - {EMULATOR_GAP}
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for binding in cloud.policy.exercised():
        used[binding.member].add((binding.role, binding.resource))
    unused = {}
    for key in cloud.functions:
        granted = {(b.role, b.resource) for b in plan if b.member == _sa(cloud, key)
                   and b.role not in NOT_EXERCISED_HERE
                   and b.resource != f"projects/{cloud.project}/topics/{EMULATOR_GAP}-dead-letter"}
        if granted - used[_sa(cloud, key)]:
            unused[key] = sorted(granted - used[_sa(cloud, key)])
    assert unused == {}, ("grants no scenario needed (too many, or the tour missed a path):\n"
                          + json.dumps(unused, indent=1))
