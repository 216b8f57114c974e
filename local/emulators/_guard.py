"""Dead man's switch: end a process group when the process that started it dies.

``python _guard.py PGID`` is started by :mod:`local.emulators._process` next to an emulator
(gcloud, its shell wrapper and the Java server, all in process group ``PGID``), with a pipe on
its stdin. The parent writes ``STAND_DOWN`` once it has stopped the emulator itself. If stdin
reaches EOF without it (the parent died, even by SIGKILL, and the kernel closed the pipe), the
guard ends the group: SIGTERM, up to ``GRACE_SECONDS`` for it to exit, then SIGKILL. So a
crashed pytest worker never leaves a Java emulator listening.

Standard library only, run by path: it must not import the project.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_SECONDS = 5.0
STAND_DOWN = b"stand-down"


def group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is in process group ``pgid`` (Linux /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def end_group(pgid: int, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds for it to be gone, then SIGKILL."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def main(pgid: int) -> int:
    told = sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
    if told != STAND_DOWN:
        end_group(pgid)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
