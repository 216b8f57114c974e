"""The simulator behaves like Google for what hybridcal uses, seen through the real clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from shared.clock import to_rfc3339
from tests.local.conftest import calendar_for, gmail_for

ALICE, BOB = "alice@example.com", "bob@example.com"


def _event(clock, summary="Sync", hours=2, **extra):
    start = clock.now() + timedelta(hours=hours)
    return {"summary": summary, "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(hours=1))}, **extra}


def _status(exc: HttpError) -> tuple[int, str]:
    import json

    body = json.loads(exc.content)
    return exc.resp.status, body["error"]["errors"][0]["reason"]


def test_sync_token_cycle_returns_only_changes_including_deletions(sim, clock):
    cal = calendar_for(sim, ALICE)
    first = cal.events().insert(calendarId="primary", body=_event(clock, "A")).execute()
    full = cal.events().list(calendarId="primary").execute()
    assert [e["id"] for e in full["items"]] == [first["id"]]
    token = full["nextSyncToken"]
    second = cal.events().insert(calendarId="primary", body=_event(clock, "B")).execute()
    cal.events().delete(calendarId="primary", eventId=first["id"]).execute()
    delta = cal.events().list(calendarId="primary", syncToken=token).execute()
    assert {(e["id"], e["status"]) for e in delta["items"]} == {
        (second["id"], "confirmed"), (first["id"], "cancelled")}
    assert cal.events().list(calendarId="primary",
                             syncToken=delta["nextSyncToken"]).execute()["items"] == []


def test_invalidated_sync_token_answers_410_full_sync_required(sim, clock):
    cal = calendar_for(sim, ALICE)
    token = cal.events().list(calendarId="primary").execute()["nextSyncToken"]
    sim.invalidate_sync_tokens(ALICE)
    with pytest.raises(HttpError) as excinfo:
        cal.events().list(calendarId="primary", syncToken=token).execute()
    assert _status(excinfo.value) == (410, "fullSyncRequired")


def test_sync_token_with_time_min_is_rejected(sim, clock):
    cal = calendar_for(sim, ALICE)
    token = cal.events().list(calendarId="primary").execute()["nextSyncToken"]
    with pytest.raises(HttpError) as excinfo:
        cal.events().list(calendarId="primary", syncToken=token,
                          timeMin=to_rfc3339(clock.now())).execute()
    assert excinfo.value.resp.status == 400


def test_paging_puts_sync_token_on_last_page_only(sim, clock):
    cal = calendar_for(sim, ALICE)
    for i in range(5):
        cal.events().insert(calendarId="primary", body=_event(clock, f"E{i}")).execute()
    pages, token = [], None
    while True:
        page = cal.events().list(calendarId="primary", maxResults=2, pageToken=token).execute()
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            break
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert all("nextSyncToken" not in p for p in pages[:-1])
    assert "nextSyncToken" in pages[-1]


def test_stale_if_match_answers_412_and_fresh_etag_succeeds(sim, clock):
    cal = calendar_for(sim, ALICE)
    event = cal.events().insert(calendarId="primary", body=_event(clock)).execute()
    cal.events().patch(calendarId="primary", eventId=event["id"],
                       body={"summary": "user edit"}).execute()
    request = cal.events().patch(calendarId="primary", eventId=event["id"],
                                 body={"location": "x"})
    request.headers["If-Match"] = event["etag"]
    with pytest.raises(HttpError) as excinfo:
        request.execute()
    assert excinfo.value.resp.status == 412
    fresh = cal.events().get(calendarId="primary", eventId=event["id"]).execute()
    request = cal.events().patch(calendarId="primary", eventId=event["id"],
                                 body={"location": "x"})
    request.headers["If-Match"] = fresh["etag"]
    assert request.execute()["summary"] == "user edit"


def test_attendee_copy_follows_organizer_and_private_properties_stay_private(sim, clock):
    alice, bob = calendar_for(sim, ALICE), calendar_for(sim, BOB)
    event = alice.events().insert(calendarId="primary", body=_event(
        clock, attendees=[{"email": BOB}])).execute()
    alice.events().patch(calendarId="primary", eventId=event["id"], body={
        "location": "Room 1", "extendedProperties": {"private": {"mine": "1"}}}).execute()
    copy = bob.events().get(calendarId="primary", eventId=event["id"]).execute()
    assert copy["location"] == "Room 1"
    assert copy["organizer"].get("self") is None
    assert "mine" not in (copy.get("extendedProperties") or {}).get("private", {})
    with pytest.raises(HttpError) as excinfo:
        bob.events().patch(calendarId="primary", eventId=event["id"],
                           body={"location": "hijack"}).execute()
    assert _status(excinfo.value) == (403, "forbiddenForNonOrganizer")


def test_attendee_response_reaches_organizer(sim, clock):
    alice, bob = calendar_for(sim, ALICE), calendar_for(sim, BOB)
    event = alice.events().insert(calendarId="primary", body=_event(
        clock, attendees=[{"email": BOB}])).execute()
    bob.events().patch(calendarId="primary", eventId=event["id"], body={
        "attendees": [{"email": BOB, "responseStatus": "declined"}]}).execute()
    seen = alice.events().get(calendarId="primary", eventId=event["id"]).execute()
    assert {a["email"]: a["responseStatus"] for a in seen["attendees"]}[BOB] == "declined"


def test_watch_sends_sync_then_exists_with_increasing_numbers_and_google_headers(
        sim, clock, receiver):
    cal = calendar_for(sim, ALICE)
    channel = cal.events().watch(calendarId="primary", body={
        "id": "chan-1", "type": "web_hook", "address": receiver.url, "token": "tok"}).execute()
    cal.events().insert(calendarId="primary", body=_event(clock)).execute()
    cal.events().insert(calendarId="primary", body=_event(clock)).execute()
    assert sim.deliver_pushes() == 3
    states = [(r["X-Goog-Resource-State"], r["X-Goog-Message-Number"]) for r in receiver.received]
    assert states == [("sync", "1"), ("exists", "2"), ("exists", "3")]
    first = receiver.received[0]
    assert first["X-Goog-Channel-Id"] == "chan-1"
    assert first["X-Goog-Channel-Token"] == "tok"
    assert first["X-Goog-Resource-Id"] == channel["resourceId"]
    assert first["X-Goog-Channel-Expiration"].endswith("GMT")
    assert first["body"] == b""


def test_early_sync_reaches_the_address_before_the_watch_call_answers(sim, receiver):
    """Google does not promise that ``events.watch`` answers before the channel's ``sync``
    message arrives; with ``early_sync`` the simulator delivers it first, every time."""
    sim.faults.set(early_sync=1.0)
    cal = calendar_for(sim, ALICE)
    cal.events().watch(calendarId="primary", body={
        "id": "chan-e", "type": "web_hook", "address": receiver.url, "token": "tok"}).execute()
    # Delivered inside the watch call: nothing was pending, nothing needed delivering after.
    assert [(r["X-Goog-Resource-State"], r["X-Goog-Channel-Id"]) for r in receiver.received] \
        == [("sync", "chan-e")]
    assert sim.pending_pushes() == 0
    assert sim.faults.injected["early_sync"] == 1


def test_failed_push_is_retried_with_backoff_in_clock_time(sim, clock, receiver):
    cal = calendar_for(sim, ALICE)
    receiver.status = 500
    cal.events().watch(calendarId="primary", body={
        "id": "chan-r", "type": "web_hook", "address": receiver.url}).execute()
    assert sim.deliver_pushes() == 0
    receiver.status = 200
    assert sim.deliver_pushes() == 0  # not due yet
    clock.advance(seconds=5)
    assert sim.deliver_pushes() == 1


def test_stopped_and_expired_channels_send_nothing(sim, clock, receiver):
    cal = calendar_for(sim, ALICE)
    a = cal.events().watch(calendarId="primary", body={
        "id": "a", "type": "web_hook", "address": receiver.url}).execute()
    cal.events().watch(calendarId="primary", body={
        "id": "b", "type": "web_hook", "address": receiver.url,
        "params": {"ttl": "3600"}}).execute()
    sim.deliver_pushes()
    cal.channels().stop(body={"id": "a", "resourceId": a["resourceId"]}).execute()
    clock.advance(hours=2)
    receiver.received.clear()
    cal.events().insert(calendarId="primary", body=_event(clock)).execute()
    assert sim.deliver_pushes() == 0
    assert receiver.received == []
    assert sim.api_calls()["calendar.channels.stop"] == 1
    with pytest.raises(HttpError) as excinfo:
        cal.channels().stop(body={"id": "a", "resourceId": a["resourceId"]}).execute()
    assert excinfo.value.resp.status == 404


@pytest.mark.parametrize("case", ["unauthorised_scope", "unknown_user", "suspended_user"])
def test_delegation_refusals_surface_as_refresh_error(sim, clock, case):
    email = ALICE
    if case == "unauthorised_scope":
        sim.delegation.revoke(sim.service_account_info["client_id"],
                              "https://www.googleapis.com/auth/calendar")
    elif case == "unknown_user":
        email = "nobody@example.com"
    else:
        sim.set_suspended(ALICE, True)
    with pytest.raises(RefreshError) as excinfo:
        calendar_for(sim, email).settings().get(setting="locale").execute()
    expected = "unauthorized_client" if case == "unauthorised_scope" else "invalid_grant"
    assert excinfo.value.args[1]["error"] == expected


def test_user_quota_per_minute_answers_403_then_recovers_next_minute(sim, clock):
    sim.quotas.set(user_per_minute=3)
    cal = calendar_for(sim, ALICE)
    for _ in range(3):
        cal.settings().get(setting="timezone").execute()
    with pytest.raises(HttpError) as excinfo:
        cal.settings().get(setting="timezone").execute()
    assert _status(excinfo.value) == (403, "userRateLimitExceeded")
    clock.advance(seconds=60)
    assert cal.settings().get(setting="timezone").execute()["value"] == "Europe/Berlin"


def test_injected_rate_limits_are_403_or_429_and_counted(sim, clock):
    cal = calendar_for(sim, ALICE)
    sim.faults.set(rate_limit=1.0, seed=3)
    statuses = set()
    for _ in range(12):
        with pytest.raises(HttpError) as excinfo:
            cal.settings().get(setting="locale").execute()
        statuses.add(excinfo.value.resp.status)
    assert statuses == {403, 429}
    assert sim.api_calls()["calendar.settings.get"] == 12


def test_recurring_series_expands_and_exceptions_apply(sim, clock):
    cal = calendar_for(sim, ALICE)
    start = clock.now().replace(hour=9, minute=0) + timedelta(days=1)
    master = cal.events().insert(calendarId="primary", body={
        "summary": "Standup", "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
        "start": {"dateTime": start.isoformat(), "timeZone": "Europe/Berlin"},
        "end": {"dateTime": (start + timedelta(minutes=15)).isoformat(),
                "timeZone": "Europe/Berlin"}}).execute()
    instances = cal.events().instances(calendarId="primary", eventId=master["id"]).execute()
    assert len(instances["items"]) == 5
    second = instances["items"][1]
    assert second["recurringEventId"] == master["id"]
    cal.events().patch(calendarId="primary", eventId=second["id"],
                       body={"summary": "Moved standup"}).execute()
    cal.events().delete(calendarId="primary", eventId=instances["items"][2]["id"]).execute()
    single = cal.events().list(calendarId="primary", singleEvents=True, orderBy="startTime",
                               timeMin=to_rfc3339(clock.now())).execute()["items"]
    assert [e["summary"] for e in single] == ["Standup", "Moved standup", "Standup", "Standup"]


def test_quick_add_settings_acl_and_freebusy(sim, clock):
    alice, bob = calendar_for(sim, ALICE), calendar_for(sim, BOB)
    added = alice.events().quickAdd(calendarId="primary",
                                    text="Design review tomorrow 3pm @webex").execute()
    assert added["summary"] == "Design review @webex"
    assert "T15:00:00" in added["start"]["dateTime"]
    with pytest.raises(HttpError):
        bob.events().list(calendarId=ALICE).execute()
    rule = alice.acl().insert(calendarId="primary", body={
        "role": "reader", "scope": {"type": "user", "value": BOB}}).execute()
    assert bob.events().list(calendarId=ALICE).execute()["items"]
    alice.acl().delete(calendarId="primary", ruleId=rule["id"]).execute()
    with pytest.raises(HttpError):
        bob.events().list(calendarId=ALICE).execute()
    busy = bob.freebusy().query(body={
        "timeMin": to_rfc3339(clock.now()), "timeMax": to_rfc3339(clock.now() + timedelta(days=3)),
        "items": [{"id": ALICE}, {"id": "ghost@example.com"}]}).execute()["calendars"]
    assert len(busy[ALICE]["busy"]) == 1
    assert busy["ghost@example.com"]["errors"][0]["reason"] == "notFound"


def test_gmail_vacation_round_trip_and_scope_refusal(sim, clock):
    gmail = gmail_for(sim, ALICE)
    gmail.users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away", "startTime": "1700000000000"}).execute()
    got = gmail.users().settings().getVacation(userId="me").execute()
    assert got["enableAutoReply"] is True
    assert got["startTime"] == "1700000000000"
    with pytest.raises(HttpError) as excinfo:
        calendar_gmail = gmail_for(sim, ALICE, scope="https://www.googleapis.com/auth/calendar")
        calendar_gmail.users().settings().getVacation(userId="me").execute()
    assert _status(excinfo.value) == (403, "insufficientPermissions")
    assert sim.api_calls()["gmail.users.settings.getVacation"] >= 2


@pytest.mark.parametrize("prefix", ["calendar/v3/", ""])
def test_a_wrong_method_is_googles_405_with_allow_and_an_unknown_path_404(sim, prefix):
    import requests

    base = sim.url + prefix
    before = sim.api_calls()
    cases = [
        ("PUT", "calendars/primary/events", "GET, POST"),
        ("POST", "calendars/alice%40example.com/events/abc", "DELETE, GET, PATCH"),
        ("GET", "calendars/primary/events/abc/instances", None),  # the right method
        ("PUT", "calendars/primary/events/quickAdd", "DELETE, GET, PATCH, POST"),
        ("GET", "freeBusy", "POST"),
        ("HEAD", "calendars/primary/events", "GET, POST"),
    ]
    for method, path, allowed in cases:
        answer = requests.request(method, base + path, timeout=10)
        if allowed is None:
            assert answer.status_code == 401  # routed; then refused for no credentials
            continue
        assert (answer.status_code, answer.headers.get("Allow")) == (405, allowed), path
        if method != "HEAD":
            error = answer.json()["error"]
            assert error["code"] == 405 and error["message"] == "Method Not Allowed"
            assert error["errors"] == [{"domain": "global", "reason": "httpMethodNotAllowed",
                                        "message": "Method Not Allowed"}]
            assert set(error) == {"code", "message", "errors", "status"}
    gmail = requests.post(sim.url + "gmail/v1/users/me/settings/vacation", timeout=10)
    assert (gmail.status_code, gmail.headers.get("Allow")) == (405, "GET, PUT")
    assert requests.get(sim.url + "token", timeout=10).headers.get("Allow") == "POST"
    for path in ("calendars/primary/nowhere", "calendars/primary/events/a/b/c", "nowhere"):
        missing = requests.get(base + path, timeout=10)
        assert missing.status_code == 404 and "Allow" not in missing.headers
        assert missing.json()["error"]["errors"][0]["reason"] == "notFound"
    # Refused before counting, like an unknown path: only the routed GET counts.
    assert sim.api_calls() - before == {"calendar.events.instances": 1}


def test_calendars_get_gives_a_room_calendars_zone_to_those_who_may_read_it(stack):
    stack.add_room("room-7@example.com", "Room 7", timezone="Europe/Berlin")
    admin = stack.services.config.workspace_admin
    reader = stack.services.config.room_reader
    stack.calendar(admin).acl().insert(calendarId="room-7@example.com", body={
        "role": "writer", "scope": {"type": "user", "value": reader}}).execute()

    seen = stack.calendar(reader).calendars().get(calendarId="room-7@example.com").execute()

    assert (seen["id"], seen["timeZone"]) == ("room-7@example.com", "Europe/Berlin")
    stack.add_user("stranger@example.com")
    with pytest.raises(HttpError) as refused:
        stack.calendar("stranger@example.com").calendars().get(
            calendarId="room-7@example.com").execute()
    assert refused.value.resp.status == 404
