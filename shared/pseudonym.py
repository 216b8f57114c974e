"""Keyed pseudonyms for user emails: what logs and clear store fields carry instead of emails.

A keyed hash (HMAC-SHA256) rather than a plain hash, because the set of email addresses of a
Workspace domain is small and guessable: without the secret key anyone could hash the directory
and reverse a plain digest. The result is stable (so logs of one user correlate across functions
and days) and short enough for log lines and document keys. Rotating the key re-identifies every
user, so it is a deliberate migration, not a routine rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "u_"
_HEX_CHARS = 20  # 80 bits: no collisions in practice for any Workspace tenant
_PATTERN = re.compile(rf"^{PREFIX}[0-9a-f]{{{_HEX_CHARS}}}$")


def pseudonymise(email: str, key: bytes | str) -> str:
    """``u_`` + 20 hex chars of HMAC-SHA256(key, normalised email).

    Emails are compared case-insensitively by Google, so the address is trimmed and lower-cased
    first: ``Ann@Example.com`` and ``ann@example.com`` are one user.
    """
    secret = key.encode() if isinstance(key, str) else key
    if not secret:
        raise ValueError("the pseudonym key is empty; set HYBRIDCAL_PSEUDONYM_KEY")
    digest = hmac.new(secret, email.strip().lower().encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:_HEX_CHARS]


def is_pseudonym(value: str) -> bool:
    """True for strings shaped like :func:`pseudonymise` output (used by guards, not security)."""
    return bool(_PATTERN.match(value))
