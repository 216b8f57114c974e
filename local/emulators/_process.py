"""Start one of Google's emulators through the Google Cloud CLI, wait for it, stop it.

Shared by :class:`~local.emulators.firestore.FirestoreEmulator` and
:class:`~local.emulators.pubsub.PubSubEmulator`. gcloud runs as the leader of a session (and so
of a process group) of its own; :meth:`GcloudEmulator.stop` ends that group, which holds gcloud,
its shell wrapper and the Java server. ``_guard.py`` ends it too if this process dies first.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from local.emulators._guard import STAND_DOWN, end_group

_LOGGER = logging.getLogger(__name__)

PROJECT = "hybridcal-local"  # a project id of the real form: the Pub/Sub emulator refuses "demo"
APT_PACKAGES = "google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator"
INSTALL_HINT = (
    f"install Google's emulators with `apt-get install {APT_PACKAGES}` (Google Cloud CLI apt "
    "repository, needs Java 17+), or `gcloud components install beta cloud-firestore-emulator "
    "pubsub-emulator` for a non-apt Cloud SDK"
)
START_TIMEOUT = 90.0  # Java start-up is ~3-6 s here; generous for loaded CI machines
_GUARD = Path(__file__).resolve().parent / "_guard.py"  # run by path: see its docstring
STOP_GRACE = 5.0  # seconds Java gets to exit on SIGTERM before SIGKILL (data is in memory)
_BIND_FAILURES = ("Address already in use", "BindException", "Failed to bind")
# gcloud must not prompt, phone home or look for updates while tests run.
_GCLOUD_ENV = {
    "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
    "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
}


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot run on this machine or did not start (the message says why and how
    to fix it, with the tail of the emulator's log when it got that far)."""


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (start() retries if it is taken since)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def find_component(component: str) -> None:
    """Raise :class:`EmulatorUnavailable` naming what is missing for ``component``.

    ``component`` is the directory under the Cloud SDK's ``platform/`` (``cloud-firestore-
    emulator``, ``pubsub-emulator``); the check is skipped when gcloud is not laid out as an SDK.
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorUnavailable(f"the Google Cloud CLI (`gcloud`) is not on PATH: {INSTALL_HINT}")
    if shutil.which("java") is None:
        raise EmulatorUnavailable(
            "Google's emulators need Java 17+ and `java` is not on PATH: "
            "`apt-get install openjdk-17-jre-headless`")
    sdk_root = Path(gcloud).resolve().parent.parent
    if (sdk_root / "platform").is_dir() and not (sdk_root / "platform" / component).is_dir():
        raise EmulatorUnavailable(
            f"the Google Cloud CLI in {sdk_root} lacks the {component} component: {INSTALL_HINT}")


class GcloudEmulator:
    """A ``gcloud beta emulators NAME start`` process on a free loopback port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``host`` is
    ``127.0.0.1:PORT``; ``startup_seconds`` is how long start-up took (until it answered HTTP).
    """

    name = ""  # "firestore" | "pubsub"
    component = ""  # directory under the SDK's platform/
    host_variable = ""  # the variable Google's clients read: FIRESTORE_EMULATOR_HOST, ...

    def __init__(self, project: str = PROJECT, *, timeout: float = START_TIMEOUT,
                 log_dir: Path | None = None) -> None:
        self.project = project
        self.timeout = timeout
        self.host = ""
        self.startup_seconds = 0.0
        self._log_dir = log_dir
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._guard: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    # -- what subclasses add ---------------------------------------------------------------
    def _command(self, host: str, work_dir: Path) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment for another process's Google client: the emulator host and project."""
        return {self.host_variable: self.host, "GOOGLE_CLOUD_PROJECT": self.project}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> GcloudEmulator:
        find_component(self.component)
        if self._log_dir is None:
            self._temp_dir = tempfile.TemporaryDirectory(prefix=f"{self.name}-emulator-")
            work_dir = Path(self._temp_dir.name)
        else:
            work_dir = self._log_dir
            work_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        for attempt in range(3):
            host = f"127.0.0.1:{free_port()}"
            self.log_path = work_dir / f"{self.name}-emulator.log"
            try:
                self._launch(host, work_dir)
                self._wait_until_ready(host, began + self.timeout)
            except EmulatorUnavailable:
                self.stop(keep_files=True)
                if attempt < 2 and any(text in self.log_tail() for text in _BIND_FAILURES):
                    _LOGGER.info("%s emulator: port of %s taken meanwhile, retrying", self.name,
                                 host)
                    continue
                raise
            self.host = host
            self.startup_seconds = time.monotonic() - began
            _LOGGER.info("%s emulator on %s after %.1f s (pid %d)", self.name, host,
                         self.startup_seconds, self.pid)
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def pid(self) -> int:
        """Process (and process group) id of the emulator's gcloud process."""
        assert self._process is not None, "not started"
        return self._process.pid

    def _launch(self, host: str, work_dir: Path) -> None:
        assert self.log_path is not None
        command = self._command(host, work_dir)
        with self.log_path.open("wb") as log:
            # A session of its own: gcloud then keeps (rather than makes) its process group, so
            # the group holds gcloud, its shell wrapper and Java, and Ctrl-C reaches only us.
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **_GCLOUD_ENV}, cwd=work_dir, start_new_session=True)
        self._guard = subprocess.Popen(
            [sys.executable, str(_GUARD), str(self._process.pid)], stdin=subprocess.PIPE,
            start_new_session=True)

    def _wait_until_ready(self, host: str, deadline: float) -> None:
        assert self._process is not None
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}/", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            status = self._process.poll()
            if status is not None:
                raise EmulatorUnavailable(
                    f"{self.name} emulator exited with status {status} before answering on "
                    f"{host}; {self._describe_log()}")
            if time.monotonic() > deadline:
                raise EmulatorUnavailable(
                    f"{self.name} emulator did not answer on http://{host}/ within "
                    f"{self.timeout:.0f} s; {self._describe_log()}")
            time.sleep(0.1)

    def stop(self, *, keep_files: bool = False) -> None:
        """End the emulator's process group (SIGTERM, then SIGKILL); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            end_group(process.pid, grace=STOP_GRACE)
            process.wait()
        guard, self._guard = self._guard, None
        if guard is not None:
            assert guard.stdin is not None
            try:
                guard.stdin.write(STAND_DOWN)
                guard.stdin.close()
            except OSError:  # the guard is gone already
                pass
            guard.wait()
        if self._temp_dir is not None and not keep_files:
            self._temp_dir.cleanup()
            self._temp_dir = None

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _describe_log(self) -> str:
        tail = self.log_tail()
        if not tail:
            return f"its log {self.log_path} is empty"
        return f"last lines of {self.log_path}:\n{tail}"

    def __enter__(self) -> GcloudEmulator:
        if self._process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


