"""Admin command line for ``provision_users``: the embedded stack's or a deployed one's.

    python -m local.admin_cli --url URL --token TOKEN activate ann@example.com ben@example.com
    python -m local.admin_cli activate --csv users.csv          # progress bar on stderr
    python -m local.admin_cli status [EMAIL]                    # one user, or a table of all
    python -m local.admin_cli errors                            # users in error, with reasons
    python -m local.admin_cli deactivate --yes EMAIL...
    python -m local.admin_cli revalidate EMAIL... | --all-errors

``--url``/``HYBRIDCAL_ADMIN_URL`` is the function's URL; ``--token``/``HYBRIDCAL_ADMIN_TOKEN``
the embedded admin token, or ``--id-token`` to call a deployed (IAM-private) function with a
Google ID token from the ambient service-account credentials (as a user, pass
``--token "$(gcloud auth print-identity-token)"``).

Every bulk command (activate, revalidate, deactivate) ends with a summary: how many users
ended in each state, and which are in error. Exit codes, so scripts can tell:

- 0: done, and no user ended in ``error``;
- 1: aborted (a confirmation declined);
- 2: refused by the API (its message is printed), or bad usage (click's own);
- 3: the API cannot be reached;
- 4: done, but at least one user ended in ``error`` (listed; ``errors`` shows why).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import click
import requests

CHUNK = 50  # the API activates up to 50 users synchronously per call
TIMEOUT = 300  # seconds; 50 validations against Google can take a while
EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USERS_IN_ERROR = 2, 3, 4

_HINTS = {
    400: "bad request",
    401: "not authenticated: give --token (embedded) or --id-token (deployed)",
    403: "not allowed: wrong admin token, or (deployed) your account lacks roles/run.invoker",
    404: "not found",
}


def _plural(count: int, word: str, plural: str | None = None) -> str:
    """``1 user``, ``2 users``, ``0 users``."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class Api:
    """A thin client for the admin JSON API; exits with a clear message on any failure."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request; the JSON body plus ``_status`` (the HTTP status) on success.

        HTTP errors print the API's own message and exit 2; network errors exit 3.
        """
        try:
            answer = requests.request(method, self.url + path, timeout=TIMEOUT, headers={
                "Authorization": f"Bearer {self.token}"}, **kwargs)
        except requests.RequestException as exc:
            _fail(f"cannot reach {self.url} ({type(exc).__name__}); is the URL right and the "
                  "service running?", EXIT_UNREACHABLE)
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message", "") if isinstance(error, dict) else ""
            if not message:  # e.g. Cloud Run's own HTML page for a refused ID token
                message = " ".join(answer.text.split())[:200]
            hint = _HINTS.get(answer.status_code, "the API answered with an error")
            _fail(f"refused ({answer.status_code}, {hint}): {message}", EXIT_REFUSED)
        if not isinstance(body, dict):
            _fail(f"{self.url}{path} did not answer with a JSON object; is --url the "
                  "provision_users function?", EXIT_REFUSED)
        return {"_status": answer.status_code, **body}

    def users(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every user (optionally only those with ``status``), following ``next_page_token``."""
        rows: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {k: v for k, v in (("status", status), ("page_token", token)) if v}
            page = self.call("GET", "/users", params=params)
            rows += page.get("users", [])
            token = page.get("next_page_token")
            if not token:
                return rows

    def user(self, email: str) -> dict[str, Any]:
        """One user's status document (404 exits 2)."""
        return {"email": email.lower(), **self.call("GET", f"/users/{quote(email, safe='@')}")}


def _valid(email: str) -> bool:
    local, _, domain = email.partition("@")
    return bool(local) and "." in domain and not any(c.isspace() for c in email) \
        and email.count("@") == 1 and len(email) <= 320


def _read_csv(path: Path) -> tuple[list[str], list[str]]:
    """Addresses from the ``email`` column (or the first one) and descriptions of bad rows.

    Blank lines and lines starting with ``#`` are skipped; a header row is recognised by a
    cell named ``email``.
    """
    emails: list[str] = []
    bad: list[str] = []
    column: int | None = None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for row in reader:
            number = reader.line_num
            cells = [c.strip() for c in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if column is None:
                lowered = [c.lower() for c in cells]
                column = lowered.index("email") if "email" in lowered else 0
                if "email" in lowered:
                    continue
            cell = cells[column] if column < len(cells) else ""
            if _valid(cell):
                emails.append(cell)
            else:
                bad.append(f"line {number}: {cell[:60]!r}" if cell
                           else f"line {number}: no value in column {column + 1}")
    return emails, bad


def _emails_from(args: Iterable[str], csv_path: Path | None) -> list[str]:
    """Arguments plus CSV rows, lower-cased and de-duplicated; invalid ones are reported."""
    emails: list[str] = []
    bad: list[str] = []
    for arg in args:
        if _valid(arg.strip()):
            emails.append(arg.strip())
        else:
            bad.append(f"argument {arg!r}")
    if csv_path:
        from_csv, bad_rows = _read_csv(csv_path)
        emails += from_csv
        bad += bad_rows
    if bad:
        click.echo(f"skipped {_plural(len(bad), 'invalid entry', 'invalid entries')} "
                   "(not an email address):", err=True)
        for line in bad[:20]:
            click.echo(f"  {line}", err=True)
        if len(bad) > 20:
            click.echo(f"  ... and {len(bad) - 20} more", err=True)
    return list(dict.fromkeys(e.lower() for e in emails))


def _table(rows: list[dict[str, Any]]) -> None:
    """Columns email, status, reason, sorted by email; ``(none)`` for no rows, else a count
    by status underneath."""
    if not rows:
        click.echo("(none)")
        return
    rows = sorted(rows, key=lambda r: str(r.get("email") or ""))
    width = max(len("email"), *(len(str(r.get("email"))) for r in rows))
    click.echo(f"{'email':<{width}}  {'status':<11}  reason")
    for row in rows:
        click.echo(f"{row.get('email')!s:<{width}}  {row.get('status')!s:<11}  "
                   f"{row.get('reason') or ''}".rstrip())
    counts = Counter(str(r.get("status")) for r in rows)
    click.echo(f"{_plural(len(rows), 'user')}: "
               + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))


def _summary(results: dict[str, str], queued: int = 0) -> int:
    """Counts by resulting status and the users in error, after every bulk command; answers
    the exit code (:data:`EXIT_USERS_IN_ERROR` when any user ended in error)."""
    counts = Counter(results.values())
    if queued:
        counts["queued"] += queued
    click.echo(f"{'status':<11}  users")
    for state, count in sorted(counts.items()):
        click.echo(f"{state:<11}  {count:>5}")
    if queued:
        click.echo(f"{_plural(queued, 'user was', 'users were')} queued and show as pending "
                   "until processed; follow them with: python -m local.admin_cli status")
    failed = sorted(e for e, s in results.items() if s == "error")
    if failed:
        click.echo(f"{_plural(len(failed), 'user')} in error: " + ", ".join(failed[:10])
                   + (f" and {len(failed) - 10} more" if len(failed) > 10 else ""))
        click.echo("see reasons with: python -m local.admin_cli errors")
        return EXIT_USERS_IN_ERROR
    return 0


def _results(results: dict[str, str]) -> None:
    for email, result in sorted(results.items()):
        click.echo(f"{email}: {result}")


@click.group()
@click.option("--url", envvar="HYBRIDCAL_ADMIN_URL", required=True,
              help="provision_users URL (env HYBRIDCAL_ADMIN_URL).")
@click.option("--token", envvar="HYBRIDCAL_ADMIN_TOKEN", default="",
              help="Embedded admin token (env HYBRIDCAL_ADMIN_TOKEN).")
@click.option("--id-token", is_flag=True,
              help="Use a Google ID token from the ambient credentials (deployed function).")
@click.pass_context
def cli(ctx: click.Context, url: str, token: str, id_token: bool) -> None:
    """Administer hybridcal users through the provision_users admin API."""
    if id_token:
        try:
            import google.auth.exceptions
            import google.auth.transport.requests
            from google.oauth2 import id_token as google_id_token

            token = google_id_token.fetch_id_token(google.auth.transport.requests.Request(),
                                                   audience=url.rstrip("/"))
        except google.auth.exceptions.GoogleAuthError as exc:
            _fail(f"cannot get a Google ID token for {url}: {exc}\n--id-token needs a service "
                  "account (GOOGLE_APPLICATION_CREDENTIALS or the metadata server); as a user, "
                  'pass --token "$(gcloud auth print-identity-token)" instead', EXIT_REFUSED)
    if not token:
        raise click.UsageError("give --token (embedded) or --id-token (deployed)")
    ctx.obj = Api(url, token)


@cli.command()
@click.argument("emails", nargs=-1)
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV file: the 'email' column, or the first column without a header.")
@click.pass_obj
def activate(api: Api, emails: tuple[str, ...], csv_path: Path | None) -> None:
    """Activate (and validate) users, 50 per request."""
    from tqdm import tqdm

    wanted = _emails_from(emails, csv_path)
    if not wanted:
        raise click.UsageError("no valid email addresses given")
    results: dict[str, str] = {}
    queued = 0
    with tqdm(total=len(wanted), unit="user", file=sys.stderr) as progress:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            answer = api.call("POST", "/users:activate", json={"emails": chunk})
            if answer["_status"] == 202:
                queued += int(answer.get("queued", len(chunk)))
            else:
                results.update(answer.get("results", {}))
            progress.update(len(chunk))
    sys.exit(_summary(results, queued))


@cli.command()
@click.argument("email", required=False)
@click.pass_obj
def status(api: Api, email: str | None) -> None:
    """One user's status, or a table of every user."""
    _table([api.user(email)] if email else api.users())


@cli.command()
@click.pass_obj
def errors(api: Api) -> None:
    """Users in error, with the reason an admin can act on."""
    _table(api.users("error"))


@cli.command()
@click.argument("emails", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def deactivate(api: Api, emails: tuple[str, ...], yes: bool) -> None:
    """Stop serving users and crypto-shred their data."""
    wanted = _emails_from(emails, None)
    if not wanted:
        raise click.UsageError("no valid email addresses given")
    if not yes:
        click.confirm(f"Deactivate {_plural(len(wanted), 'user')} and shred their data?",
                      abort=True)
    results: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        results.update(api.call("POST", "/users:deactivate",
                                json={"emails": wanted[start:start + CHUNK]}).get("results", {}))
    _results(results)
    sys.exit(_summary(results))


@cli.command()
@click.argument("emails", nargs=-1)
@click.option("--all-errors", is_flag=True, help="Every user currently in error.")
@click.pass_obj
def revalidate(api: Api, emails: tuple[str, ...], all_errors: bool) -> None:
    """Validate users in error again (after the admin fixed the cause)."""
    wanted = _emails_from(emails, None)
    if all_errors:
        wanted = list(dict.fromkeys(wanted + [u["email"] for u in api.users("error")
                                              if u.get("email")]))
    if not wanted:
        if all_errors:
            click.echo("no users in error")
            return
        raise click.UsageError("give email addresses or --all-errors")
    results: dict[str, str] = {}
    for start in range(0, len(wanted), CHUNK):
        results.update(api.call("POST", "/users:revalidate",
                                json={"emails": wanted[start:start + CHUNK]}).get("results", {}))
    _results(results)
    sys.exit(_summary(results))


if __name__ == "__main__":
    cli(prog_name="python -m local.admin_cli")
