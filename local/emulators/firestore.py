"""Google's Cloud Firestore emulator (``gcloud beta emulators firestore start``).

The emulator comes with the Google Cloud CLI (Debian package
``google-cloud-cli-firestore-emulator``, a Java server). It holds data in memory for any number
of projects; :meth:`FirestoreEmulator.reset` deletes every document of one project, which is how
tests start clean without restarting Java. It answers ``GET /`` with ``Ok`` once ready.

Differences from production found so far are listed where they matter, in the store contract
suite (``tests/shared/store/conftest.py``).
"""

from __future__ import annotations

import os
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from local.emulators._process import GcloudEmulator

if TYPE_CHECKING:
    from google.cloud import firestore

_ENV_LOCK = threading.Lock()


class FirestoreEmulator(GcloudEmulator):
    """``with FirestoreEmulator() as emulator: emulator.client()``; see :class:`GcloudEmulator`."""

    name = "firestore"
    component = "cloud-firestore-emulator"
    host_variable = "FIRESTORE_EMULATOR_HOST"

    def _command(self, host: str, work_dir: Path) -> list[str]:
        return ["gcloud", "beta", "emulators", "firestore", "start", f"--host-port={host}",
                "--database-mode=firestore-native", "--quiet"]

    def reset(self, project: str | None = None) -> None:
        """Delete every document of ``project`` (default: this emulator's project)."""
        path = urllib.parse.quote(
            f"/emulator/v1/projects/{project or self.project}/databases/(default)/documents")
        request = urllib.request.Request(f"http://{self.host}{path}", method="DELETE")
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            answer.read()

    def client(self, project: str | None = None) -> firestore.Client:
        """A real ``google.cloud.firestore.Client`` bound to this emulator."""
        return emulator_client(self.host, project or self.project)

    def __enter__(self) -> FirestoreEmulator:
        super().__enter__()
        return self


def emulator_client(host: str, project: str) -> firestore.Client:
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
