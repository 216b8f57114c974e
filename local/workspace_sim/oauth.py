"""The OAuth 2.0 token endpoint for the JWT-bearer grant, with the Admin console's
domain-wide delegation table.

It checks what Google checks: the RS256 signature against the registered key, the audience,
an assertion lifetime of at most an hour, that the client id is authorised for every requested
scope, and that the subject exists, is a user (rooms cannot be impersonated) and is not
suspended. JWT times are checked against the wall clock because google-auth signs with it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.auth import jwt

UNAUTHORIZED_CLIENT = ("Client is unauthorized to retrieve access tokens using this method, "
                       "or client not authorized for any of the scopes requested.")
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always addresses its assertion to Google's endpoint, whatever token_uri is.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass
class AccessToken:
    subject: str
    scopes: frozenset[str]
    expires_at: float


class Delegation:
    """The Admin console's domain-wide delegation page: client id → authorised scopes."""

    def __init__(self) -> None:
        self._grants: dict[str, set[str]] = {}

    def authorize(self, client_id: str, scopes: Iterable[str]) -> None:
        self._grants.setdefault(client_id, set()).update(scopes)

    def revoke(self, client_id: str, scope: str | None = None) -> None:
        if scope is None:
            self._grants.pop(client_id, None)
        else:
            self._grants.get(client_id, set()).discard(scope)

    def allows(self, client_id: str, scopes: Iterable[str]) -> bool:
        granted = self._grants.get(client_id, set())
        return all(scope in granted for scope in scopes)


def generate_service_account(token_uri: str, domain: str,
                             client_email: str | None = None) -> dict[str, Any]:
    """A service account key in Google's JSON key format, with a fresh RSA key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "type": "service_account",
        "project_id": "hybridcal-sim",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email or "hybridcal@hybridcal-sim.iam.gserviceaccount.com",
        "client_id": str(100000000000000000000 + secrets.randbelow(10**20)),
        "token_uri": token_uri,
        "_public_pem": public.decode(),
        "_domain": domain,
    }


class TokenEndpoint:
    def __init__(self, service_account: dict[str, Any], delegation: Delegation) -> None:
        self.sa = service_account
        self.delegation = delegation
        self.tokens: dict[str, AccessToken] = {}
        self.gone: set[str] = set()  # addresses of deleted or renamed users

    def grant(self, form: dict[str, str], token_uri: str, users: dict[str, Any]) -> tuple[int, dict]:
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "Invalid grant_type"}
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, certs={self.sa["private_key_id"]:
                                                  self.sa["_public_pem"]}, verify=True,
                                audience=[token_uri, GOOGLE_TOKEN_AUDIENCE],
                                clock_skew_in_seconds=60)
        except ValueError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
        if claims.get("iss") != self.sa["client_email"]:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT issuer"}
        if int(claims.get("exp", 0)) - int(claims.get("iat", 0)) > 3600:
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid JWT: Token must be a short-lived token "
                                              "(60 minutes) and in a reasonable timeframe."}
        scopes = frozenset(str(claims.get("scope", "")).split())
        subject = str(claims.get("sub", "")).lower()
        if not scopes:
            return 400, {"error": "invalid_scope", "error_description": "Empty scope"}
        if not self.delegation.allows(self.sa["client_id"], scopes):
            return 401, {"error": "unauthorized_client", "error_description": UNAUTHORIZED_CLIENT}
        user = users.get(subject)
        if user is None and subject in self.gone:
            # A deleted or renamed account's old address: Google may answer this rather than
            # invalid_grant (hybridcal #19; the message google-auth users report for a "sub"
            # that no longer names a user).
            return 400, {"error": "invalid_request",
                         "error_description": 'Invalid impersonation "sub" field.'}
        if user is None or user.get("room"):
            return 400, {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
        if user.get("suspended"):
            return 400, {"error": "invalid_grant",
                         "error_description": "The user account is suspended"}
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self.tokens[token] = AccessToken(subject, scopes, time.time() + 3600)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def lookup(self, header: str) -> AccessToken | None:
        scheme, _, token = header.partition(" ")
        found = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if found is None or found.expires_at < time.time():
            return None
        return found


class IdTokenIssuer:
    """Google's ID-token side: signs OpenID Connect ID tokens and serves the certificates
    (``/oauth2/v1/certs``, PEM x509 by key id, the format google-auth's ``verify_token``
    reads). ID tokens use real time: verifiers check them against the wall clock."""

    def __init__(self) -> None:
        from datetime import UTC, datetime, timedelta

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sim.accounts.google.com")])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
        self.key_id = secrets.token_hex(20)
        self._pem = key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        self.certs = {self.key_id: cert.public_bytes(serialization.Encoding.PEM).decode()}

    def issue(self, email: str, audience: str, *, verified: bool = True,
              lifetime: int = 3600) -> str:
        from google.auth import crypt

        now = int(time.time())
        signer = crypt.RSASigner.from_string(self._pem, key_id=self.key_id)
        return jwt.encode(signer, {
            "iss": "https://accounts.google.com", "aud": audience, "sub": str(abs(hash(email))),
            "email": email, "email_verified": verified, "iat": now, "exp": now + lifetime,
        }).decode()
