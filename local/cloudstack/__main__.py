"""``python -m local.cloudstack`` (``make cloud-local``): the deployed topology of ``infra/`` on
this machine, with the demo users and the console of ``make run``.

It runs in real time: Pub/Sub pushes flow on their own, the Scheduler jobs of ``infra/`` fire
when their cron schedule says, every function is a process of its own behind its Cloud Run
front. Needs Google's Firestore and Pub/Sub emulators (``make emulators``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from local.__main__ import DEMO_ROOMS, DEMO_USERS, console, run_command

if TYPE_CHECKING:
    from local.cloudstack.stack import CloudStack


def answer(stack: CloudStack, line: str) -> str:
    """The console of ``make run``, plus ``denials``: what IAM refused so far."""
    if line.strip() == "denials":
        return "\n".join(map(str, stack.iam_denials())) or "(none)"
    return run_command(stack, line)  # type: ignore[arg-type]  # the same contract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.cloudstack", description=__doc__)
    parser.add_argument("--data-dir", default=".cloud-data",
                        help="function logs and the shared clock (recreated each run)")
    parser.add_argument("--once", action="store_true",
                        help="start, activate the demo users, print the summary and stop")
    args = parser.parse_args(argv)

    from local.cloudstack.stack import CloudStack
    from local.emulators import EmulatorUnavailable

    data_dir = Path(args.data_dir)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    stack = CloudStack(data_dir=data_dir, real_time=True)
    try:
        stack.start()
    except EmulatorUnavailable as exc:
        print(f"cannot start CloudStack: {exc}", file=sys.stderr)
        return 2
    try:
        for email, locale, timezone in DEMO_USERS:
            stack.add_user(email, locale=locale, timezone=timezone)
        statuses = {email: stack.activate(email) for email, _, _ in DEMO_USERS}
        for room, name in DEMO_ROOMS:
            stack.add_room(room, name)
            statuses[room] = stack.activate_workspace(room)
        print(f"hybridcal CloudStack is running ({len(stack.functions)} functions, "
              f"started in {stack.startup_seconds:.0f} s)")
        print(f"  logs                 {stack.data_dir / 'logs'}")
        print(f"  Workspace simulator  {stack.sim.url}")
        print(f"  Firestore emulator   {stack.firestore_host}")
        print(f"  Pub/Sub emulator     {stack.pubsub_host}")
        for key, pid in sorted(stack.processes().items()):
            print(f"  {key:20s} pid {pid:<7d} {stack.functions[key].front.url}")
        admin = stack.api_token("admin")
        print("demo users: " + ", ".join(f"{e} ({s})" for e, s in statuses.items()))
        user, room = DEMO_USERS[0][0], DEMO_ROOMS[0][0]
        print("  " + f"{user.split('@')[0]}'s meetings".ljust(21) + stack.page_url(user))
        print("  " + f"{room.split('@')[0]}'s board".ljust(21) + stack.page_url(room))
        print(f"  e.g. curl -H 'Authorization: Bearer {admin}' "
              f"{stack.url('meetings_api')}/users/alice@example.com/meetings")
        if args.once:
            denials = stack.iam_denials()
            for denial in denials:
                print(f"IAM denied: {denial}")
            return 0 if all(s == "active" for s in statuses.values()) and not denials else 1
        return console(stack, lambda line: answer(stack, line))
    except KeyboardInterrupt:
        return 0
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
