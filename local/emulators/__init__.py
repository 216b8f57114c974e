"""Google's own Firestore and Pub/Sub emulators, started on demand for tests and local stacks.

Both come with the Google Cloud CLI (``gcloud beta emulators firestore|pubsub start``, Java
17+; Debian packages ``google-cloud-cli-firestore-emulator`` and
``google-cloud-cli-pubsub-emulator``). Each emulator starts on a free ``127.0.0.1`` port, is
ready once it answers HTTP, and stops with its whole process group (also when the process that
started it dies)::

    with FirestoreEmulator() as firestore, PubSubEmulator() as pubsub:
        env = {**firestore.env(), **pubsub.env()}  # for another process's Google clients
        store = FirestoreStore(firestore.client())
        firestore.reset()  # delete every document of the project

When an emulator cannot run here, :class:`EmulatorUnavailable` says exactly what is missing and
how to install it (with the emulator's log tail if it started and failed). Start-up costs a few
seconds of Java, so tests start each emulator once per session. Importing this package imports
no Google client library.
"""

from local.emulators._process import (
    APT_PACKAGES,
    INSTALL_HINT,
    PROJECT,
    EmulatorUnavailable,
    GcloudEmulator,
)
from local.emulators.firestore import FirestoreEmulator
from local.emulators.pubsub import PubSubEmulator

__all__ = [
    "APT_PACKAGES",
    "INSTALL_HINT",
    "PROJECT",
    "EmulatorUnavailable",
    "FirestoreEmulator",
    "GcloudEmulator",
    "PubSubEmulator",
]
