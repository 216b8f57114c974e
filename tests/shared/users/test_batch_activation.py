"""5,000 users activated in one call: queued in batches, progress visible, every user ends
validated and watched. The slowest test of the suite (about a minute): its own file, so
``pytest -n 2 --dist loadfile`` runs it beside everything else."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

USERS = 5000


def _get(stack, path, **params):
    return requests.get(stack.url("provision_users") + path, params=params, timeout=30,
                        headers={"Authorization": f"Bearer {stack.admin_token}"})


def _count(stack, status):
    total, token = 0, None
    while True:
        page = _get(stack, "/users", status=status, **({"page_token": token} if token else {}))
        assert page.status_code == 200
        body = page.json()
        total += len(body["users"])
        token = body.get("next_page_token")
        if not token:
            return total


@pytest.fixture
def stack(tmp_path):
    from local import LocalStack

    # Only the renewal tick matters here (it retries users that met the quota); a vacation
    # tick would poll 5,000 mailboxes.
    with LocalStack(data_dir=tmp_path / "data", scheduler=False) as running:
        yield running


def _retry_quota_hits(stack):
    """Users that met Google's per-minute quota are pending; the renewal tick retries them."""
    from shared.bus.base import Topics

    for _ in range(10):
        if not _count(stack, "pending"):
            return
        stack.clock.advance(600)
        stack.tick(Topics.RENEW_TICK)


def test_five_thousand_users_in_one_call_are_activated_in_batches(stack):
    emails = [f"user{i:04d}@example.com" for i in range(USERS)]
    for email in emails:
        stack.add_user(email)
    stack.add_user("suspended@example.com", suspended=True)

    answer = requests.post(stack.url("provision_users") + "/users:activate",
                           json={"emails": [*emails, "suspended@example.com"]}, timeout=60,
                           headers={"Authorization": f"Bearer {stack.admin_token}"})

    assert answer.status_code == 202
    assert answer.json() == {"queued": USERS + 1, "batches": 51}
    assert _count(stack, "pending") == USERS + 1  # visible at once, before any work

    with pytest.raises(RuntimeError, match="did not settle"):
        stack.bus.drain(max_deliveries=3)  # a few batches later: progress shows in the listing
    progressed = _count(stack, "active")
    assert 0 < progressed < USERS
    assert _count(stack, "pending") == USERS + 1 - progressed - _count(stack, "error")

    stack.settle()
    _retry_quota_hits(stack)

    assert _count(stack, "active") == USERS
    assert _count(stack, "pending") == 0
    errors = _get(stack, "/users", status="error").json()["users"]
    assert [(u["email"], u["reason_code"]) for u in errors] == [
        ("suspended@example.com", "user_suspended")]
    watched = {c["calendar"] for c in stack.sim.channels() if not c["stopped"]}
    assert len(watched) == USERS
    # repeating the call changes nothing: active users are no-ops
    watches = stack.api_calls()["calendar.events.watch"]
    again = requests.post(stack.url("provision_users") + "/users:activate",
                          json={"emails": emails[:50]}, timeout=60,
                          headers={"Authorization": f"Bearer {stack.admin_token}"})
    assert set(again.json()["results"].values()) == {"active"}
    assert stack.api_calls()["calendar.events.watch"] == watches
