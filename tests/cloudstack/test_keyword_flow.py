"""Keyword join details on the deployed topology: push -> intake -> Pub/Sub -> process_changes
-> Calendar, each function in its own process under its own service account."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from shared.clock import to_rfc3339
from shared.keyword import joinblock

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANNA = "anna@example.com"  # German organizer
BOB = "bob@example.com"  # attendee, also active


def test_webex_keyword_is_patched_once_with_a_german_block(cloud) -> None:
    cloud.add_user(ANNA, locale="de", timezone="Europe/Berlin")
    cloud.add_user(BOB)
    assert cloud.activate(ANNA) == "active"
    assert cloud.activate(BOB) == "active"
    start = cloud.now() + timedelta(hours=2)

    before = cloud.api_calls()
    event = cloud.calendar(ANNA).events().insert(calendarId="primary", body={
        "summary": "Quartalsplanung", "location": "Raum 4, @webex",
        "description": "Agenda: Budget", "attendees": [{"email": BOB}],
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(hours=1))}}).execute()
    cloud.settle()
    cloud.advance(minutes=5)  # later pushes and ticks must not patch it again

    calls = cloud.api_calls() - before
    assert calls["calendar.events.patch"] == 1
    mine = cloud.calendar(ANNA).events().get(calendarId="primary", eventId=event["id"]).execute()
    url = "https://example.webex.com/meet/anna"
    assert mine["location"] == f"Raum 4, {url}"
    assert mine["description"].startswith("Agenda: Budget\n\n" + joinblock.BEGIN)
    assert "An der Webex-Besprechung teilnehmen:" in mine["description"]
    assert mine["extendedProperties"]["private"]["hybridcal_keyword"] == "@webex"
    theirs = cloud.calendar(BOB).events().get(calendarId="primary", eventId=event["id"]).execute()
    assert url in theirs["location"] and url in theirs["description"]

    # the change travelled the deployed way: intake published it, process_changes consumed it
    changes = cloud.messages("calendar-changes")
    assert {m.publisher for m in changes} >= {"intake-push"}
    assert cloud.messages("meetings-updated")
    assert {m.publisher for m in cloud.messages("meetings-updated")} == {"process-changes"}
    assert cloud.iam_denials() == []


def test_every_function_of_infra_runs_in_a_process_of_its_own(cloud) -> None:
    pids = cloud.processes()
    assert set(pids) == {
        "intake-push", "process-changes", "provisioning-worker", "renew-watches",
        "renew-watches-worker", "poll-vacations", "vacation-worker", "dispatch-joins",
        "provision-users", "meetings-api"}
    assert len(set(pids.values())) == len(pids)
    env = cloud.environment("process-changes")
    assert env["HYBRIDCAL_MODE"] == "cloud"
    assert env["HYBRIDCAL_KMS_KEY"].endswith("/cryptoKeys/hybridcal-kek")
    assert cloud.functions["process-changes"].threads == 8  # Terraform's concurrency


def test_an_instance_whose_port_another_process_took_starts_on_a_new_one(cloud) -> None:
    # Ports are picked free, then bound by the instance: in between another stack or test
    # worker may take one (seen in CI). The instance must still come up, elsewhere.
    old_port, old_pid = cloud.functions["renew-watches"].port, cloud.processes()["renew-watches"]
    cloud.kill("renew-watches")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        cloud.restart("renew-watches")

    assert cloud.functions["renew-watches"].port != old_port
    assert cloud.processes()["renew-watches"] != old_pid
    before = len(cloud.messages("renew-watches-tick"))
    cloud.tick("renew-watches")  # the new instance answers its pushes
    assert len(cloud.messages("renew-watches-tick")) == before + 1
    assert cloud.ledger.open_deliveries() == []
