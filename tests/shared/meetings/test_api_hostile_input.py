"""What a caller of the meetings API sees when the input or the caller is wrong: a clear 4xx,
never a 500, and (where the caller is fine but Google refused) a log line an admin can act on.

Issue #19: outsiders' ID tokens, deactivated callers, times at the ends of the calendar,
missing halves of a range, and quick-add text Google itself refuses.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import requests
from googleapiclient.errors import HttpError

from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN, BEN = "ann@example.com", "ben@example.com"
MEETINGS = f"/users/{ANN}/meetings"
FIELDS = {"title": "x", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}


def _call(stack: Any, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, stack.url("meetings_api") + path, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}, **kwargs)


def _freebusy(stack: Any) -> dict[str, Any]:
    start = stack.now() + timedelta(days=1)
    return {"users": [BEN], "from": to_rfc3339(start),
            "to": to_rfc3339(start + timedelta(hours=8))}


@pytest.fixture
def users(stack: Any) -> Any:
    for email in (ANN, BEN):
        stack.add_user(email)
        assert stack.activate(email) == "active"
    return stack


def test_an_outsiders_google_id_token_is_401_and_logged(users: Any, caplog: Any) -> None:
    stack = users
    audience = stack.services.config.api_audience
    caplog.set_level(logging.WARNING)
    for outsider in ("mallory@attacker.example", "eve@gmail.com", "ann@sub.example.com"):
        token = stack.sim.id_tokens.issue(outsider, audience)  # validly signed by "Google"
        for method, path, body in (("GET", f"/users/{outsider}/meetings", None),
                                   ("GET", f"/users/{ANN}/meetings", None),
                                   ("POST", "/freebusy", _freebusy(stack))):
            answer = _call(stack, method, path, token, json=body)
            assert answer.status_code == 401, (outsider, path, answer.text)
            assert "organisation's domains" in answer.json()["error"]["message"]
    assert [r for r in caplog.records if r.getMessage() == "security: ID token refused"]
    # the organisation's own user, same kind of token: accepted
    ann = stack.sim.id_tokens.issue(ANN, audience)
    assert _call(stack, "POST", "/freebusy", ann, json=_freebusy(stack)).status_code == 200


def test_a_deactivated_or_never_activated_user_cannot_ask_free_busy(users: Any) -> None:
    stack = users
    from shared.users.provisioning import deactivate

    stack.add_user("carl@example.com")  # in the domain, never activated
    audience = stack.services.config.api_audience
    for token in (stack.api_token(f"user:{ANN}"), stack.sim.id_tokens.issue(ANN, audience)):
        assert _call(stack, "POST", "/freebusy", token, json=_freebusy(stack)).status_code == 200
    deactivate(stack.services, ANN)
    stack.settle()
    before = stack.api_calls()["calendar.freebusy.query"]
    for token in (stack.api_token(f"user:{ANN}"), stack.sim.id_tokens.issue(ANN, audience),
                  stack.sim.id_tokens.issue("carl@example.com", audience)):
        answer = _call(stack, "POST", "/freebusy", token, json=_freebusy(stack))
        assert answer.status_code == 403, answer.text
        assert "active hybridcal users" in answer.json()["error"]["message"]
    assert stack.api_calls()["calendar.freebusy.query"] == before  # Google never asked


def test_google_refusing_to_act_as_the_user_is_a_403_with_a_logged_reason(
        users: Any, caplog: Any) -> None:
    stack = users
    token = stack.api_token(f"user:{ANN}")
    stack.sim.set_suspended(ANN, True)  # suspended in Workspace since activation
    stack.services.workspace.forget(ANN)  # as once the cached access token has expired
    caplog.set_level(logging.WARNING)

    for method, path, body in (("POST", "/freebusy", _freebusy(stack)),
                               ("POST", MEETINGS, {"text": "Lunch tomorrow 1pm"}),
                               ("POST", MEETINGS, FIELDS),
                               ("POST", f"{MEETINGS}/abc123:rsvp", {"response": "accepted"}),
                               ("DELETE", f"{MEETINGS}/abc123", None)):
        caplog.clear()
        answer = _call(stack, method, path, token, json=body)

        assert answer.status_code == 403, (path, answer.text)
        assert "Google refused access" in answer.json()["error"]["message"]
        assert "Google refused to act as the user" in [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(("method", "path", "kwargs", "message"), [
    ("GET", MEETINGS, {"params": {"from": "0001-01-01T00:00:00+00:00",
                                  "to": "0001-01-02T00:00:00+00:00"}}, "years"),
    ("GET", MEETINGS, {"params": {"from": "9999-12-30T00:00:00+00:00",
                                  "to": "9999-12-31T23:59:59+00:00"}}, "years"),
    ("POST", "/freebusy", {"json": {"users": [BEN], "from": "2026-12-01T10:00:00Z"}},
     "to is required"),
    ("POST", "/freebusy", {"json": {"users": [BEN], "to": "2026-12-01T10:00:00Z"}},
     "from is required"),
    ("POST", "/freebusy", {"json": {"users": [BEN], "from": "0001-01-01T00:00:00Z",
                                    "to": "0001-01-02T00:00:00Z"}}, "years"),
    ("POST", MEETINGS, {"json": {"title": "x", "start": "2026-12-01T10:00:00Z"}},
     "end is required"),
    ("POST", MEETINGS, {"json": {"title": "x", "end": "2026-12-01T10:00:00Z"}},
     "start is required"),
    ("POST", MEETINGS, {"json": {**FIELDS, "start": "9999-12-31T23:00:00Z",
                                 "end": "9999-12-31T23:59:00Z"}}, "years"),
])
def test_times_at_the_ends_of_the_calendar_or_missing_are_a_clear_400(
        users: Any, method: str, path: str, kwargs: Any, message: str) -> None:
    stack = users
    answer = _call(stack, method, path, stack.api_token(f"user:{ANN}"), **kwargs)

    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]["message"]


def test_the_simulator_answers_quick_add_as_google_does(users: Any) -> None:
    """Through the real client: no clock time is a word of the title; an end Calendar cannot
    store is Google's 400 badRequest, not a crash."""
    events = users.calendar(ANN).events()
    kept = events.quickAdd(calendarId="primary", text="standup 99:99").execute()
    assert kept["summary"] == "standup 99:99"
    with pytest.raises(HttpError) as refused:
        events.quickAdd(calendarId="primary", text="standup for 99999999999 hours").execute()
    assert refused.value.resp.status == 400
    assert refused.value.error_details[0]["reason"] == "badRequest"


def test_quick_add_text_google_refuses_is_a_400_asked_once(users: Any, caplog: Any) -> None:
    stack = users
    token = stack.api_token(f"user:{ANN}")
    caplog.set_level(logging.INFO)
    before = stack.api_calls()["calendar.events.quickAdd"]

    refused = _call(stack, "POST", MEETINGS, token,
                    json={"text": "standup for 99999999999 hours"})

    assert refused.status_code == 400, refused.text
    assert "title, start and end" in refused.json()["error"]["message"]
    assert stack.api_calls()["calendar.events.quickAdd"] - before == 1  # a 4xx is not retried
    assert "quick add text refused by Google" in [r.getMessage() for r in caplog.records]
    kept = _call(stack, "POST", MEETINGS, token, json={"text": "standup 99:99"})
    assert kept.status_code == 201, kept.text
