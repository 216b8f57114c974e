"""Out-of-office presence through the embedded stack: users set their Gmail vacation responder
with the real Gmail client, the scheduler's vacation tick runs, the app reads presence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.bus.base import Topics
from shared.errors import BadRequest
from shared.google.factory import GMAIL_SETTINGS_SCOPE
from shared.presence import vacation as presence

pytestmark = pytest.mark.integration

INTERVAL = 600  # the stack's default vacation interval
GET_VACATION = "gmail.users.settings.getVacation"


def _active(stack: Any, *emails: str) -> None:
    """Users in the domain, activated as an admin would."""
    for email in emails:
        stack.add_user(email)
        assert stack.activate(email) == "active"


def _responder(stack: Any, email: str, **body: Any) -> None:
    body = {"enableAutoReply": True, "responseSubject": "Away",
            "responseBodyPlainText": "Back soon", **body}
    stack.gmail(email).users().settings().updateVacation(userId="me", body=body).execute()


def _ms(when: Any) -> str:
    return str(int(when.timestamp() * 1000))


def _updates(stack: Any, email: str) -> list[dict[str, Any]]:
    uid = stack.services.pseudonym(email)
    return [m for m in stack.published(Topics.PRESENCE_UPDATED) if m["user_id"] == uid]


def _vacation_reads(stack: Any) -> int:
    return sum(n for key, n in stack.api_calls().items() if "acation" in str(key))


def test_responder_on_is_out_of_office_within_one_interval_and_off_is_available(stack):
    _active(stack, "ann@example.com", "ben@example.com")
    assert stack.presence("ann@example.com")["status"] == "available"

    _responder(stack, "ann@example.com")
    stack.advance(seconds=INTERVAL)
    assert stack.presence("ann@example.com")["status"] == "out_of_office"
    assert stack.presence("ben@example.com")["status"] == "available"

    _responder(stack, "ann@example.com", enableAutoReply=False)
    stack.advance(seconds=INTERVAL)
    assert stack.presence("ann@example.com")["status"] == "available"

    statuses = [m["status"] for m in _updates(stack, "ann@example.com")]
    assert statuses == ["out_of_office", "available"]
    assert _updates(stack, "ben@example.com") == []


def test_exactly_one_update_per_change_across_ticks_and_duplicate_ticks(stack):
    _active(stack, "cat@example.com")
    _responder(stack, "cat@example.com")
    stack.advance(seconds=3 * INTERVAL)
    stack.tick(Topics.VACATION_TICK)
    stack.tick(Topics.VACATION_TICK)

    updates = _updates(stack, "cat@example.com")
    assert len(updates) == 1
    assert set(updates[0]) == {"user_id", "status", "since", "until"}
    assert updates[0]["status"] == "out_of_office" and updates[0]["until"] is None


def test_a_scheduled_responder_flips_at_its_start_and_back_at_its_end(stack):
    _active(stack, "dan@example.com")
    start = stack.now() + timedelta(minutes=25)
    end = start + timedelta(minutes=40)
    _responder(stack, "dan@example.com", startTime=_ms(start), endTime=_ms(end))

    stack.advance(minutes=20)  # ticks at +10 and +20: not yet
    assert stack.presence("dan@example.com")["status"] == "available"
    assert _updates(stack, "dan@example.com") == []

    stack.advance(minutes=10)  # first tick after the start, no change in Gmail
    now_out = stack.presence("dan@example.com")
    assert now_out["status"] == "out_of_office"
    assert (now_out["since"], now_out["until"]) == (
        start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z"))

    stack.advance(minutes=40)  # past the end: back without a change in Gmail
    assert stack.presence("dan@example.com")["status"] == "available"
    assert [m["status"] for m in _updates(stack, "dan@example.com")] == [
        "out_of_office", "available"]


@pytest.mark.parametrize("restriction", ["restrictToDomain", "restrictToContacts"])
def test_a_responder_restricted_to_domain_or_contacts_still_counts(stack, restriction):
    _active(stack, "eve@example.com")
    _responder(stack, "eve@example.com", **{restriction: True})
    stack.advance(seconds=INTERVAL)
    assert stack.presence("eve@example.com")["status"] == "out_of_office"


def test_rate_limits_are_absorbed(stack):
    emails = [f"user{i}@example.com" for i in range(6)]
    _active(stack, *emails)
    for email in emails[::2]:
        _responder(stack, email)
    stack.faults.set(rate_limit=0.3, seed=7)
    stack.advance(seconds=INTERVAL)
    stack.faults.set(rate_limit=0.0)
    stack.settle()

    assert [stack.presence(e)["status"] for e in emails] == ["out_of_office", "available"] * 3
    assert all(len(_updates(stack, e)) == (1 if i % 2 == 0 else 0) for i, e in enumerate(emails))
    assert stack.faults.injected["rate_limit_429"] and stack.faults.injected["rate_limit"]
    assert {stack.user_status(e)["status"] for e in emails} == {"active"}
    assert _dead_letters(stack) == []


def test_429s_beyond_the_in_process_retries_are_absorbed_by_redelivery(stack):
    _active(stack, "kim@example.com", "lee@example.com")
    _responder(stack, "kim@example.com")
    reads = _vacation_reads(stack)
    # more 429s in a row than call_google retries: the shard is redelivered, not lost
    stack.faults.fail_next(GET_VACATION, status=429, times=7)
    stack.advance(seconds=INTERVAL)

    assert stack.faults.injected["scripted_429"] == 7
    assert stack.presence("kim@example.com")["status"] == "out_of_office"
    assert stack.presence("lee@example.com")["status"] == "available"
    assert [len(_updates(stack, e)) for e in ("kim@example.com", "lee@example.com")] == [1, 0]
    assert {stack.user_status(e)["status"] for e in ("kim@example.com", "lee@example.com")} == {
        "active"}
    # the 429s, each user read once, and at most once more by the shard's redelivery (which
    # reads the users the first delivery finished again: quota units, nothing billed)
    assert 2 + 7 <= _vacation_reads(stack) - reads <= 2 * 2 + 7
    assert _dead_letters(stack) == []


def _dead_letters(stack: Any) -> list[Any]:
    return stack.bus.published(Topics.dead_letter(Topics.VACATION_SHARD))


def _revoke_gmail_scope(stack: Any, email: str) -> None:
    """The admin drops gmail.settings.basic from the delegation. Access tokens already issued
    stay valid until they expire, so users whose token is cached are still read for a while;
    ``email``'s token is the one that runs out first."""
    stack.sim.delegation.revoke(stack.sim.service_account_info["client_id"],
                                GMAIL_SETTINGS_SCOPE)
    stack.services.workspace.forget(email)


