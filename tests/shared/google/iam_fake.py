"""IAM Credentials ``signBlob`` on 127.0.0.1, for the keyless delegation path.

google-auth's ``iam.Signer`` builds its URL from the module constant ``_IAM_SIGN_ENDPOINT``
(only the universe domain is configurable, and always over https), so :func:`point_google_auth_at`
replaces that constant: everything else (the signer, the JWT, the credentials' refresh, the
transport) is google-auth's own code. ``google.auth.default`` is replaced too, by the calling
function's identity, as a function instance's metadata server would provide it.

The fake either signs with a service account key (the Workspace simulator's, so its token
endpoint accepts the assertion) or answers what Google answers when the caller may not sign:
403 ``PERMISSION_DENIED`` with an ``IAM_PERMISSION_DENIED`` ``ErrorInfo``.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

FUNCTION_SA = "hybridcal-provision-users@hybridcal-test.iam.gserviceaccount.com"
# Google echoes the request's resource in its message; nothing of it may reach a user record.
ECHOED = "Permission 'iam.serviceAccounts.signBlob' denied on resource (or it may not exist)."


def permission_denied() -> tuple[int, dict[str, Any]]:
    """What IAM Credentials answers a caller without ``iam.serviceAccounts.signBlob``."""
    return 403, {"error": {
        "code": 403, "message": ECHOED, "status": "PERMISSION_DENIED",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                     "metadata": {"permission": "iam.serviceAccounts.signBlob"}}]}}


def service_disabled() -> tuple[int, dict[str, Any]]:
    """What it answers when iamcredentials.googleapis.com is not enabled in the project."""
    return 403, {"error": {
        "code": 403, "status": "PERMISSION_DENIED",
        "message": "IAM Service Account Credentials API has not been used in project 42 before "
                   "or it is disabled.",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "SERVICE_DISABLED", "domain": "googleapis.com"}]}}


class FakeIamCredentials:
    """``POST /v1/projects/-/serviceAccounts/{email}:signBlob``: a scripted answer, or a
    signature made with ``key_info`` (a service account key in Google's JSON format)."""

    def __init__(self) -> None:
        self.answer: tuple[int, dict[str, Any]] | None = permission_denied()
        self.key_info: dict[str, Any] | None = None
        self.requests: list[str] = []  # paths asked for, in order
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(self.path)
                status, payload = fake.respond(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def sign_endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1/projects/-/serviceAccounts/{{}}:signBlob"

    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.answer is not None:
            return self.answer
        from google.auth import crypt

        assert self.key_info is not None, "give the fake a key or an answer"
        signer = crypt.RSASigner.from_service_account_info(self.key_info)
        signature = signer.sign(base64.b64decode(body["payload"]))
        return 200, {"keyId": self.key_info["private_key_id"],
                     "signedBlob": base64.b64encode(signature).decode()}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def point_google_auth_at(monkeypatch: pytest.MonkeyPatch, fake: FakeIamCredentials,
                         caller: str = FUNCTION_SA) -> None:
    """google-auth signs through ``fake``, as the function whose service account is ``caller``."""
    import google.auth
    from google.auth import iam

    identity = AnonymousCredentials()
    identity.service_account_email = caller  # type: ignore[attr-defined]
    monkeypatch.setattr(iam, "_IAM_SIGN_ENDPOINT", fake.sign_endpoint)
    monkeypatch.setattr(google.auth, "default", lambda scopes=None, **_: (identity, None))
