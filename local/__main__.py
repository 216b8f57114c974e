"""``python -m local`` (``make run``): the embedded stack with a simulated domain of demo users.

It runs in real time: pushes and messages flow on their own, Scheduler jobs fire when due. A
small console lets you act as a demo user and watch the service react; without a terminal it
just serves until interrupted.

Settings come from the environment (``HYBRIDCAL_*``) and are validated by the same
:func:`shared.config.load` a deployed function runs at cold start, so a value a deployment
would refuse is refused here too; the few the embedded stack must serve itself (its own
endpoints, mode, clock) are set by the stack and reported when the environment sets them.
One stack per data directory: a second one on the same directory names the process holding it
and exits non-zero instead of clearing the running stack's data.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from local.harness import Harness
from local.stack import DataDirInUse, LocalStack
from shared.clock import from_rfc3339, to_rfc3339

_LOGGER = logging.getLogger("local.console")

DEMO_USERS = (
    ("alice@example.com", "de", "Europe/Berlin"),
    ("bob@example.com", "ja", "Asia/Tokyo"),
    ("carol@example.com", "en", "America/New_York"),
)
DEMO_ROOMS = (("room-1@example.com", "Board room"),)
# The demo's choices where the environment says nothing (a deployment's defaults differ).
DEMO_DEFAULTS = {"HYBRIDCAL_DEVICE_BOOKING_PROVIDER": "webex-personal-room"}
# Settings the embedded stack serves itself: the environment cannot move them elsewhere.
STACK_SERVES = frozenset({
    "HYBRIDCAL_MODE", "HYBRIDCAL_DATA_DIR", "HYBRIDCAL_GOOGLE_API_ENDPOINT",
    "HYBRIDCAL_TOKEN_URI", "HYBRIDCAL_INTAKE_URL", "HYBRIDCAL_ID_TOKEN_CERTS_URL",
    "HYBRIDCAL_WEBEX_API_URL", "HYBRIDCAL_CLOCK_FILE", "HYBRIDCAL_API_AUDIENCE",
    "GOOGLE_CLOUD_PROJECT",
})

HELP = """\
commands (USER = alice | bob | carol, ROOM = room-1):
  create USER MINUTES TITLE... [@webex|@meet]   event starting in MINUTES, keyword into Location
  show USER                                      the user's upcoming events as Google stores them
  meetings USER|ROOM                             the meetings list the app and devices see
  vacation USER on|off                           switch the Gmail vacation responder
  presence USER                                  available or out of office, as the app sees it
  notifications [USER]                           join notifications published so far, opened
  book ROOM MINUTES                              book the room from its device, from now
  status                                         activated users and rooms and their state
  calls                                          Google API calls made so far, by method
  help | quit