def _delete_user(stack: Any, email: str) -> None:
    """The user is deleted from the Workspace domain (once their cached token expires)."""
    stack.sim.remove_user(email)
    stack.services.workspace.forget(email)


def _delete_user_with_a_live_token(stack: Any, email: str) -> None:
    """Deleted while the service still holds a valid access token: Gmail answers 400."""
    stack.sim.remove_user(email)


@pytest.mark.parametrize(("refuse", "code", "hint"), [
    (_revoke_gmail_scope, "delegation_not_authorised", f"(missing: {GMAIL_SETTINGS_SCOPE})"),
    (_delete_user, "user_not_found", "primary Workspace email"),
    (_delete_user_with_a_live_token, "gmail_error", "Gmail API refused"),
])
def test_a_refused_read_moves_that_user_to_error_and_leaves_the_others_alone(
        stack, refuse, code, hint):
    ivy, jon, kay = "ivy@example.com", "jon@example.com", "kay@example.com"
    _active(stack, ivy, jon, kay)
    _responder(stack, ivy)
    _responder(stack, kay)
    stack.advance(seconds=INTERVAL)
    assert [stack.presence(e)["status"] for e in (ivy, jon, kay)] == [
        "out_of_office", "available", "out_of_office"]

    _responder(stack, jon)  # the others keep changing and keep being read
    _responder(stack, kay, enableAutoReply=False)
    refuse(stack, ivy)
    stack.advance(seconds=INTERVAL)

    status = stack.user_status(ivy)
    assert (status["status"], status["reason_code"]) == ("error", code)
    assert hint in status["reason"]
    assert [stack.presence(e)["status"] for e in (jon, kay)] == ["out_of_office", "available"]
    assert [stack.user_status(e)["status"] for e in (jon, kay)] == ["active", "active"]
    assert [m["status"] for m in _updates(stack, jon)] == ["out_of_office"]
    assert [m["status"] for m in _updates(stack, kay)] == ["out_of_office", "available"]
    # the out-of-office claim is withdrawn once, not left standing while nobody reads it
    assert [m["status"] for m in _updates(stack, ivy)] == ["out_of_office", "available"]
    assert stack.presence(ivy)["status"] == "available"
    assert _dead_letters(stack) == []  # a user error is not a shard failure

    reads = _vacation_reads(stack)
    stack.advance(seconds=INTERVAL)  # a user in error is no longer polled
    assert _vacation_reads(stack) - reads == 2
    assert [u["id"] for u in stack.published(Topics.VACATION_SHARD)[-1]["users"]] == sorted(
        stack.services.pseudonym(e) for e in (jon, kay))


