"""The admin CLI against the embedded stack's real ``provision_users`` over HTTP."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from local import admin_cli
from local.admin_cli import cli

pytestmark = pytest.mark.integration


def _run(stack, *args, token=None, input=None):
    result = CliRunner().invoke(cli, ["--url", stack.url("provision_users"), "--token",
                                      token or stack.admin_token, *args], input=input)
    stack.settle()
    return result


def test_activate_from_args_and_csv_then_status_errors_revalidate_deactivate(stack, tmp_path):
    for email in ("ann@example.com", "ben@example.com", "cat@example.com"):
        stack.add_user(email)
    stack.sim.set_calendar_writable("cat@example.com", False)
    users = tmp_path / "users.csv"
    users.write_text("email\nben@example.com\n# a comment\n\nnot an address\ncat@example.com\n")

    first = _run(stack, "activate", "ann@example.com")
    from_csv = _run(stack, "activate", "--csv", str(users))

    assert first.exit_code == 0 and "active           1" in first.output
    assert from_csv.exit_code == admin_cli.EXIT_USERS_IN_ERROR  # cat ended in error
    assert "active           1" in from_csv.output and "error            1" in from_csv.output
    assert "in error: cat@example.com" in from_csv.output
    assert "skipped 1 invalid entry (not" in from_csv.stderr
    assert "line 5: 'not an address'" in from_csv.stderr and "user/s" in from_csv.stderr
    table = _run(stack, "status").output
    assert table.splitlines()[0].split() == ["email", "status", "reason"]
    assert [line.split()[1] for line in table.splitlines()[1:4]] == ["active", "active", "error"]
    assert "cat@example.com" in table
    errors = _run(stack, "errors").output
    assert "cat@example.com" in errors and "cannot write" in errors
    assert "ann@example.com" not in errors

    stack.sim.set_calendar_writable("cat@example.com", True)
    again = _run(stack, "revalidate", "--all-errors")
    assert again.exit_code == 0 and "cat@example.com: active" in again.output
    assert stack.user_status("cat@example.com")["status"] == "active"
    assert _run(stack, "errors").output.strip() == "(none)"
    assert "no users in error" in _run(stack, "revalidate", "--all-errors").output

    gone = _run(stack, "deactivate", "--yes", "ben@example.com")
    assert "ben@example.com: deactivated" in gone.output
    assert "deactivated" in _run(stack, "status", "ben@example.com").output


def test_csv_with_an_email_column_that_is_not_first_and_rows_without_one(stack, tmp_path):
    stack.add_user("dan@example.com")
    stack.add_user("eve@example.com")
    users = tmp_path / "users.csv"
    users.write_text("name,Email\nDan,dan@example.com\nNobody\nEve,EVE@example.com\n"
                     "Typo,eve.example.com\n")
    result = _run(stack, "activate", "--csv", str(users), "dan@example.com")
    assert result.exit_code == 0, result.stderr
    assert "active           2" in result.output
    assert "skipped 2 invalid entries" in result.stderr
    assert "line 3: no value in column 2" in result.stderr
    assert "line 5: 'eve.example.com'" in result.stderr
    assert stack.user_status("eve@example.com")["status"] == "active"


def test_errors_lists_a_suspended_user_and_explicit_revalidate(stack):
    stack.add_user("sus@example.com")
    stack.sim.set_suspended("sus@example.com", True)
    assert "error            1" in _run(stack, "activate", "sus@example.com").output
    errors = _run(stack, "errors").output
    assert "sus@example.com" in errors and "suspended" in errors
    shown = _run(stack, "status", "SUS@example.com").output
    assert "sus@example.com" in shown and "restore the user" in shown

    stack.sim.set_suspended("sus@example.com", False)
    again = _run(stack, "revalidate", "sus@example.com", "nobody@example.com")
    assert again.exit_code == 0
    assert "sus@example.com: active" in again.output
    assert "nobody@example.com: unknown" in again.output


def test_deactivate_asks_for_confirmation(stack):
    stack.add_user("ann@example.com")
    _run(stack, "activate", "ann@example.com")
    kept = _run(stack, "deactivate", "ann@example.com", input="n\n")
    assert kept.exit_code == 1 and stack.user_status("ann@example.com")["status"] == "active"
    gone = _run(stack, "deactivate", "ann@example.com", input="y\n")
    assert gone.exit_code == 0 and "ann@example.com: deactivated" in gone.output


def test_more_than_the_sync_limit_per_request_is_reported_as_queued(stack, monkeypatch):
    emails = [f"user{i}@example.com" for i in range(55)]
    for email in emails:
        stack.add_user(email)
    monkeypatch.setattr(admin_cli, "CHUNK", 60)  # one request above the API's limit of 50
    result = _run(stack, "activate", *emails)
    assert result.exit_code == 0
    assert "queued          55" in result.output and "pending until processed" in result.output
    assert stack.user_status("user54@example.com")["status"] == "active"  # settled


def test_id_token_mode_sends_the_fetched_token(stack, monkeypatch):
    seen = {}

    def fetch_id_token(request, audience):
        seen["audience"] = audience
        return stack.admin_token

    monkeypatch.setattr("google.oauth2.id_token.fetch_id_token", fetch_id_token)
    url = stack.url("provision_users")
    result = CliRunner().invoke(cli, ["--url", url + "/", "--id-token", "errors"])
    assert result.exit_code == 0 and result.output.strip() == "(none)"
    assert seen["audience"] == url


def test_url_and_token_come_from_the_environment(stack):
    env = {"HYBRIDCAL_ADMIN_URL": stack.url("provision_users"),
           "HYBRIDCAL_ADMIN_TOKEN": stack.admin_token}
    result = CliRunner(env=env).invoke(cli, ["status"])
    assert result.exit_code == 0 and result.output.strip() == "(none)"
    missing = CliRunner(env={"HYBRIDCAL_ADMIN_URL": env["HYBRIDCAL_ADMIN_URL"],
                             "HYBRIDCAL_ADMIN_TOKEN": ""}).invoke(cli, ["status"])
    assert missing.exit_code == 2 and "--token" in missing.stderr


def test_refusals_and_unreachable_api_exit_with_clear_messages(stack, capsys):
    wrong = _run(stack, "status", token="wrong-token")
    assert wrong.exit_code == 2 and "refused (403" in wrong.stderr
    assert "this token may not administer users" in wrong.stderr
    missing = _run(stack, "status", "nobody@example.com")
    assert missing.exit_code == 2 and "404" in missing.stderr
    assert "no such user has been activated" in missing.stderr
    unauthenticated = admin_cli.Api(stack.url("provision_users"), "")
    with pytest.raises(SystemExit) as exited:
        unauthenticated.call("GET", "/users")
    assert exited.value.code == 2 and "missing bearer token" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        admin_cli.Api(stack.url("provision_users"), stack.admin_token).call(
            "POST", "/users:activate", json={"emails": "x"})
    assert exited.value.code == 2 and "refused (400" in capsys.readouterr().err
    nothing = _run(stack, "activate", "not-an-address")
    assert nothing.exit_code == 2 and "argument 'not-an-address'" in nothing.stderr
    down = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", "--token", "t", "errors"])
    assert down.exit_code == 3 and "cannot reach" in down.stderr


def test_id_token_failure_explains_the_alternatives(monkeypatch):
    import google.auth.exceptions

    def no_credentials(request, audience):
        raise google.auth.exceptions.DefaultCredentialsError("no service account found")

    monkeypatch.setattr("google.oauth2.id_token.fetch_id_token", no_credentials)
    result = CliRunner().invoke(cli, ["--url", "https://example.invalid/provision_users",
                                      "--id-token", "errors"])
    assert result.exit_code == 2 and "no service account found" in result.stderr
    assert "gcloud auth print-identity-token" in result.stderr


def test_activate_exits_non_zero_when_every_user_ended_in_error(stack):
    for email in ("sus@example.com", "pen@example.com"):
        stack.add_user(email, suspended=True)

    result = _run(stack, "activate", "sus@example.com", "pen@example.com")

    assert result.exit_code == admin_cli.EXIT_USERS_IN_ERROR == 4
    assert "error            2" in result.output
    assert "2 users in error: pen@example.com, sus@example.com" in result.output
    assert "see reasons with: python -m local.admin_cli errors" in result.output


def test_revalidate_all_errors_ends_with_a_summary_and_says_who_is_still_in_error(stack):
    for email in ("ann@example.com", "bo@example.com", "cy@example.com"):
        stack.add_user(email, suspended=True)
        _run(stack, "activate", email)
    stack.sim.set_suspended("ann@example.com", False)
    stack.sim.set_suspended("cy@example.com", False)

    partly = _run(stack, "revalidate", "--all-errors")
    stack.sim.set_suspended("bo@example.com", False)
    fixed = _run(stack, "revalidate", "--all-errors")

    assert partly.output.splitlines()[:3] == [
        "ann@example.com: active", "bo@example.com: error", "cy@example.com: active"]
    assert "active           2" in partly.output and "error            1" in partly.output
    assert "1 user in error: bo@example.com" in partly.output
    assert partly.exit_code == 4
    assert fixed.exit_code == 0 and "active           1" in fixed.output
    assert "in error" not in fixed.output


def test_status_table_is_sorted_and_counted(stack):
    for email in ("zed@example.com", "amy@example.com", "max@example.com"):
        stack.add_user(email, suspended=email.startswith("max"))
        _run(stack, "activate", email)

    lines = _run(stack, "status").output.splitlines()

    assert [line.split()[0] for line in lines[1:4]] == [
        "amy@example.com", "max@example.com", "zed@example.com"]
    assert lines[4] == "3 users: 2 active, 1 error"
    assert _run(stack, "errors").output.splitlines()[-1] == "1 user: 1 error"


def test_deactivate_speaks_in_the_singular_for_one_user_and_summarises(stack):
    stack.add_user("ann@example.com")
    _run(stack, "activate", "ann@example.com")

    kept = _run(stack, "deactivate", "ann@example.com", input="n\n")
    gone = _run(stack, "deactivate", "--yes", "ann@example.com")

    assert "Deactivate 1 user and shred their data?" in kept.output
    assert gone.exit_code == 0
    assert "deactivated      1" in gone.output
