"""Domain errors every layer speaks.

Adapters translate transport failures into these at the edge (see
:mod:`shared.google.errors`), and ``functions/`` maps them to what the trigger needs: a
:class:`TransientError` is re-raised so Pub/Sub redelivers, a :class:`PermanentError` is logged
and acknowledged so a poison message cannot loop forever.
"""

from __future__ import annotations

from collections.abc import Iterable


class HybridcalError(Exception):
    """Base class; messages never contain user text (they end up in logs and HTTP bodies)."""


class TransientError(HybridcalError):
    """Worth retrying later: quota, 5xx, timeouts, lease held by another worker."""


class PermanentError(HybridcalError):
    """Retrying cannot help: bad input, revoked access, a resource that is gone."""


class BadRequest(PermanentError):
    """The caller sent something malformed; HTTP handlers answer 400."""


class Unauthorized(PermanentError):
    """No or invalid credentials; HTTP handlers answer 401."""


class Forbidden(PermanentError):
    """Valid credentials, not allowed; HTTP handlers answer 403."""


class NotFound(PermanentError):
    """HTTP handlers answer 404."""


class MethodNotAllowed(PermanentError):
    """The path exists, not for this method; HTTP handlers answer 405 with an ``Allow`` header
    listing :attr:`allowed`."""

    def __init__(self, message: str, allowed: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.allowed = tuple(sorted({method.upper() for method in allowed}))
