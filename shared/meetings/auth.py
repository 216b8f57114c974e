"""Who is calling ``meetings_api``, and what they may see.

Callers prove who they are in one of two ways:

- a Google-signed ID token (the collaboration app's backend, admins' tools): signature checked
  against Google's certificates, audience must be ``HYBRIDCAL_API_AUDIENCE``; the ``email``
  claim (verified) names an admin when listed in ``HYBRIDCAL_API_ADMINS``, else a user, who
  must be in one of ``HYBRIDCAL_ORG_DOMAINS`` (any Google account can get a signed token);
- a bearer token from ``HYBRIDCAL_API_TOKENS`` (devices' credentials deployed; in the embedded
  mode also users and admins), compared in constant time.

A user sees only their own meetings, a device only its workspace's, an admin everyone's.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.errors import Forbidden, Unauthorized
from shared.http.messages import bearer_token
from shared.logs import fields

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "device" | "admin"
    email: str = ""

    def may_read(self, email: str) -> bool:
        return self.kind == "admin" or self.email == email.lower()

    def may_act_for(self, email: str) -> bool:
        """RSVP, schedule, cancel: users for themselves, admins for anyone; devices never."""
        return self.kind == "admin" or (self.kind == "user" and self.email == email.lower())


def authenticate(services: Services, headers: dict[str, str]) -> Principal:
    """The caller, or :class:`Unauthorized` (no or bad credentials)."""
    token = bearer_token(headers)
    if not token:
        raise Unauthorized("missing bearer credentials (an ID token or an API token)")
    config = services.config
    for known, principal in config.api_tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            kind, _, email = principal.partition(":")
            return Principal(kind, email)
    if token.count(".") == 2 and config.api_audience:
        return _from_id_token(services, token)
    _LOGGER.warning("security: meetings_api call with unknown credentials refused",
                    extra=fields(security=True))
    raise Unauthorized("credentials not recognised")


def _from_id_token(services: Services, token: str) -> Principal:
    """Google checks the token (:mod:`shared.google.id_tokens`); a certificates outage is a
    :class:`~shared.google.errors.GoogleTransientError`, not the caller's fault."""
    from shared.google import id_tokens
    from shared.google.errors import InvalidIdToken

    config = services.config
    try:
        claims = id_tokens.verify(token, audience=config.api_audience or "",
                                  certs_url=config.id_token_certs_url)
    except InvalidIdToken as exc:
        _LOGGER.warning("security: ID token refused", extra=fields(
            security=True, problem=exc.problem))
        raise Unauthorized("ID token invalid, expired or for another audience") from None
    email = str(claims.get("email", "")).lower()
    if not email or not claims.get("email_verified"):
        raise Forbidden("ID token carries no verified email")
    if email in config.api_admins:
        return Principal("admin", email)
    if not in_org_domains(email, config.org_domains):
        # Google signs ID tokens for every Google account: a valid signature proves who the
        # caller is, not that they belong to this organisation.
        _LOGGER.warning("security: ID token refused", extra=fields(
            security=True, problem="account outside the organisation's domains"))
        raise Unauthorized("this account is not in the organisation's domains")
    return Principal("user", email)


def in_org_domains(email: str, domains: tuple[str, ...]) -> bool:
    """Exactly one of ``domains`` after the ``@``: subdomains are separate Workspace domains
    and must be listed themselves."""
    return email.rpartition("@")[2] in domains
