"""The meetings page's own credential: a short-lived, single-purpose cookie session.

Why: a browser navigating to the page cannot send an ``Authorization`` header, and a room
device's kiosk browser is configured with nothing but a URL. Putting the long-lived API token
into the page (for its refreshes) or leaving it in the address bar exposes it to history,
screenshots, extensions and ``Referer``. So the page trades whatever proved the caller (a
header, or once a ``?access_token=`` that is answered with a redirect to the clean URL) for
this session and never writes a credential into HTML or script.

The session is an HMAC-signed value (key derived from ``HYBRIDCAL_PSEUDONYM_KEY`` with its
own label, so it opens nothing else) that says *who* (``user:…``, ``device:…``, ``admin``),
*for which calendar* (one address: the page's) and *until when*. It is accepted only:

- for that one address (the page, its list fragment, and for a device or admin the room's
  booking endpoints);
- while the API token it came from is still configured (removing the token from
  ``HYBRIDCAL_API_TOKENS`` ends every session made from it at once);
- for anything but a ``GET``, only with the page's ``X-Hybridcal-Page`` header, which a
  cross-site form cannot send (on top of ``SameSite=Strict``).

Sessions from an API token last :data:`TTL_SECONDS` (a device's :data:`DEVICE_TTL_SECONDS`:
a board on a wall must survive a long network outage, and its URL token can be revoked at any
time) and are renewed by the page's refreshes, so a board runs for months; a session from a
Google ID token lasts at most :data:`ID_TOKEN_TTL_SECONDS` and is not renewed, as the ID token
itself would have expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.meetings.auth import Principal

if TYPE_CHECKING:
    from shared.config import Config
    from shared.http.messages import ApiRequest
    from shared.runtime import Services

COOKIE = "hc_page"
PAGE_HEADER = "x-hybridcal-page"
TTL_SECONDS = 12 * 3600
DEVICE_TTL_SECONDS = 7 * 24 * 3600
ID_TOKEN_TTL_SECONDS = 3600
_LABEL = b"hybridcal page session v1"
_VERSION = "v1"
# The only API routes a page session opens: a room board's booking buttons.
_BOOKING = re.compile(r"^/users/([^/]+)/bookings(?:/[A-Za-z0-9_-]{1,1024}:(?:extend|release))?/?$")


@dataclass(frozen=True)
class Session:
    principal: Principal
    email: str  # the one calendar this session may read
    expires: int  # epoch seconds
    source: str  # fingerprint of the API token it came from, or "id"

    @property
    def renewable(self) -> bool:
        return self.source != "id"


def _key(config: Config) -> bytes:
    return hmac.new(config.pseudonym_key.encode(), _LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(config: Config, token: str) -> str:
    """A keyed hash of an API token: lets a session name its source without carrying it."""
    return hmac.new(_key(config), b"source|" + token.encode(), hashlib.sha256).hexdigest()[:32]


def source_of(config: Config, token: str) -> str:
    """The fingerprint when ``token`` is a configured API token, else ``"id"`` (ID token)."""
    for known in config.api_tokens:
        if hmac.compare_digest(known.encode(), token.encode()):
            return fingerprint(config, known)
    return "id"


def issue(config: Config, principal: Principal, email: str, now: float, source: str) -> Session:
    if source == "id":
        ttl = ID_TOKEN_TTL_SECONDS
    else:
        ttl = DEVICE_TTL_SECONDS if principal.kind == "device" else TTL_SECONDS
    return Session(principal, email.lower(), int(now) + ttl, source)


def encode(config: Config, session: Session) -> str:
    payload = _b64(json.dumps({
        "k": session.principal.kind, "p": session.principal.email, "u": session.email,
        "x": session.expires, "s": session.source}, separators=(",", ":")).encode())
    mac = hmac.new(_key(config), f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest()
    return f"{_VERSION}.{payload}.{_b64(mac)}"


def decode(config: Config, value: str, now: float) -> Session | None:
    """The session in a cookie value, or None when forged, expired or its token is gone."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or len(value) > 2048:
        return None
    expected = hmac.new(_key(config), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        data = json.loads(_unb64(parts[1]))
        session = Session(Principal(str(data["k"]), str(data["p"])), str(data["u"]),
                          int(data["x"]), str(data["s"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires <= now:
        return None
    if session.source != "id" and not _source_still_configured(config, session):
        return None
    return session


def _source_still_configured(config: Config, session: Session) -> bool:
    principal = session.principal
    wanted = principal.kind if principal.kind == "admin" else f"{principal.kind}:{principal.email}"
    return any(hmac.compare_digest(fingerprint(config, token), session.source)
               and who == wanted for token, who in config.api_tokens.items())


def cookie_value(request: ApiRequest) -> str | None:
    """Our cookie from the ``Cookie`` header (the last one wins, as browsers send the most
    specific path first and we set one path)."""
    found = None
    for part in (request.headers.get("cookie") or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            found = value.strip()
    return found


def from_request(config: Config, request: ApiRequest, email: str, now: float) -> Session | None:
    """The page session a request carries for ``email`` (and, unless it is a ``GET``, with the
    page's header), or None."""
    value = cookie_value(request)
    if not value:
        return None
    if request.method != "GET" and request.headers.get(PAGE_HEADER) != "1":
        return None
    session = decode(config, value, now)
    if session is None or session.email != email.lower():
        return None
    return session


def set_cookie(config: Config, session: Session, now: float, *, secure: bool) -> str:
    """The ``Set-Cookie`` value. No ``Path``: the default is the page's directory
    (``…/users/EMAIL``), so the cookie goes to this calendar's page, list and bookings only."""
    attributes = [f"{COOKIE}={encode(config, session)}", f"Max-Age={max(0, session.expires - int(now))}",
                  "HttpOnly", "SameSite=Strict"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


def is_secure(request: ApiRequest) -> bool:
    """HTTPS as the browser saw it (Cloud Run's front says so in ``X-Forwarded-Proto``); plain
    HTTP only on a loopback host (``make run``), where a ``Secure`` cookie would be dropped."""
    if request.headers.get("x-forwarded-proto", "").lower() == "https":
        return True
    host = request.headers.get("host", "").rsplit(":", 1)[0].strip("[]").lower()
    return host not in ("localhost", "127.0.0.1", "::1")


def booking_caller(services: Services, request: ApiRequest) -> Principal | None:
    """The caller of a booking button on a room board: the device (or admin) whose page
    session is in the cookie, for that room only. None for anything else (then the request
    must carry its own credentials), including any request that has an ``Authorization``."""
    from urllib.parse import unquote

    if request.method != "POST" or request.headers.get("authorization"):
        return None
    match = _BOOKING.match(request.path)
    if match is None:
        return None
    session = from_request(services.config, request, unquote(match.group(1)).strip(),
                           services.clock.now().timestamp())
    if session is None or session.principal.kind not in ("device", "admin"):
        return None
    return session.principal
