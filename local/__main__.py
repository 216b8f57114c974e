"""``python -m local`` (``make run``): the embedded stack with a simulated domain of demo users.

It runs in real time: pushes and messages flow on their own, Scheduler jobs fire when due. A
small console lets you act as a demo user and watch the service react; without a terminal it
just serves until interrupted.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from local.stack import LocalStack
from shared.clock import to_rfc3339

DEMO_USERS = (
    ("alice@example.com", "de", "Europe/Berlin"),
    ("bob@example.com", "ja", "Asia/Tokyo"),
    ("carol@example.com", "en", "America/New_York"),
)

HELP = """\
commands (user = alice | bob | carol):
  create USER MINUTES TITLE... [@webex|@meet]   event starting in MINUTES, keyword into Location
  show USER                                      the user's upcoming events as Google stores them
  meetings USER                                  the meetings list the app and devices see
  vacation USER on|off                           switch the Gmail vacation responder
  status                                         activated users and their state
  calls                                          Google API calls made so far, by method
  help | quit
"""


def _email(name: str) -> str:
    return name if "@" in name else f"{name}@example.com"


def _command(stack: LocalStack, line: str) -> str:
    words = shlex.split(line)
    if not words:
        return ""
    verb, args = words[0].lower(), words[1:]
    if verb == "create" and len(args) >= 3:
        user, minutes, rest = _email(args[0]), int(args[1]), args[2:]
        keyword = next((w for w in rest if w.startswith("@")), None)
        title = " ".join(w for w in rest if w != keyword)
        start = stack.now() + timedelta(minutes=minutes)
        body: dict[str, Any] = {
            "summary": title,
            "start": {"dateTime": to_rfc3339(start)},
            "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))},
        }
        if keyword:
            body["location"] = keyword
        event = stack.calendar(user).events().insert(calendarId="primary", body=body).execute()
        return f"created {event['id']} for {user}; the service patches it within a second"
    if verb == "show" and args:
        items = stack.calendar(_email(args[0])).events().list(
            calendarId="primary", singleEvents=True, orderBy="startTime",
            timeMin=to_rfc3339(stack.now() - timedelta(hours=1)), maxResults=10,
        ).execute().get("items", [])
        return "\n".join(
            f"- {e.get('summary', '')!r} at {e['start'].get('dateTime', e['start'].get('date'))}"
            f"\n  location: {e.get('location', '')}\n  description: "
            + (e.get("description") or "").replace("\n", "\n    ")
            for e in items
        ) or "(no upcoming events)"
    if verb == "meetings" and args:
        meetings = getattr(stack, "meetings", None)
        if meetings is None:
            return "the meetings list is not available in this build"
        rows = meetings(_email(args[0]))
        return "\n".join(
            f"- {m['start']} {m['title']!r} join={m.get('join_url')} ({m.get('service')})"
            for m in rows
        ) or "(no meetings)"
    if verb == "vacation" and len(args) == 2:
        enabled = args[1].lower() == "on"
        stack.gmail(_email(args[0])).users().settings().updateVacation(
            userId="me", body={"enableAutoReply": enabled, "responseSubject": "Away",
                               "responseBodyPlainText": "I am away."},
        ).execute()
        return f"vacation responder {'on' if enabled else 'off'}; presence follows within one poll"
    if verb == "status":
        return "\n".join(
            f"- {email}: {stack.user_status(email).get('status')} "
            f"{stack.user_status(email).get('reason') or ''}" for email, _, _ in DEMO_USERS
        )
    if verb == "calls":
        return "\n".join(f"{key:40s} {n}" for key, n in sorted(stack.api_calls().items()))
    return HELP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--data-dir", default=".local-data",
                        help="where the embedded store and local keyset live (recreated each run)")
    parser.add_argument("--once", action="store_true",
                        help="start, activate the demo users, print the summary and stop")
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)  # the simulated domain is new each run; so is its state
    stack = LocalStack(data_dir=data_dir, real_time=True)
    stack.start()
    try:
        for email, locale, timezone in DEMO_USERS:
            stack.add_user(email, locale=locale, timezone=timezone)
        statuses = {email: stack.activate(email) for email, _, _ in DEMO_USERS}
        print("hybridcal embedded stack is running")
        print(f"  data dir             {stack.data_dir}")
        print(f"  Workspace simulator  {stack.sim.url}")
        for name in ("intake_push", "provision_users", "meetings_api"):
            print(f"  {name:20s} {stack.url(name)}")
        print(f"  admin bearer token   {stack.admin_token}")
        print("demo users: " + ", ".join(f"{e} ({s})" for e, s in statuses.items()))
        print(f"  e.g. curl -H 'Authorization: Bearer {stack.admin_token}' "
              f"{stack.url('provision_users')}/users")
        if args.once:
            return 0 if all(s == "active" for s in statuses.values()) else 1
        print(HELP)
        interactive = sys.stdin.isatty()
        while True:
            try:
                line = input("hybridcal> ") if interactive else sys.stdin.readline()
            except EOFError:
                line = "quit"
            if not interactive and line == "":
                stack._stop.wait()  # no console: serve until interrupted
            if line.strip() in ("quit", "exit"):
                return 0
            try:
                output = _command(stack, line)
            except Exception as exc:  # a demo console reports and keeps going
                output = f"error: {type(exc).__name__}: {exc}"
            if output:
                print(output)
    except KeyboardInterrupt:
        return 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