def test_a_redelivered_shard_writes_and_announces_nothing_more(stack):
    """A redelivery reads the responders again (Gmail quota, not billed), but the change it
    finds was stored by the first delivery: one update, and no write for the unchanged user."""
    _active(stack, "fay@example.com", "gil@example.com")
    _responder(stack, "fay@example.com")
    stack.advance(seconds=INTERVAL)
    shard = stack.published(Topics.VACATION_SHARD)[-1]
    before = stack.billing()

    presence.poll_shard(stack.services, shard)  # Pub/Sub delivers it once more

    spent = stack.billing()
    spent.subtract(before)
    assert spent["pubsub.messages"] == 0
    assert spent["firestore.reads"] <= 2  # the pause marker, fay's transaction
    assert len(_updates(stack, "fay@example.com")) == 1
    assert stack.presence("fay@example.com")["status"] == "out_of_office"


def test_a_poll_that_changes_nothing_reads_and_writes_only_the_tick_query(stack):
    """The shard carries each user's last presence: an unchanged poll costs the tick's query
    (one document per user) and the pause marker, and writes nothing."""
    emails = [f"p{n}@example.com" for n in range(4)]
    _active(stack, *emails)
    _responder(stack, emails[0])
    stack.advance(seconds=INTERVAL)  # the first poll stores the change
    before = stack.billing()
    stack.tick(Topics.VACATION_TICK)
    spent = stack.billing()
    spent.subtract(before)
    assert (spent["firestore.reads"], spent["firestore.writes"]) == (len(emails) + 1, 0)
    assert stack.presence(emails[0])["status"] == "out_of_office"


def test_shard_messages_carry_pseudonyms_only(stack):
    _active(stack, "hal@example.com")
    stack.advance(seconds=INTERVAL)
    shards = stack.published(Topics.VACATION_SHARD)
    uid = stack.services.pseudonym("hal@example.com")
    assert shards and [u["id"] for u in shards[-1]["users"]] == [uid]
    assert "hal@example.com" not in repr(shards)
    # the address Gmail delegation needs travels sealed, bound to its user
    mail = shards[-1]["users"][0]["mail"]
    assert presence.open_address(stack.services, uid, mail) == "hal@example.com"
    with pytest.raises(BadRequest):
        presence.open_address(stack.services, stack.services.pseudonym("x@example.com"), mail)


def test_gmails_daily_limit_defers_polling_and_changes_no_users_status(stack):
    """Gmail's 403 dailyLimitExceeded says the project's allowance is used up, not that a
    user is broken: nobody goes to ``error`` (which would also stop their calendar), presence
    is left as it was, the reads pause, and they resume once Google answers again."""
    emails = ["mia@example.com", "ned@example.com", "ola@example.com"]
    _active(stack, *emails)
    _responder(stack, emails[0])
    stack.advance(seconds=INTERVAL)
    assert stack.presence(emails[0])["status"] == "out_of_office"

    _responder(stack, emails[0], enableAutoReply=False)
    _responder(stack, emails[1])
    stack.faults.exhaust_daily_limit("gmail", stack.now() + timedelta(minutes=45))
    stack.advance(seconds=INTERVAL)
    refused = stack.faults.injected["daily_limit"]
    assert refused >= 1
    assert {stack.user_status(e)["status"] for e in emails} == {"active"}
    assert [stack.presence(e)["status"] for e in emails] == [
        "out_of_office", "available", "available"]
    assert _dead_letters(stack) == []

    reads = _vacation_reads(stack)
    stack.advance(seconds=INTERVAL)  # paused: one probe, not a read per user
    assert _vacation_reads(stack) == reads + 1

    stack.advance(seconds=6 * INTERVAL)  # the pause is over and the allowance back
    assert [stack.presence(e)["status"] for e in emails] == [
        "available", "out_of_office", "available"]
    assert {stack.user_status(e)["status"] for e in emails} == {"active"}
    # one refused probe per tick until the allowance came back (ticks at +20, +30, +40 min)
    assert stack.faults.injected["daily_limit"] == refused + 3
