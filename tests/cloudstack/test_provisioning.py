"""Admins through provision_users behind Cloud Run's IAM check: a 20-user batch, and
deactivation that shreds everything of a user."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from shared.store import names
from tests.cloudstack.scenarios import active, footprint, insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN, BEN = "ann@example.com", "ben@example.com"


def test_an_admin_activates_twenty_users_in_one_call(cloud) -> None:
    emails = [f"user{i:02d}@example.com" for i in range(20)]
    for email in emails:
        cloud.add_user(email)

    answer = cloud.activate_all(emails)

    assert answer["results"] == dict.fromkeys(emails, "active")
    assert all(cloud.user_status(e)["status"] == "active" for e in emails)
    watched = {c["calendar"] for c in cloud.sim.channels() if not c["stopped"]}
    assert watched >= set(emails)
    ids = {cloud.services.pseudonym(e) for e in emails}
    initial = {m["user_id"] for m in cloud.published("calendar-changes")} & ids
    assert initial == ids  # each one's first sync
    assert cloud.iam_denials() == []


def test_provision_users_refuses_callers_cloud_run_does_not_know(cloud) -> None:
    url = cloud.url("provision_users") + "/users/ann@example.com"
    anonymous = requests.get(url, timeout=30)
    stranger = requests.get(url, timeout=30, headers={"Authorization": "Bearer " + cloud.id_token(
        "mallory@example.com", cloud._function_url("provision_users"))})
    assert (anonymous.status_code, stranger.status_code) == (403, 403)
    assert [(d.function, d.permission, d.principal) for d in cloud.iam_denials()] == [
        ("provision-users", "run.routes.invoke", "user:mallory@example.com")]


def _busy_user(cloud, email: str) -> None:
    active(cloud, email)
    start = cloud.now() + timedelta(minutes=7)
    insert(cloud, email, "Standup", "@webex", start=start)
    insert(cloud, email, "Weekly", "https://example.webex.com/meet/team",
           start=start + timedelta(days=1), recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    cloud.gmail(email).users().settings().updateVacation(userId="me", body={
        "enableAutoReply": True, "responseSubject": "Away"}).execute()


def test_deactivation_shreds_everything_of_the_user_and_nothing_of_others(cloud) -> None:
    _busy_user(cloud, ANN)
    _busy_user(cloud, BEN)
    cloud.settle()
    cloud.use_jobs({"join-notifications", "poll-vacations"})
    cloud.advance(seconds=600)  # the vacation poll and the standup's join notification
    expected = {names.USERS, names.CHANNELS, names.SYNC, names.MEETINGS,
                names.SERIES, names.DATA_KEYS}
    assert expected <= set(footprint(cloud, ANN)), "the scenario must touch every collection"
    fields = set(names.USER_FIELDS_PER_FEATURE)
    assert all(footprint(cloud, ANN)[names.USERS][0].get(f) for f in fields)

    assert cloud.deactivate(ANN) == "deactivated"

    after = footprint(cloud, ANN)
    assert set(after) == {names.USERS, names.CHANNELS}
    assert [d["status"] for d in after[names.USERS]] == ["deactivated"]
    assert [f for f in fields if after[names.USERS][0].get(f)] == []
    assert {d["state"] for d in after[names.CHANNELS]} == {"stopped"}
    assert footprint(cloud, BEN).keys() >= expected
    assert cloud.user_status(ANN)["status"] == "deactivated"
    assert cloud.iam_denials() == []