"""


class ConsoleError(Exception):
    """Something the person at the console can fix; the message is one plain sentence."""


def _email(name: str) -> str:
    return name.lower() if "@" in name else f"{name.lower()}@example.com"


def _known(stack: LocalStack, name: str, *, room: bool = False) -> str:
    """The address of a user (or room) of the simulated domain, or a sentence saying who is."""
    email = _email(name)
    entry = stack.sim.users.get(email)
    if entry is None or bool(entry.get("room")) != room:
        known = [r for r, _ in DEMO_ROOMS] if room else [e for e, _, _ in DEMO_USERS]
        kind = "room" if room else "user"
        raise ConsoleError(f"{name} is no {kind} of the simulated domain; try "
                           + " or ".join(k.split("@")[0] for k in known) + ".")
    return email


def _minutes(text: str, usage: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConsoleError(f"MINUTES must be a whole number, as in: {usage}") from None


def _hhmm(text: str | None) -> str:
    return from_rfc3339(text).strftime("%H:%M") if text else "?"


def _create(stack: LocalStack, args: list[str]) -> str:
    usage = "create alice 5 Lunch @webex"
    if len(args) < 3:
        raise ConsoleError(f"create needs a user, minutes and a title, as in: {usage}")
    user, minutes, rest = _known(stack, args[0]), _minutes(args[1], usage), args[2:]
    keyword = next((w for w in rest if w.startswith("@")), None)
    title = " ".join(w for w in rest if w != keyword)
    if not title:
        raise ConsoleError(f"create needs a title besides the keyword, as in: {usage}")
    start = stack.now() + timedelta(minutes=minutes)
    body: dict[str, Any] = {
        "summary": title,
        "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))},
    }
    if keyword:
        body["location"] = keyword
    calendar = stack.calendar(user)
    event = calendar.events().insert(calendarId="primary", body=body).execute()
    said = f"created {title!r} for {user} at {_hhmm(body['start']['dateTime'])} UTC"
    if not keyword:
        return (f"{said}; it has no @webex or @meet in its Location, so the service leaves "
                "it as it is.")
    if keyword.lower() not in stack.config.keywords:
        return (f"{said}; {keyword} is not a configured keyword ("
                + ", ".join(stack.config.keywords) + "), so the service leaves it as it is.")
    location = keyword
    for _ in range(50):  # real time: the push and the patch take a moment (at most 5 s here)
        stack.settle()
        location = calendar.events().get(calendarId="primary",
                                         eventId=event["id"]).execute().get("location", "")
        if keyword not in location or not stack.real_time:
            break
        stack.wait(0.1)
    if keyword in location:  # not patched yet
        return f"{said}; the service is adding join details (see them with: show {args[0]})."
    return f"{said}; the service added join details: {location}"


def _show(stack: LocalStack, args: list[str]) -> str:
    if len(args) != 1:
        raise ConsoleError("show needs one user, as in: show alice")
    items = stack.calendar(_known(stack, args[0])).events().list(
        calendarId="primary", singleEvents=True, orderBy="startTime",
        timeMin=to_rfc3339(stack.now() - timedelta(hours=1)), maxResults=10,
    ).execute().get("items", [])
    return "\n".join(
        f"- {e.get('summary', '')!r} at {e['start'].get('dateTime', e['start'].get('date'))}"
        f"\n  location: {e.get('location', '')}\n  description: "
        + (e.get("description") or "").replace("\n", "\n    ")
        for e in items
    ) or "(no upcoming events)"


def _meetings(stack: LocalStack, args: list[str]) -> str:
    if len(args) != 1:
        raise ConsoleError("meetings needs one user or room, as in: meetings alice")
    email = _email(args[0])
    if email not in stack.sim.users:
        _known(stack, args[0])  # raises, naming who there is
    rows = stack.meetings(email)
    return "\n".join(
        f"- {m['start']} {m['title']!r} join={m.get('join_url')} ({m.get('service')})"
        for m in rows
    ) or "(no meetings)"


def _vacation(stack: LocalStack, args: list[str]) -> str:
    if len(args) != 2 or args[1].lower() not in ("on", "off"):
        raise ConsoleError("vacation needs a user and on or off, as in: vacation alice on")
    enabled = args[1].lower() == "on"
    stack.gmail(_known(stack, args[0])).users().settings().updateVacation(
        userId="me", body={"enableAutoReply": enabled, "responseSubject": "Away",
                           "responseBodyPlainText": "I am away."},
    ).execute()
    minutes = stack.config.vacation_interval_seconds // 60 or 1
    return (f"vacation responder {'on' if enabled else 'off'}; presence follows at the next "
            f"poll (every {minutes} min; see it with: presence {args[0]}).")


def _presence(stack: LocalStack, args: list[str]) -> str:
    if len(args) != 1:
        raise ConsoleError("presence needs one user, as in: presence alice")
    email = _known(stack, args[0])
    view = stack.presence(email)
    if view.get("status") == "out_of_office":
        until = f" until {view['until']}" if view.get("until") else ""
        return f"{email}: out of office since {view.get('since') or '?'}{until}"
    return f"{email}: available"


def _notifications(stack: LocalStack, args: list[str]) -> str:
    if len(args) > 1:
        raise ConsoleError("notifications takes at most one user, as in: notifications alice")
    email = _known(stack, args[0]) if args else None
    rows = stack.join_notifications(email)
    return "\n".join(
        f"- {n['start']} {n['email']}: {n.get('title')!r} join={n.get('join_url')}"
        + (f" sip={n['sip_uri']}" if n.get("sip_uri") else "")
        for n in rows
    ) or "(no join notifications yet: they go out shortly before a meeting with a join link)"


def _book(stack: LocalStack, args: list[str]) -> str:
    usage = "book room-1 30"
    if len(args) != 2:
        raise ConsoleError(f"book needs a room and minutes, as in: {usage}")
    room, minutes = _known(stack, args[0], room=True), _minutes(args[1], usage)
    status, answer = stack.book(room, minutes)
    if status == 201:
        join = f"; join: {answer['join_url']}" if answer.get("join_url") else ""
        return (f"booked {room} from {answer['start'][11:16]} to {answer['end'][11:16]} "
                f"(booking {answer['id']}){join}")
    message = (answer.get("error") or {}).get("message") or f"the API answered {status}"
    raise ConsoleError(message[:1].upper() + message[1:] + ".")


def _status(stack: LocalStack, args: list[str]) -> str:
    lines = []
    for email in [e for e, _, _ in DEMO_USERS] + [r for r, _ in DEMO_ROOMS]:
        status = stack.user_status(email)
        lines.append(f"- {email}: {status.get('status')} {status.get('reason') or ''}".rstrip())
    return "\n".join(lines)


def _calls(stack: LocalStack, args: list[str]) -> str:
    return "\n".join(f"{key:40s} {n}" for key, n in sorted(stack.api_calls().items()))


COMMANDS = {"create": _create, "show": _show, "meetings": _meetings, "vacation": _vacation,
            "presence": _presence, "notifications": _notifications, "book": _book,
            "status": _status, "calls": _calls}


def run_command(stack: LocalStack, line: str, log_file: Path | None = None) -> str:
    """The console's answer to one line; every failure is one plain sentence."""
    try:
        words = shlex.split(line)
    except ValueError:
        return "error: a quote is not closed; quote titles like this: create alice 5 'Team lunch'"
    if not words:
        return ""
    verb, args = words[0].lower(), words[1:]
    if verb == "help":
        return HELP
    command = COMMANDS.get(verb)
    if command is None:
        return f"error: there is no command {verb!r}; type help for the list."
    try:
        return command(stack, args)
    except ConsoleError as exc:
        return f"error: {exc}"
    except Exception as exc:  # a demo console reports and keeps going; details in the log
        _LOGGER.exception("console command failed", extra={"json_fields": {"command": verb}})
        where = f"; the details are in {log_file}" if log_file else ""
        return f"error: {verb} did not work ({type(exc).__name__}){where}."


