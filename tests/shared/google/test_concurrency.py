"""Issue #17: the Google clients under production concurrency.

Deployed, ``meetings_api`` serves 40 requests at once per instance and ``process_changes`` 8,
all through one process-wide :class:`~shared.google.factory.WorkspaceFactory`. These tests run
40 threads through the real google-auth + googleapiclient stack against the Workspace simulator
and check every answer against its own request: a shared ``httplib2.Http`` shows up as 5xx,
raw ``http.client`` errors, backoffs, or (worst) one request receiving another's body.

Threads start together behind a :class:`threading.Barrier`, never after a sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests

from local.workspace_sim import WorkspaceSimulator
from shared.clock import FakeClock, to_rfc3339
from shared.google.factory import WorkspaceFactory

pytestmark = pytest.mark.integration

THREADS = 40  # meetings_api's concurrency per instance
USERS = [f"u{n:02d}@example.com" for n in range(12)]
HOT = "hot@example.com"
EVENTS_PER_USER = 4
HOT_EVENTS = 40


@pytest.fixture
def sim() -> Iterator[WorkspaceSimulator]:
    # The fake clock never moves here, so the per-user quota is per test: raise it well above
    # what the tests send, so that any backoff seen below is the transport's fault.
    with WorkspaceSimulator(FakeClock(), user_quota_per_minute=100_000,
                            project_quota_per_minute=1_000_000) as running:
        for email in [*USERS, HOT]:
            running.add_user(email)
        yield running


@pytest.fixture
def backoffs() -> list[float]:
    """Every wait ``call_google`` asked for: one per transient failure it retried."""
    return []


@pytest.fixture
def factory(sim, backoffs) -> WorkspaceFactory:
    return WorkspaceFactory(api_endpoint=sim.url, token_uri=sim.token_uri,
                            service_account_info=sim.service_account_info,
                            sleep=backoffs.append)


def _body(summary: str, hours: int) -> dict[str, Any]:
    start = FakeClock().now() + timedelta(hours=hours)
    return {"summary": summary, "description": f"about {summary}",
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}


@pytest.fixture
def events(factory) -> dict[str, dict[str, str]]:
    """``{user: {event id: summary}}``, summaries naming their owner and number."""
    made: dict[str, dict[str, str]] = {}
    for user, count in [*((u, EVENTS_PER_USER) for u in USERS), (HOT, HOT_EVENTS)]:
        calendar = factory.calendar(user)
        made[user] = {}
        for n in range(count):
            summary = f"{user} #{n}"
            made[user][calendar.insert(_body(summary, n + 1))["id"]] = summary
    return made


def _run_together(tasks: list[Callable[[], Any]]) -> list[tuple[Any, BaseException | None]]:
    """Run ``tasks`` on ``THREADS`` threads, the first ``THREADS`` of them released at once
    (the pool then stays saturated); every task's ``(result, exception)``, in order."""
    barrier = threading.Barrier(min(THREADS, len(tasks)))

    def run(index: int) -> tuple[Any, BaseException | None]:
        if index < barrier.parties:
            barrier.wait(timeout=60)
        try:
            return tasks[index](), None
        except Exception as exc:  # collected and asserted on, never swallowed
            return None, exc

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(run, range(len(tasks))))


def _problems(outcomes: list[tuple[Any, BaseException | None]],
              expected: list[Callable[[Any], bool]]) -> dict[str, int]:
    failed = [type(exc).__name__ for _, exc in outcomes if exc is not None]
    wrong = sum(1 for (result, exc), ok in zip(outcomes, expected, strict=True)
                if exc is None and not ok(result))
    counts = {name: failed.count(name) for name in set(failed)}
    if wrong:
        counts["wrong body"] = wrong
    return counts


def test_concurrent_gets_each_answer_the_requested_event(sim, events, backoffs):
    """Many users and one hot user, 40 threads, 3 rounds, starting on a new factory (as a
    fresh instance would: clients built and tokens fetched under load): every body is the
    requested event, and each user's token was fetched once."""
    factory = WorkspaceFactory(api_endpoint=sim.url, token_uri=sim.token_uri,
                               service_account_info=sim.service_account_info,
                               sleep=backoffs.append)
    grants = sim.api_calls()["oauth.token"]
    tasks, expected = [], []
    for _ in range(3):
        for user, made in events.items():
            for event_id, summary in made.items():
                def get(user: str = user, event_id: str = event_id) -> dict[str, Any]:
                    return factory.calendar(user).get(event_id)

                tasks.append(get)
                expected.append(lambda body, event_id=event_id, summary=summary: (
                    body["id"] == event_id and body["summary"] == summary))

    outcomes = _run_together(tasks)

    assert _problems(outcomes, expected) == {}
    assert backoffs == []  # no 5xx, quota answer or network failure was retried either
    assert sim.api_calls()["oauth.token"] - grants == len(events)


