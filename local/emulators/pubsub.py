"""Google's Cloud Pub/Sub emulator (``gcloud beta emulators pubsub start``).

The emulator comes with the Google Cloud CLI (Debian package
``google-cloud-cli-pubsub-emulator``, a Java server). It serves topics, pull and streaming pull,
ordering keys and push subscriptions (it POSTs the push JSON envelope to the endpoint and
redelivers after a non-2xx answer). Topic and subscription names need a project id of the real
form (6-30 characters): short ids such as ``demo`` are refused. IAM is not checked.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from local.emulators._process import GcloudEmulator

_ENV_LOCK = threading.Lock()


class PubSubEmulator(GcloudEmulator):
    """``with PubSubEmulator() as emulator: emulator.publisher()``; see :class:`GcloudEmulator`."""

    name = "pubsub"
    component = "pubsub-emulator"
    host_variable = "PUBSUB_EMULATOR_HOST"

    def _command(self, host: str, work_dir: Path) -> list[str]:
        # --data-dir: gcloud writes its env.yaml there, not into the shared ~/.config/gcloud.
        return ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={host}",
                f"--project={self.project}", f"--data-dir={work_dir}", "--quiet"]

    def env(self) -> dict[str, str]:
        return {**super().env(), "PUBSUB_PROJECT_ID": self.project}

    # Any: google-cloud-pubsub ships no types.
    def publisher(self, **options: Any) -> Any:
        """A ``pubsub_v1.PublisherClient`` bound to this emulator (``options`` as the client's)."""
        from google.cloud import pubsub_v1

        return self._with_host(lambda: pubsub_v1.PublisherClient(**options))

    def subscriber(self, **options: Any) -> Any:
        """A ``pubsub_v1.SubscriberClient`` bound to this emulator."""
        from google.cloud import pubsub_v1

        return self._with_host(lambda: pubsub_v1.SubscriberClient(**options))

    def _with_host(self, build: Any) -> Any:
        # The clients read PUBSUB_EMULATOR_HOST once, in their constructors (insecure channel,
        # anonymous credentials); set it only for that moment, as firestore.emulator_client does.
        with _ENV_LOCK:
            previous = os.environ.get(self.host_variable)
            os.environ[self.host_variable] = self.host
            try:
                return build()
            finally:
                if previous is None:
                    del os.environ[self.host_variable]
                else:
                    os.environ[self.host_variable] = previous

    def __enter__(self) -> PubSubEmulator:
        super().__enter__()
        return self