# -- start-up ---------------------------------------------------------------------------------
class SettingsRefused(Exception):
    """The environment holds a setting a deployment would refuse (one sentence)."""


class StartFailed(Exception):
    """The stack failed to start for a reason of its own (a bug); the log has the details."""


def environment_settings(environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The environment's settings for the stack, validated as deployed, and notes about those
    the stack serves itself or does not know."""
    from shared import config

    if environ.get("HYBRIDCAL_MODE", "embedded") != "embedded":
        raise SettingsRefused(
            f"HYBRIDCAL_MODE={environ['HYBRIDCAL_MODE']!r} is set, but make run is the embedded "
            "mode; unset it (deployed functions run in cloud mode).")
    try:
        config.load(environ)
    except config.ConfigError as exc:
        raise SettingsRefused(str(exc)) from None
    known = {s.env for s in config.SETTINGS}
    chosen = {**DEMO_DEFAULTS, **{k: v for k, v in environ.items()
                                  if k in known and k not in STACK_SERVES}}
    notes = [f"{k} is set, but the embedded stack serves this itself; ignored."
             for k in sorted(environ) if k in STACK_SERVES and k in known and environ[k]
             and k not in ("HYBRIDCAL_MODE", "HYBRIDCAL_DATA_DIR")]
    notes += [f"{k} is not a hybridcal setting (see the README's table); ignored."
              for k in sorted(environ) if k.startswith("HYBRIDCAL_") and k not in known]
    return chosen, notes


@dataclass
class Demo:
    stack: LocalStack
    lines: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    _log_stream: IO[str] | None = None

    @property
    def healthy(self) -> bool:
        return all(s == "active" for s in self.statuses.values())

    def close(self) -> None:
        self.stack.close()
        if self._log_stream is not None:
            from shared import logs

            logs.configure(self.stack.config.log_level if hasattr(self.stack, "config")
                           else "INFO", sys.stderr)
            self._log_stream.close()


def start_demo(data_dir: Path, environ: Mapping[str, str], *, verbose: bool = False,
               real_time: bool = True) -> Demo:
    """Validate the settings, claim ``data_dir``, start the stack with the demo domain and
    describe it (``Demo.lines``: what ``make run`` prints). Raises :class:`SettingsRefused`
    or :class:`~local.stack.DataDirInUse`; the caller closes the demo."""
    from shared import logs

    settings, notes = environment_settings(environ)
    stack = LocalStack(data_dir=data_dir, real_time=real_time, env=settings, fresh=True)
    demo = Demo(stack)
    level = settings.get("HYBRIDCAL_LOG_LEVEL", "INFO").upper()
    if verbose:
        logs.configure(level, sys.stderr)
    else:
        demo.log_file = stack.data_dir / "hybridcal.log"
        demo._log_stream = demo.log_file.open("a", encoding="utf-8", buffering=1)
        logs.configure(level, demo._log_stream)
    try:
        stack.start()
        for email, locale, timezone in DEMO_USERS:
            stack.add_user(email, locale=locale, timezone=timezone)
        demo.statuses = {email: stack.activate(email) for email, _, _ in DEMO_USERS}
        for room, name in DEMO_ROOMS:
            stack.add_room(room, name)
            demo.statuses[room] = stack.activate_workspace(room)
    except Exception as exc:
        _LOGGER.exception("the embedded stack did not start")
        demo.close()
        raise StartFailed(f"the stack did not start ({type(exc).__name__}: {exc}); "
                          f"the details are in {demo.log_file or 'the log above'}.") from exc
    user, room = DEMO_USERS[0][0], DEMO_ROOMS[0][0]
    demo.lines = [
        f"hybridcal embedded stack is running (process {os.getpid()})",
        f"  data dir             {stack.data_dir}",
        f"  logs                 {demo.log_file or 'this terminal (--verbose)'}",
        f"  Workspace simulator  {stack.sim.url}",
        *(f"  {name:20s} {stack.url(name)}"
          for name in ("intake_push", "provision_users", "meetings_api")),
        f"  admin token          {stack.admin_token}   (provision_users, the admin CLI)",
        f"  meetings API token   {stack.api_admin_token}   (admin: any user's meetings)",
        "open in a browser:",
        "  " + f"{user.split('@')[0]}'s meetings".ljust(21) + stack.page_url(user),
        "  " + f"{room.split('@')[0]}'s board".ljust(21) + stack.page_url(room),
        "demo users and rooms: " + ", ".join(f"{e} ({s})" for e, s in demo.statuses.items()),
        f"  e.g. curl -H 'Authorization: Bearer {stack.admin_token}' "
        f"{stack.url('provision_users')}/users",
        *(f"note: {n}" for n in notes),
    ]
    return demo


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=environ.get("HYBRIDCAL_DATA_DIR", ".local-data"),
                        help="where the embedded store, keyset and log live (emptied each run; "
                             "one stack at a time)")
    parser.add_argument("--once", action="store_true",
                        help="start, activate the demo users, print the summary and stop")
    parser.add_argument("--verbose", action="store_true",
                        help="write the logs to this terminal instead of the data dir's log file")
    args = parser.parse_args(argv)

    try:
        demo = start_demo(Path(args.data_dir), environ, verbose=args.verbose)
    except (SettingsRefused, DataDirInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StartFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stack = demo.stack
    try:
        print("\n".join(demo.lines))
        if args.once:
            return 0 if demo.healthy else 1
        return console(stack, lambda line: run_command(stack, line, demo.log_file))
    except KeyboardInterrupt:
        return 0
    finally:
        demo.close()


def console(stack: Harness, answer: Callable[[str], str]) -> int:
    """The prompt of ``make run`` and ``make cloud-local``: one line in, ``answer`` printed;
    without a terminal (stdin at its end) the stack serves until interrupted."""
    print(HELP)
    interactive = sys.stdin.isatty()
    while True:
        try:
            line = input("hybridcal> ") if interactive else sys.stdin.readline()
        except EOFError:
            line = "quit"
        if not interactive and line == "":
            stack.wait(None)  # no console: serve until interrupted
        if line.strip() in ("quit", "exit"):
            return 0
        output = answer(line)
        if output:
            print(output)


if __name__ == "__main__":
    sys.exit(main())