def test_forty_first_requests_for_one_user_make_one_token_grant(sim, events, backoffs):
    """A user's client is built before its first token: 40 requests arriving together then
    share one grant (google-auth alone would refresh in each thread)."""
    factory = WorkspaceFactory(api_endpoint=sim.url, token_uri=sim.token_uri,
                               service_account_info=sim.service_account_info,
                               sleep=backoffs.append)
    calendar = factory.calendar(HOT)  # built, no token yet
    grants = sim.api_calls()["oauth.token"]
    made = list(events[HOT].items())

    outcomes = _run_together([lambda event_id=event_id: calendar.get(event_id)
                              for event_id, _ in made])

    assert _problems(outcomes, [lambda body, summary=summary: body["summary"] == summary
                                for _, summary in made]) == {}
    assert sim.api_calls()["oauth.token"] - grants == 1
    assert backoffs == []


def test_concurrent_patches_and_inserts_each_answer_their_own_write(factory, events, backoffs):
    """Writes from 40 threads, half on the hot user: each answer carries its own change."""
    tasks, expected = [], []
    for user, made in events.items():
        for event_id, summary in made.items():
            new = f"{summary} patched"

            def patch(user: str = user, event_id: str = event_id, new: str = new
                      ) -> dict[str, Any]:
                return factory.calendar(user).patch(event_id, {"summary": new}, etag=None)

            tasks.append(patch)
            expected.append(lambda body, event_id=event_id, new=new: (
                body["id"] == event_id and body["summary"] == new))
        for n in range(len(made)):
            summary = f"{user} new #{n}"

            def insert(user: str = user, summary: str = summary, hours: int = 50 + n
                       ) -> dict[str, Any]:
                return factory.calendar(user).insert(_body(summary, hours))

            tasks.append(insert)
            expected.append(lambda body, summary=summary: body["summary"] == summary)

    outcomes = _run_together(tasks)

    assert _problems(outcomes, expected) == {}
    assert backoffs == []
    calendar = factory.calendar(HOT)
    for event_id, summary in events[HOT].items():  # and Google holds what each one wrote
        assert calendar.get(event_id)["summary"] == f"{summary} patched"


# -- the whole service: meetings_api over HTTP on the embedded stack -----------------------------
ORGANIZER, GUEST = "org@example.com", "guest@example.com"


def test_forty_concurrent_rsvps_for_one_user_all_succeed(stack):
    """40 RSVPs at once for one user through ``meetings_api`` (each a get + an If-Match patch
    on that user's client): every one answers 200 with its own event, and every response
    reaches the organizer's copy."""
    stack.add_user(ORGANIZER)
    stack.add_user(GUEST)
    assert stack.activate(ORGANIZER) == "active"
    assert stack.activate(GUEST) == "active"
    organizer = stack.calendar(ORGANIZER)
    ids = [organizer.events().insert(calendarId="primary", body={
        **_body(f"Review {n}", n + 1), "attendees": [{"email": GUEST}]}).execute()["id"]
        for n in range(THREADS)]
    stack.settle()
    token = stack.api_token(f"user:{GUEST}")
    url = stack.url("meetings_api")

    def rsvp(event_id: str) -> Callable[[], tuple[int, Any]]:
        def call() -> tuple[int, Any]:
            answer = requests.post(f"{url}/users/{GUEST}/meetings/{event_id}:rsvp",
                                   json={"response": "accepted"}, timeout=60,
                                   headers={"Authorization": f"Bearer {token}"})
            return answer.status_code, answer.json()
        return call

    outcomes = _run_together([rsvp(event_id) for event_id in ids])

    answers = [type(exc).__name__ if exc else result[0] for result, exc in outcomes]
    assert {a: answers.count(a) for a in set(answers)} == {200: THREADS}
    assert [body["id"] for (_, body), _ in outcomes] == ids
    stack.settle()
    for event_id in ids:
        event = organizer.events().get(calendarId="primary", eventId=event_id).execute()
        assert [a["responseStatus"] for a in event["attendees"]] == ["accepted"]
