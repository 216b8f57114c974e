"""Admin command line for ``provision_users``: the embedded stack's or a deployed one's.

    python -m local.admin_cli --url URL --token TOKEN activate ann@example.com ben@example.com
    python -m local.admin_cli activate --csv users.csv          # progress bar on stderr
    python -m local.admin_cli status [EMAIL]                    # one user, or a table of all
    python -m local.admin_cli errors                            # users in error, with reasons
    python -m local.admin_cli deactivate --yes EMAIL...
    python -m local.admin_cli revalidate EMAIL... | --all-errors

``--url``/``HYBRIDCAL_ADMIN_URL`` is the function's URL; ``--token``/``HYBRIDCAL_ADMIN_TOKEN``
the embedded admin token, or ``--id-token`` to call a deployed (IAM-private) function with a
Google ID token from the ambient credentials. Exit codes: 0 done, 2 refused by the API (the
API's message is printed), 3 cannot reach it.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click
import requests

CHUNK = 50  # the API activates up to 50 users synchronously per call


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = requests.request(method, self.url + path, timeout=300, headers={
                "Authorization": f"Bearer {self.token}"}, **kwargs)
        except requests.RequestException as exc:
            click.echo(f"cannot reach {self.url}: {type(exc).__name__}", err=True)
            sys.exit(3)
        try:
            body = answer.json()
        except ValueError:
            body = {"error": {"message": answer.text[:200]}}
        if answer.status_code >= 400:
            message = (body.get("error") or {}).get("message", "")
            click.echo(f"refused ({answer.status_code}): {message}", err=True)
            sys.exit(2)
        return {"_status": answer.status_code, **body}

    def users(self, status: str | None = None) -> list[dict[str, Any]]:
        rows, token = [], None
        while True:
            params = {k: v for k, v in (("status", status), ("page_token", token)) if v}
            page = self.call("GET", "/users", params=params)
            rows += page.get("users", [])
            token = page.get("next_page_token")
            if not token:
                return rows


@click.group()
@click.option("--url", envvar="HYBRIDCAL_ADMIN_URL", required=True,
              help="provision_users URL (env HYBRIDCAL_ADMIN_URL).")
@click.option("--token", envvar="HYBRIDCAL_ADMIN_TOKEN", default="",
              help="Embedded admin token (env HYBRIDCAL_ADMIN_TOKEN).")
@click.option("--id-token", is_flag=True, help="Use a Google ID token (deployed function).")
@click.pass_context
def cli(ctx: click.Context, url: str, token: str, id_token: bool) -> None:
    """Administer hybridcal users."""
    if id_token:
        import google.auth.transport.requests
        from google.oauth2 import id_token as google_id_token

        token = google_id_token.fetch_id_token(google.auth.transport.requests.Request(), url)
    if not token:
        raise click.UsageError("give --token (embedded) or --id-token (deployed)")
    ctx.obj = Api(url, token)


def _emails_from(args: tuple[str, ...], csv_path: Path | None) -> list[str]:
    emails, bad = list(args), []
    if csv_path:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                    continue
                cell = row[0].strip()
                if number == 1 and cell.lower() == "email":
                    continue
                (emails if "@" in cell and " " not in cell else bad).append(
                    cell if "@" in cell else f"line {number}: {cell[:40]}")
    if bad:
        click.echo(f"skipped {len(bad)} invalid rows: " + "; ".join(bad[:5]), err=True)
    return list(dict.fromkeys(e.lower() for e in emails))


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("(none)")
        return
    width = max(len(str(r.get("email"))) for r in rows)
    click.echo(f"{'email':<{width}}  {'status':<11}  reason")
    for row in rows:
        click.echo(f"{row.get('email')!s:<{width}}  {row.get('status')!s:<11}  "
                   f"{row.get('reason') or ''}")


@cli.command()
@click.argument("emails", nargs=-1)
@click.option("--csv", "csv_path", type=click.Path(exists=True, path_type=Path),
              help="CSV with an 'email' column first.")
@click.pass_obj
def activate(api: Api, emails: tuple[str, ...], csv_path: Path | None) -> None:
    """Activate (and validate) users."""
    from tqdm import tqdm

    wanted = _emails_from(emails, csv_path)
    if not wanted:
        raise click.UsageError("no email addresses given")
    results: dict[str, str] = {}
    with tqdm(total=len(wanted), unit="user", file=sys.stderr) as progress:
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start:start + CHUNK]
            results.update(api.call("POST", "/users:activate", json={"emails": chunk})
                           .get("results", {}))
            progress.update(len(chunk))
    for status, count in sorted(Counter(results.values()).items()):
        click.echo(f"{status}: {count}")
    failed = [e for e, s in results.items() if s == "error"]
    if failed:
        click.echo("see reasons with: python -m local.admin_cli errors")


@cli.command()
@click.argument("email", required=False)
@click.pass_obj
def status(api: Api, email: str | None) -> None:
    """One user's status, or a table of every user."""
    _table([api.call("GET", f"/users/{email}")] if email else api.users())


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
    if not yes:
        click.confirm(f"Deactivate {len(emails)} users and shred their data?", abort=True)
    for email, result in api.call("POST", "/users:deactivate",
                                  json={"emails": list(emails)})["results"].items():
        click.echo(f"{email}: {result}")


@cli.command()
@click.argument("emails", nargs=-1)
@click.option("--all-errors", is_flag=True, help="Every user currently in error.")
@click.pass_obj
def revalidate(api: Api, emails: tuple[str, ...], all_errors: bool) -> None:
    """Validate users in error again (after the admin fixed the cause)."""
    wanted = list(emails) + ([u["email"] for u in api.users("error")] if all_errors else [])
    if not wanted:
        raise click.UsageError("give email addresses or --all-errors")
    for start in range(0, len(wanted), CHUNK):
        answer = api.call("POST", "/users:revalidate", json={"emails": wanted[start:start + CHUNK]})
        for email, result in answer["results"].items():
            click.echo(f"{email}: {result}")


if __name__ == "__main__":
    cli()
