"""The meetings API over real HTTP against the embedded stack: list, get, RSVP, scheduling,
free/busy, presence, and every auth rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN, BEN = "ann@example.com", "ben@example.com"
SECRET_TITLE = "Quarterly numbers ZX81"


def _call(stack: Any, method: str, path: str, token: str | None, **kwargs: Any):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, stack.url("meetings_api") + path, headers=headers,
                            timeout=30, **kwargs)


def _users(stack: Any) -> None:
    stack.add_user(ANN, locale="de", timezone="Europe/Berlin")
    stack.add_user(BEN)
    assert stack.activate(ANN) == "active"
    assert stack.activate(BEN) == "active"


def _meeting(stack: Any, summary: str, location: str, hours: float, **extra: Any) -> str:
    start = stack.now() + timedelta(hours=hours)
    event = stack.calendar(ANN).events().insert(calendarId="primary", body={
        "summary": summary, "location": location,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}, **extra}).execute()
    return event["id"]


def test_default_list_has_join_details_in_the_users_time_zone(stack):
    _users(stack)
    webex = _meeting(stack, "Standup", "@webex", 2, attendees=[{"email": BEN}])
    _meeting(stack, "Zoom call", "https://example.zoom.us/j/123456789", 3)
    _meeting(stack, "Too late", "", 24 * 8)  # beyond the default 7 days
    stack.settle()

    meetings = stack.meetings(ANN)

    assert [m["title"] for m in meetings] == ["Standup", "Zoom call"]
    first = meetings[0]
    assert first["id"] == webex and first["service"] == "webex" and first["organizer"] is True
    assert first["join_url"].startswith("https://") and "webex.com" in first["join_url"]
    assert first["sip_uri"] and first["start"].endswith("+01:00")  # Berlin in November
    assert meetings[1]["service"] == "zoom"
    ben = stack.meetings(BEN)  # the attendee's copy is indexed for the attendee too
    assert [m["title"] for m in ben] == ["Standup"] and ben[0]["organizer"] is False


def test_list_range_paging_and_get_one(stack):
    _users(stack)
    ids = [_meeting(stack, f"M{n}", "", 1 + n) for n in range(5)]
    stack.settle()
    token = stack.api_token(f"user:{ANN}")

    page = _call(stack, "GET", f"/users/{ANN}/meetings", token, params={"page_size": 2}).json()
    assert [m["title"] for m in page["meetings"]] == ["M0", "M1"]
    rest = _call(stack, "GET", f"/users/{ANN}/meetings", token,
                 params={"page_size": 2, "page_token": page["next_page_token"]}).json()
    assert [m["title"] for m in rest["meetings"]] == ["M2", "M3"]
    window = _call(stack, "GET", f"/users/{ANN}/meetings", token, params={
        "from": to_rfc3339(stack.now() + timedelta(hours=3)),
        "to": to_rfc3339(stack.now() + timedelta(hours=4, minutes=30))}).json()
    assert [m["title"] for m in window["meetings"]] == ["M2", "M3"]
    one = _call(stack, "GET", f"/users/{ANN}/meetings/{ids[4]}", token)
    assert one.status_code == 200 and one.json()["title"] == "M4"
    assert _call(stack, "GET", f"/users/{ANN}/meetings/nope", token).status_code == 404


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("GET", "/users/ann@example.com/meetings", {"params": {"from": "yesterday"}}, 400),
    ("GET", "/users/ann@example.com/meetings", {"params": {"from": "2026-01-01T00:00:00"}}, 400),
    ("GET", "/users/ann@example.com/meetings", {"params": {
        "from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}}, 400),
    ("GET", "/users/ann@example.com/meetings", {"params": {"page_size": "0"}}, 400),
    ("GET", "/users/ann@example.com/meetings", {"params": {"page_token": "!!"}}, 400),
    ("GET", "/users/not-an-email/meetings", {}, 400),
    ("GET", "/users/ann@example.com/elsewhere", {}, 404),
    ("GET", "/nowhere", {}, 404),
    ("POST", "/users/ann@example.com/meetings", {"data": b"{not json"}, 400),
    ("POST", "/users/ann@example.com/meetings", {"data": b"[" * 100 + b"]" * 100}, 400),
    ("POST", "/users/ann@example.com/meetings", {"data": b"\xff\xfe"}, 400),
    ("POST", "/users/ann@example.com/meetings", {"json": {"title": ""}}, 400),
    ("POST", "/users/ann@example.com/meetings", {"json": {
        "title": "x", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z"}}, 400),
    ("POST", "/users/ann@example.com/meetings", {"json": {
        "title": "x", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z",
        "keyword": "@nonsense"}}, 400),
    ("POST", "/users/ann@example.com/meetings", {"json": {"text": "x" * 5000}}, 400),
    ("POST", "/users/ann@example.com/meetings/abc:rsvp", {"json": {"response": "maybe"}}, 400),
    ("POST", "/freebusy", {"json": {"users": []}}, 400),
    ("POST", "/freebusy", {"json": {"users": ["ben@example.com"], "from": 5}}, 400),
    ("GET", "/users/nobody@example.com/meetings", {}, 404),
])
def test_bad_input_gets_a_clear_json_4xx(stack, method, path, kwargs, status):
    _users(stack)
    token = stack.api_token("admin" if "nobody" in path else f"user:{ANN}")

    answer = _call(stack, method, path, token, **kwargs)

    assert answer.status_code == status
    assert answer.json()["error"]["message"]


def test_each_auth_rule(stack):
    _users(stack)
    _meeting(stack, SECRET_TITLE, "@webex", 2)
    stack.sim.add_room("room-1@example.com")
    stack.settle()
    ann, device = stack.api_token(f"user:{ANN}"), stack.api_token("device:room-1@example.com")
    path = f"/users/{ANN}/meetings"

    refused = [
        (_call(stack, "GET", path, None), 401),
        (_call(stack, "GET", path, "not-a-known-token"), 401),
        (_call(stack, "GET", f"/users/{BEN}/meetings", ann), 403),  # another user's
        (_call(stack, "GET", path, device), 403),  # a device sees only its workspace
        (_call(stack, "POST", path, device, json={"text": "Lunch"}), 403),
    ]
    for answer, status in refused:
        assert answer.status_code == status, answer.text
        assert SECRET_TITLE not in answer.text and "webex.com" not in answer.text
    assert _call(stack, "GET", path, ann).status_code == 200
    assert _call(stack, "GET", path, stack.api_token("admin")).status_code == 200

    audience = stack.services.config.api_audience
    good = stack.sim.id_tokens.issue(ANN, audience)
    assert [m["title"] for m in _call(stack, "GET", path, good).json()["meetings"]] == [
        SECRET_TITLE]
    assert _call(stack, "GET", f"/users/{BEN}/meetings", good).status_code == 403
    assert _call(stack, "GET", path, stack.sim.id_tokens.issue(ANN, "https://other")
                 ).status_code == 401
    assert _call(stack, "GET", path, stack.sim.id_tokens.issue(ANN, audience, verified=False)
                 ).status_code == 403
    assert _call(stack, "GET", path, good[:-4] + "AAAA").status_code == 401  # forged signature
    stack.services.config = stack.services.config.replace(api_admins=(BEN,))
    admin = stack.sim.id_tokens.issue(BEN, audience)
    assert _call(stack, "GET", path, admin).status_code == 200


def test_rsvp_shows_in_the_organizers_event(stack):
    _users(stack)
    event_id = _meeting(stack, "Planning", "", 5, attendees=[{"email": BEN}])
    stack.settle()
    ben = stack.api_token(f"user:{BEN}")

    answer = _call(stack, "POST", f"/users/{BEN}/meetings/{event_id}:rsvp", ben,
                   json={"response": "declined"})
    stack.settle()

    assert answer.status_code == 200
    organizer_copy = stack.calendar(ANN).events().get(calendarId="primary",
                                                      eventId=event_id).execute()
    assert [(a["email"], a["responseStatus"]) for a in organizer_copy["attendees"]] == [
        (BEN, "declined")]
    assert stack.meetings(BEN)[0]["response_status"] == "declined"
    assert _call(stack, "POST", f"/users/{ANN}/meetings/{event_id}:rsvp",
                 stack.api_token(f"user:{ANN}"), json={"response": "accepted"}
                 ).status_code == 400  # the organizer is not on the guest list


def test_quick_add_with_a_keyword_ends_up_with_join_details(stack):
    _users(stack)
    token = stack.api_token(f"user:{ANN}")

    answer = _call(stack, "POST", f"/users/{ANN}/meetings", token,
                   json={"text": "Design review tomorrow 3pm @webex"})
    stack.settle()

    assert answer.status_code == 201
    event = stack.calendar(ANN).events().get(calendarId="primary",
                                             eventId=answer.json()["id"]).execute()
    assert "webex.com" in event["location"] and "@webex" not in event["location"]
    listed = _call(stack, "GET", f"/users/{ANN}/meetings", token,
                   params={"to": to_rfc3339(stack.now() + timedelta(days=3))}).json()
    assert listed["meetings"][0]["service"] == "webex"
    assert stack.api_calls()["calendar.events.quickAdd"] == 1


def test_schedule_from_fields_then_cancel_only_as_organizer(stack):
    _users(stack)
    ann, ben = stack.api_token(f"user:{ANN}"), stack.api_token(f"user:{BEN}")
    start = stack.now() + timedelta(days=1)

    created = _call(stack, "POST", f"/users/{ANN}/meetings", ann, json={
        "title": "Kickoff", "start": to_rfc3339(start),
        "end": to_rfc3339(start + timedelta(hours=1)), "attendees": [BEN], "keyword": "@webex"})
    stack.settle()
    event_id = created.json()["id"]

    assert created.status_code == 201
    assert stack.meetings(BEN)[0]["join_url"] == stack.meetings(ANN)[0]["join_url"]
    assert _call(stack, "DELETE", f"/users/{BEN}/meetings/{event_id}", ben).status_code == 403
    assert _call(stack, "DELETE", f"/users/{ANN}/meetings/{event_id}", ann).status_code == 200
    stack.settle()
    assert stack.meetings(ANN) == [] and stack.meetings(BEN) == []


def test_free_busy_for_120_users_is_chunked_and_finds_common_slots(stack):
    _users(stack)
    people = [f"p{n:03d}@example.com" for n in range(120)]
    for email in people:
        stack.add_user(email)
    day = (stack.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    for n, email in enumerate(people[:3]):  # 09:00-10:00, 10:00-11:00, 11:00-12:00 taken
        stack.calendar(email).events().insert(calendarId="primary", body={
            "summary": "busy", "start": {"dateTime": to_rfc3339(day + timedelta(hours=n))},
            "end": {"dateTime": to_rfc3339(day + timedelta(hours=n + 1))}}).execute()
    before = stack.api_calls()["calendar.freebusy.query"]

    answer = _call(stack, "POST", "/freebusy", stack.api_token(f"user:{ANN}"), json={
        "users": people, "from": to_rfc3339(day), "to": to_rfc3339(day + timedelta(hours=8)),
        "duration_minutes": 60})

    assert answer.status_code == 200
    body = answer.json()
    assert stack.api_calls()["calendar.freebusy.query"] - before == 3 == body["queries"]
    assert len(body["busy"]) == 120 and body["errors"] == {}
    assert body["busy"][people[1]] == [{"start": to_rfc3339(day + timedelta(hours=1)),
                                        "end": to_rfc3339(day + timedelta(hours=2))}]
    assert body["free_slots"][0] == {"start": to_rfc3339(day + timedelta(hours=3)),
                                     "end": to_rfc3339(day + timedelta(hours=8))}


def test_presence_route(stack):
    _users(stack)
    token = stack.api_token(f"user:{ANN}")
    assert _call(stack, "GET", f"/users/{ANN}/presence", token).json()["status"] == "available"
    stack.gmail(ANN).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away"}).execute()
    stack.advance(seconds=stack.services.config.vacation_interval_seconds)
    answer = _call(stack, "GET", f"/users/{ANN}/presence", token).json()
    assert answer["status"] == "out_of_office" and "user_id" not in answer
    assert stack.presence(ANN)["status"] == "out_of_office"


def test_a_wrong_method_is_405_with_allow_after_authentication(stack):
    _users(stack)
    ann = stack.api_token(f"user:{ANN}")
    wrong = [
        ("PUT", f"/users/{ANN}/meetings", "GET, POST"),
        ("PATCH", f"/users/{ANN}/meetings", "GET, POST"),
        ("POST", f"/users/{ANN}/meetings/abc", "DELETE, GET"),
        ("GET", f"/users/{ANN}/meetings/abc:rsvp", "POST"),
        ("DELETE", f"/users/{ANN}/presence", "GET"),
        ("POST", f"/users/{ANN}/page", "GET"),
        ("GET", "/freebusy", "POST"),
        ("PUT", f"/users/{BEN}/meetings", "GET, POST"),  # the route is public, the data not
    ]
    for method, path, allowed in wrong:
        answer = _call(stack, method, path, ann, json={"text": "Lunch"})
        assert (answer.status_code, answer.headers.get("Allow")) == (405, allowed), path
        assert answer.json()["error"]["code"] == 405 and answer.json()["error"]["message"]
    head = _call(stack, "HEAD", f"/users/{ANN}/meetings", ann)  # HEAD is not GET here
    assert (head.status_code, head.headers.get("Allow")) == (405, "GET, POST")
    # Authentication still comes first: no credentials is 401 on any method.
    assert _call(stack, "PUT", f"/users/{ANN}/meetings", None).status_code == 401


def test_unknown_paths_are_404_and_addresses_may_be_percent_encoded(stack):
    _users(stack)
    ann = stack.api_token(f"user:{ANN}")
    for path in ("/nowhere", f"/users/{ANN}/elsewhere", f"/users/{ANN}/meetings/abc:nope",
                 f"/users/{ANN}/meetings/a.b", f"/users/{ANN}/meetings/abc/more", "/users"):
        answer = _call(stack, "GET", path, ann)
        assert answer.status_code == 404, path
        assert "Allow" not in answer.headers and answer.json()["error"]["code"] == 404
    encoded = _call(stack, "GET", "/users/ann%40example.com/meetings", ann)
    assert encoded.status_code == 200 and encoded.json() == {"meetings": []}
    assert _call(stack, "GET", "/users/Ann%40Example.com/presence", ann).status_code == 200
    # A malformed address under /users/ is still a 400, whatever follows it.
    assert _call(stack, "GET", "/users/not-an-email/elsewhere", ann).status_code == 400


def test_google_busy_beyond_our_retries_is_a_503_with_retry_after(stack):
    """Quota or server errors that outlast the backoff are the caller's cue to retry later,
    not an 'internal error'."""
    _users(stack)
    token = stack.api_token(f"user:{ANN}")
    stack.faults.fail_next("calendar.events.quickAdd", status=503, times=10)

    answer = _call(stack, "POST", f"/users/{ANN}/meetings", token,
                   json={"text": "Design review tomorrow 3pm"})

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "30"
    assert "retry later" in answer.json()["error"]["message"]
    assert stack.sim.faults.injected["scripted_503"] == 5  # the gateway's five attempts
