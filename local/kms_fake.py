"""A small local fake of Cloud KMS's REST ``encrypt``/``decrypt``, for the real
``google-cloud-kms`` client (``transport="rest"``, ``client_options.api_endpoint``).

No Cloud KMS emulator exists. This serves ``POST /v1/{cryptoKey name}:encrypt`` and
``:decrypt`` with the same JSON fields (base64 ``plaintext``, ``ciphertext``,
``additionalAuthenticatedData``) and Google-style error bodies. Keys have versions: ciphertexts
record the version that made them, :meth:`KmsFake.rotate` adds a new primary and old ciphertexts
still decrypt (which is why hybridcal needs no action on KMS key-version rotation);
:meth:`KmsFake.disable` makes a version answer ``FAILED_PRECONDITION`` like a disabled or
destroyed one. ``calls`` counts requests per verb so tests and benchmarks can show the KMS bill.

``authorize`` (CloudStack) decides whether the caller may use the key: it gets the request's
``Authorization`` header, the permission (``cloudkms.cryptoKeyVersions.useToEncrypt`` or
``useToDecrypt``) and the key name; a refusal is Cloud KMS's 403 ``PERMISSION_DENIED``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_LOGGER = logging.getLogger(__name__)
_ROUTE = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+)"
                    r":(encrypt|decrypt)$")
_HEADER = 4 + 12  # version number + AES-GCM nonce
PERMISSIONS = {"encrypt": "cloudkms.cryptoKeyVersions.useToEncrypt",
               "decrypt": "cloudkms.cryptoKeyVersions.useToDecrypt"}
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _KmsError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class KmsFake:
    """Cloud KMS symmetric keys in memory, served on 127.0.0.1 (use as a context manager)."""

    def __init__(self, *, authorize: Callable[[str, str, str], bool] | None = None) -> None:
        self._authorize = authorize
        self._keys: dict[str, list[bytes]] = {}
        self._disabled: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self._server: Any = None
        self._endpoint = ""

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` for ``client_options.api_endpoint``."""
        if not self._endpoint:
            raise RuntimeError("KmsFake is not serving; use it as a context manager")
        return self._endpoint

    def create_key(self, name: str) -> str:
        """A ``cryptoKeys/…`` key with one version (idempotent)."""
        with self._lock:
            self._keys.setdefault(name, [AESGCM.generate_key(bit_length=256)])
        return name

    def rotate(self, name: str) -> int:
        """Add a new primary version (as scheduled KMS rotation does); returns its number."""
        with self._lock:
            self._keys[name].append(AESGCM.generate_key(bit_length=256))
            return len(self._keys[name])

    def disable(self, name: str, version: int) -> None:
        """Disable a version: its ciphertexts answer FAILED_PRECONDITION (400)."""
        with self._lock:
            self._disabled.add((name, version))

    def client(self) -> Any:
        """The real KMS client (REST transport) pointed at this fake."""
        return kms_client(self.endpoint)

    def __enter__(self) -> KmsFake:
        from werkzeug.serving import make_server

        from local.quiet import QuietHandler

        self._server = make_server("127.0.0.1", 0, self._app, threaded=True,
                                   request_handler=QuietHandler)
        self._endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="kms-fake",
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._endpoint = ""

    # -- HTTP ------------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            match = _ROUTE.match(environ.get("PATH_INFO", ""))
            if environ["REQUEST_METHOD"] != "POST" or not match:
                raise _KmsError(404, "NOT_FOUND", "Not found")
            name, verb = match.groups()
            with self._lock:
                self.calls[verb] += 1
            permission = PERMISSIONS[verb]
            if self._authorize is not None and not self._authorize(
                    environ.get("HTTP_AUTHORIZATION", ""), permission, name):
                raise _KmsError(403, "PERMISSION_DENIED", f"Permission '{permission}' denied "
                                f"on resource '{name}' (or it may not exist).")
            body = _read_json(environ)
            payload = self._encrypt(name, body) if verb == "encrypt" else self._decrypt(name, body)
            return _reply(start_response, 200, payload)
        except _KmsError as err:
            return _reply(start_response, err.code, {"error": {
                "code": err.code, "message": err.message, "status": err.status}})

    def _versions(self, name: str) -> list[bytes]:
        with self._lock:
            versions = self._keys.get(name)
        if versions is None:
            raise _KmsError(404, "NOT_FOUND", f"CryptoKey {name} not found.")
        return versions

    def _encrypt(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        versions = self._versions(name)
        version = len(versions)
        self._check_enabled(name, version)
        plaintext = _b64field(body, "plaintext", required=True)
        if len(plaintext) > 64 * 1024:
            raise _KmsError(400, "INVALID_ARGUMENT", "Plaintext exceeds 64 KiB.")
        nonce = os.urandom(12)
        sealed = AESGCM(versions[version - 1]).encrypt(
            nonce, plaintext, _b64field(body, "additionalAuthenticatedData"))
        return {"name": f"{name}/cryptoKeyVersions/{version}",
                "ciphertext": base64.b64encode(version.to_bytes(4, "big") + nonce + sealed)
                .decode(), "protectionLevel": "SOFTWARE"}

    def _decrypt(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        versions = self._versions(name)
        blob = _b64field(body, "ciphertext", required=True)
        version = int.from_bytes(blob[:4], "big")
        if len(blob) < _HEADER + 16 or not 1 <= version <= len(versions):
            raise _KmsError(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is "
                            "invalid.")
        self._check_enabled(name, version)
        try:
            plaintext = AESGCM(versions[version - 1]).decrypt(
                blob[4:_HEADER], blob[_HEADER:], _b64field(body, "additionalAuthenticatedData"))
        except InvalidTag:
            raise _KmsError(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is "
                            "invalid.") from None
        return {"plaintext": base64.b64encode(plaintext).decode(),
                "usedPrimary": version == len(versions), "protectionLevel": "SOFTWARE"}

    def _check_enabled(self, name: str, version: int) -> None:
        with self._lock:
            disabled = (name, version) in self._disabled
        if disabled:
            raise _KmsError(400, "FAILED_PRECONDITION", f"{name}/cryptoKeyVersions/{version} is "
                            "not enabled, current state is: DISABLED.")


def _read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError:
        raise _KmsError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise _KmsError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    return body


def _b64field(body: dict[str, Any], field: str, *, required: bool = False) -> bytes:
    value = body.get(field, "")
    if required and not value:
        raise _KmsError(400, "INVALID_ARGUMENT", f"{field} is required.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise _KmsError(400, "INVALID_ARGUMENT", f"Invalid value at '{field}' (TYPE_BYTES)."
                        ) from None


def _reply(start_response: StartResponse, status: int, payload: dict[str, Any]) -> list[bytes]:
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(status,
                                                                                "Error")
    start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=UTF-8"),
                                          ("Content-Length", str(len(data)))])
    return [data]


def kms_client(endpoint: str) -> Any:
    """The real KMS client, REST transport, anonymous credentials, pointed at ``endpoint``."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import kms_v1

    return kms_v1.KeyManagementServiceClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint))
