"""Google-signed ID tokens: checked here, so that callers never import google.auth.

``meetings_api`` accepts an ID token from the collaboration app's backend and admins' tools;
:func:`verify` checks its signature against Google's certificates (``certs_url``), its expiry
and its audience, and answers the claims or a project error:

- :class:`~shared.google.errors.InvalidIdToken` (permanent) for a token that is malformed,
  forged, expired or for another audience;
- :class:`~shared.google.errors.GoogleTransientError` when the certificates cannot be fetched:
  the caller's token may be fine, so that is not the caller's fault (and not a 401).

The certificates are fetched over one process-wide transport: a ``requests.Session`` (keep-alive
to the certificates host) with a connection pool as large as ``meetings_api``'s concurrency, and
a timeout, so a slow certificates endpoint fails a request instead of holding it.
google-auth re-fetches the certificates on every verification.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.google.errors import GoogleTransientError, InvalidIdToken

if TYPE_CHECKING:  # google-auth and requests load on first verification, never at import
    from google.auth import transport
    from google.auth.transport import requests as auth_requests

CERTS_TIMEOUT_SECONDS = 10
POOL_SIZE = 64  # above meetings_api's 40 concurrent requests per instance

_TRANSPORT: _TimedRequest | None = None
_TRANSPORT_LOCK = threading.Lock()


def verify(token: str, *, audience: str, certs_url: str) -> dict[str, Any]:
    """The claims of a valid Google-signed ID token for ``audience`` (see the module
    docstring for what is raised otherwise)."""
    from google.auth import exceptions
    from google.oauth2 import id_token

    if not audience:
        raise ValueError("an ID token is only verified for an audience")  # None skips the check
    try:
        claims: Mapping[str, Any] = id_token.verify_token(  # Any: the token's JSON claims
            token, _transport(), audience=audience, certs_url=certs_url)
    except exceptions.TransportError as exc:
        raise GoogleTransientError(
            f"could not fetch Google's ID token certificates: {_cause(exc)}") from None
    except (ValueError, exceptions.GoogleAuthError) as exc:
        # ValueError: malformed, bad signature, expired, wrong audience or issuer; the text
        # may quote the token's claims, so only the kind of problem is kept
        raise InvalidIdToken("ID token invalid, expired or for another audience",
                             problem=type(exc).__name__) from None
    return dict(claims)


def _cause(exc: BaseException) -> str:
    """The underlying network error's type (``ConnectTimeout``), or that the endpoint answered
    but not 200; never its text, which carries the URL."""
    cause = exc.__cause__ or (exc.args[0] if exc.args else None)
    if isinstance(cause, BaseException):
        return type(cause).__name__
    return "the endpoint did not answer 200"


# Any: google-auth wants its ``transport.Request``, which _TimedRequest is only by duck typing
# (subclassing it would import google.auth when this module is imported)
def _transport() -> Any:
    """The process-wide transport (built on first use: requests is imported only here)."""
    global _TRANSPORT
    with _TRANSPORT_LOCK:
        if _TRANSPORT is None:
            import requests
            from google.auth.transport.requests import Request

            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)  # the Workspace simulator's certificates
            _TRANSPORT = _TimedRequest(Request(session))
        return _TRANSPORT


class _TimedRequest:
    """google-auth's ``Request`` with :data:`CERTS_TIMEOUT_SECONDS` (``verify_token`` passes
    none, and google-auth's own default is 120 s)."""

    def __init__(self, request: auth_requests.Request) -> None:
        self._request = request

    def __call__(self, url: str, method: str = "GET", body: bytes | None = None,
                 headers: Mapping[str, str] | None = None, timeout: float | None = None,
                 **kwargs: Any) -> transport.Response:  # Any: passed on to requests
        # google-auth leaves Request.__call__ unannotated; it answers a transport.Response
        response: transport.Response = self._request(
            url, method=method, body=body, headers=headers,
            timeout=timeout or CERTS_TIMEOUT_SECONDS, **kwargs)
        return response
