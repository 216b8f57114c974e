"""The admin CLI against the embedded stack's real ``provision_users`` over HTTP."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from local.admin_cli import cli

pytestmark = pytest.mark.integration


def _run(stack, *args, token=None):
    result = CliRunner().invoke(cli, ["--url", stack.url("provision_users"), "--token",
                                      token or stack.admin_token, *args])
    stack.settle()
    return result


def test_activate_from_args_and_csv_then_status_errors_revalidate_deactivate(stack, tmp_path):
    for email in ("ann@example.com", "ben@example.com", "cat@example.com"):
        stack.add_user(email)
    stack.sim.set_calendar_writable("cat@example.com", False)
    users = tmp_path / "users.csv"
    users.write_text("email\nben@example.com\n# a comment\nnot an address\ncat@example.com\n")

    first = _run(stack, "activate", "ann@example.com")
    from_csv = _run(stack, "activate", "--csv", str(users))

    assert first.exit_code == 0 and "active: 1" in first.output
    assert from_csv.exit_code == 0
    assert "active: 1" in from_csv.output and "error: 1" in from_csv.output
    assert "skipped 1 invalid rows" in from_csv.stderr and "user/s" in from_csv.stderr
    table = _run(stack, "status").output
    assert table.count("active") == 2 and "cat@example.com" in table
    errors = _run(stack, "errors").output
    assert "cat@example.com" in errors and "cannot write" in errors
    assert "ann@example.com" not in errors

    stack.sim.set_calendar_writable("cat@example.com", True)
    again = _run(stack, "revalidate", "--all-errors")
    assert again.exit_code == 0 and "cat@example.com: active" in again.output
    assert stack.user_status("cat@example.com")["status"] == "active"

    gone = _run(stack, "deactivate", "--yes", "ben@example.com")
    assert "ben@example.com: deactivated" in gone.output
    assert "deactivated" in _run(stack, "status", "ben@example.com").output


def test_refusals_and_unreachable_api_exit_with_clear_messages(stack):
    wrong = _run(stack, "status", token="wrong-token")
    assert wrong.exit_code == 2 and "refused (403)" in wrong.stderr
    missing = _run(stack, "status", "nobody@example.com")
    assert missing.exit_code == 2 and "404" in missing.stderr
    down = CliRunner().invoke(cli, ["--url", "http://127.0.0.1:9", "--token", "t", "errors"])
    assert down.exit_code == 3 and "cannot reach" in down.stderr
