"""A small local fake of Cloud KMS's REST ``encrypt``/``decrypt``, for the real
``google-cloud-kms`` client (``transport="rest"``, ``client_options.api_endpoint``).

Keys have versions: ciphertexts record the version that made them, :meth:`KmsFake.rotate` adds a
new primary and old ciphertexts still decrypt, which is why hybridcal needs no action on KMS
key-version rotation. Calls are counted so tests and benchmarks can show the KMS bill.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections import Counter
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_ROUTE = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+)"
                    r":(encrypt|decrypt)$")


class KmsFake:
    def __init__(self) -> None:
        self._keys: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()
        self.calls: Counter = Counter()
        self._server: Any = None
        self.endpoint = ""

    def create_key(self, name: str) -> str:
        with self._lock:
            self._keys.setdefault(name, [AESGCM.generate_key(bit_length=256)])
        return name

    def rotate(self, name: str) -> int:
        with self._lock:
            self._keys[name].append(AESGCM.generate_key(bit_length=256))
            return len(self._keys[name])

    def __enter__(self) -> KmsFake:
        from werkzeug.serving import make_server

        from local.quiet import QuietHandler

        self._server = make_server("127.0.0.1", 0, self._app, threaded=True,
                                   request_handler=QuietHandler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        match = _ROUTE.match(environ.get("PATH_INFO", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        if environ["REQUEST_METHOD"] != "POST" or not match:
            return self._reply(start_response, 404, _error(404, "NOT_FOUND", "Not found"))
        name, verb = match.groups()
        self.calls[verb] += 1
        with self._lock:
            versions = self._keys.get(name)
        if versions is None:
            return self._reply(start_response, 404, _error(
                404, "NOT_FOUND", f"CryptoKey {name} not found."))
        aad = base64.b64decode(body.get("additionalAuthenticatedData", ""))
        if verb == "encrypt":
            version = len(versions)
            nonce = os.urandom(12)
            sealed = AESGCM(versions[-1]).encrypt(nonce, base64.b64decode(body["plaintext"]),
                                                  aad)
            blob = version.to_bytes(4, "big") + nonce + sealed
            return self._reply(start_response, 200, {
                "name": f"{name}/cryptoKeyVersions/{version}",
                "ciphertext": base64.b64encode(blob).decode()})
        blob = base64.b64decode(body.get("ciphertext", ""))
        version = int.from_bytes(blob[:4], "big")
        try:
            plaintext = AESGCM(versions[version - 1]).decrypt(blob[4:16], blob[16:], aad)
        except Exception:
            return self._reply(start_response, 400, _error(
                400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid."))
        return self._reply(start_response, 200, {
            "plaintext": base64.b64encode(plaintext).decode()})

    @staticmethod
    def _reply(start_response: Any, status: int, payload: dict[str, Any]) -> list[bytes]:
        data = json.dumps(payload).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(data)))])
        return [data]


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def kms_client(endpoint: str) -> Any:
    """The real KMS client, REST transport, pointed at the fake."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import kms_v1

    return kms_v1.KeyManagementServiceClient(
        transport="rest", credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint))
