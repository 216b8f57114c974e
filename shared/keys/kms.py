"""Cloud KMS as the key-encryption key, through the real ``google-cloud-kms`` client.

KMS key-version rotation needs no action here: KMS encrypts with the primary version, the
ciphertext names the version that made it, and ``decrypt`` on the *key* name picks that version.
The client is built lazily (cold starts, and tests pass one pointed at ``local.kms_fake``).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

from shared.billing import Meter
from shared.keys.base import UnwrapFailed

if TYPE_CHECKING:
    from google.api_core.exceptions import GoogleAPICallError
    from google.cloud.kms_v1 import KeyManagementServiceClient

_LOGGER = logging.getLogger(__name__)
_KEY_NAME = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
URI_PREFIX = "gcp-kms://"


class CloudKmsKek:
    """Wraps data keys with a Cloud KMS symmetric key (``ENCRYPT_DECRYPT`` purpose).

    ``calls`` counts KMS requests made by this instance: the figure the envelope design keeps
    small, shown by the tests and ``bench/bench_crypto.py``.
    """

    def __init__(self, key_name: str, client: KeyManagementServiceClient | None = None, *,
                 meter: Meter | None = None) -> None:
        if key_name.startswith(URI_PREFIX):
            key_name = key_name[len(URI_PREFIX):]
        if not _KEY_NAME.match(key_name):
            raise ValueError("KMS key must look like projects/P/locations/L/keyRings/R/"
                             "cryptoKeys/K (set HYBRIDCAL_KMS_KEY)")
        self.key_name = key_name
        self._client = client
        self._lock = threading.Lock()
        self.calls = 0
        self.meter = meter or Meter()  # kms.calls, as Cloud KMS bills key operations

    @property
    def key_uri(self) -> str:
        """Tink-style URI, also what published envelopes name as their KEK."""
        return URI_PREFIX + self.key_name

    @property
    def client(self) -> KeyManagementServiceClient:
        """The KMS client, created on first use with the ambient credentials."""
        with self._lock:
            if self._client is None:
                from google.cloud import kms_v1

                self._client = kms_v1.KeyManagementServiceClient()
            return self._client

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes:
        """KMS ``encrypt`` with the AAD; errors propagate (nothing secret is in them)."""
        self._count()
        response = self.client.encrypt(request={
            "name": self.key_name, "plaintext": plaintext_key,
            "additional_authenticated_data": associated_data})
        return bytes(response.ciphertext)

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        """KMS ``decrypt``; an invalid ciphertext or AAD becomes :class:`UnwrapFailed`."""
        from google.api_core import exceptions

        self._count()
        try:
            response = self.client.decrypt(request={
                "name": self.key_name, "ciphertext": wrapped,
                "additional_authenticated_data": associated_data})
        except exceptions.BadRequest as exc:
            if _status(exc) != "INVALID_ARGUMENT":
                raise  # e.g. FAILED_PRECONDITION: the key version is disabled or destroyed
            _LOGGER.warning("KMS refused to unwrap a data key", extra={"json_fields": {
                "kek": self.key_uri}})
            raise UnwrapFailed("KMS could not decrypt the wrapped data key (altered, moved, "
                               "or wrapped by another key)") from None
        return bytes(response.plaintext)

    def _count(self) -> None:
        with self._lock:
            self.calls += 1
        self.meter.add("kms.calls")


def _status(exc: GoogleAPICallError) -> str:
    """The canonical status of a KMS error on either transport.

    gRPC raises the specific subclass; REST maps every 400 to ``BadRequest``, so the status is
    read from the Google error body.
    """
    from google.api_core import exceptions

    if isinstance(exc, exceptions.InvalidArgument):
        return "INVALID_ARGUMENT"
    if isinstance(exc, exceptions.FailedPrecondition):
        return "FAILED_PRECONDITION"
    try:
        return str(exc.response.json()["error"]["status"])
    except Exception:  # no body, not JSON: treat as operational, never as tampering
        return "UNKNOWN"
