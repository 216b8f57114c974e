"""Start and stop the npm ``@firestore-emulator/server`` Firestore emulator.

Why this one: the official emulator ships as a jar that firebase-tools downloads at run time,
which is not possible here (see ``shared/notes/emulators.md``). This Node implementation speaks
the Firestore gRPC API that the real ``google-cloud-firestore`` client uses. It is installed
with ``npm ci --prefix local/emulators`` and started by ``firestore-emulator.js``, which binds
127.0.0.1 on a port the OS picks and prints it, so there is no free-port race.

Known gaps (observed, see ``tests/shared/store/conftest.py``): transactions are not isolated,
and several admin RPCs are missing. Data lives in memory and dies with the process.
"""

from __future__ import annotations

import logging
import os
import selectors
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from local.emulators import EmulatorUnavailable

if TYPE_CHECKING:
    from google.cloud import firestore

_LOGGER = logging.getLogger(__name__)

EMULATOR_DIR = Path(__file__).resolve().parent
SCRIPT = EMULATOR_DIR / "firestore-emulator.js"
PACKAGE = EMULATOR_DIR / "node_modules" / "@firestore-emulator" / "server"
INSTALL_HINT = "npm ci --prefix local/emulators"
_ENV_LOCK = threading.Lock()


class FirestoreEmulator:
    """A running emulator process; use as a context manager or call :meth:`stop`."""

    def __init__(self, process: subprocess.Popen[str], host: str) -> None:
        self.process = process
        self.host = host  # "127.0.0.1:PORT", the value FIRESTORE_EMULATOR_HOST expects

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()

    def client(self, project: str = "hybridcal-test") -> firestore.Client:
        """A real Firestore client bound to this emulator."""
        return emulator_client(self.host, project)

    def __enter__(self) -> FirestoreEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_firestore_emulator(timeout: float = 20.0) -> FirestoreEmulator:
    """Start the emulator and wait until it listens; raise :class:`EmulatorUnavailable` if not."""
    node = shutil.which("node")
    if node is None:
        raise EmulatorUnavailable("Firestore emulator needs Node.js: `node` is not on PATH")
    if not PACKAGE.is_dir():
        raise EmulatorUnavailable(
            f"@firestore-emulator/server is not installed in {EMULATOR_DIR}: run `{INSTALL_HINT}`"
        )
    process = subprocess.Popen(
        [node, str(SCRIPT), "0"],
        cwd=EMULATOR_DIR,
        stdin=subprocess.PIPE,  # the script exits when this pipe closes, even if we crash
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = _read_line(process, timeout)
    if not line.startswith("listening "):
        process.kill()
        process.wait()
        raise EmulatorUnavailable(
            f"Firestore emulator did not start within {timeout:.0f}s "
            f"(exit code {process.poll()}, output {line!r}); try `node {SCRIPT}` by hand"
        )
    host = line.split()[1]
    _LOGGER.info("Firestore emulator listening on %s (pid %d)", host, process.pid)
    return FirestoreEmulator(process, host)


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                return process.stdout.readline().strip()
            if process.poll() is not None:
                break
    return ""


def emulator_client(host: str, project: str = "hybridcal-test") -> firestore.Client:
    """A ``google.cloud.firestore.Client`` talking to the emulator at ``host``.

    The client only honours ``FIRESTORE_EMULATOR_HOST`` (insecure channel, anonymous
    credentials) and reads it once, in its constructor; so the variable is set just for the
    construction and restored afterwards, leaving the process environment untouched.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    with _ENV_LOCK:
        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = host
        try:
            return firestore.Client(project=project, credentials=AnonymousCredentials())
        finally:
            if previous is None:
                del os.environ["FIRESTORE_EMULATOR_HOST"]
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = previous
