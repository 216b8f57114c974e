"""Google API failures translated into domain errors at the transport edge.

Quota and server errors are retried here with exponential backoff and jitter (tenacity); other
4xx are final and never retried, because retrying a 403 ``forbiddenForNonOrganizer`` or a 404
only burns quota. Delegation refusals from the token endpoint (``RefreshError``) become
:class:`DelegationRefused` with a reason an admin can act on.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from shared import failpoints
from shared.errors import PermanentError, TransientError

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# A daily allowance used up: Gmail's courtesy limit (``dailyLimitExceeded``, Gmail "Resolve
# errors" guide) or Calendar's usage limits (``quotaExceeded``: "The user reached one of the
# Google Calendar limits", Calendar "Handle API errors"). Both last hours, not seconds.
DAILY_LIMIT_REASONS = frozenset({"dailyLimitExceeded", "quotaExceeded"})
API_DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})


class GoogleTransientError(TransientError):
    """Quota, 5xx or a network failure that outlived the in-process retries."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class DailyLimitExceeded(GoogleTransientError):
    """403 ``dailyLimitExceeded`` / ``quotaExceeded``: nothing is wrong with the user, the
    allowance comes back later (hours). Not retried in process (each retry burns quota and
    fails again); callers defer the work and leave every user's status alone."""


class GooglePermanentError(PermanentError):
    """A final 4xx from a Google API."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class SyncTokenExpired(GooglePermanentError):
    """410: the stored sync token is no longer valid; a full sync is required."""


class EtagMismatch(GooglePermanentError):
    """412: the event changed since we read it."""


class GoneOrMissing(GooglePermanentError):
    """404 / 410 on a single resource: it does not exist (any more)."""


class AccessDenied(GooglePermanentError):
    """403 that is not a quota answer: the principal may not do this (read-only access,
    ``forbiddenForNonOrganizer``, missing permission). Retrying never helps."""


class ApiDisabled(AccessDenied):
    """403 ``accessNotConfigured``: the API is not enabled in the Google Cloud project."""


class DelegationRefused(PermanentError):
    """The token endpoint refused the delegated grant (admin console, unknown/suspended user)."""

    def __init__(self, message: str, *, error: str, description: str) -> None:
        super().__init__(message)
        self.error = error
        self.description = description


class SigningRefused(DelegationRefused):
    """IAM Credentials refused to sign the delegation JWT as the delegated service account
    (keyless mode): a missing ``roles/iam.serviceAccountTokenCreator`` grant, a missing
    account or a disabled API. It is the same for every user and final until an operator
    fixes it, so it is never retried; ``description`` says which grant to add."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message, error="service_cannot_sign", description=message)
        self.status = status
        self.reason = reason


def signing_refused(status: int, body: bytes, *, signer_email: str,
                    caller: str | None = None) -> SigningRefused:
    """:class:`SigningRefused` from IAM Credentials' error answer (``status`` and JSON body).

    Only Google's status and reason codes and the two service accounts' addresses go into the
    message: it ends up in the user record an admin reads, and in logs.
    """
    reason = ""
    try:
        error = json.loads(body.decode("utf-8", "replace")).get("error", {})
        reason = str(error.get("status", ""))
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("reason"):
                reason = str(detail["reason"])
                break
    except (ValueError, AttributeError, TypeError):
        pass
    if not _OAUTH_ERROR_CODE.fullmatch(reason):
        reason = ""
    who = caller if caller and "@" in caller else "this function's service account"
    if reason in API_DISABLED_REASONS:
        fix = ("enable the IAM Service Account Credentials API (iamcredentials.googleapis.com) "
               "in the project")
    else:
        fix = (f"grant {who} roles/iam.serviceAccountTokenCreator on {signer_email} "
               "(infra/iam.tf, sign_as_delegated), and check that account exists "
               "(HYBRIDCAL_DELEGATED_SA)")
    return SigningRefused(
        f"IAM refused to sign as the delegated service account ({status} {reason}".rstrip()
        + f"): {fix}.", status=status, reason=reason)


class InvalidIdToken(PermanentError):
    """An ID token that is malformed, forged, expired or for another audience. ``problem`` is
    the kind of failure (google-auth's exception type), never the token or its claims."""

    def __init__(self, message: str, *, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem


def http_error_details(exc: Any) -> tuple[int, str, str]:  # Any: googleapiclient ships no types
    """``(status, reason, message)`` from a googleapiclient ``HttpError``."""
    status = int(getattr(getattr(exc, "resp", None), "status", 0) or 0)
    reason, message = "", ""
    try:
        body = json.loads(exc.content.decode("utf-8", "replace"))
        error = body.get("error", {})
        message = str(error.get("message", ""))[:200]
        errors = error.get("errors") or [{}]
        reason = str(errors[0].get("reason", "") or error.get("status", ""))
    except (ValueError, AttributeError, TypeError):
        pass
    return status, reason, message


def translate(exc: BaseException) -> BaseException:
    """Map an exception from google-auth / googleapiclient / the network to a domain error."""
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status, reason, message = http_error_details(exc)
        text = f"Google API answered {status} {reason}".strip()
        if status == 403 and reason in DAILY_LIMIT_REASONS:
            return DailyLimitExceeded(text, status=status, reason=reason)
        if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
            return GoogleTransientError(text, status=status, reason=reason)
        if status == 410 and reason in ("fullSyncRequired", "updatedMinTooLongAgo"):
            return SyncTokenExpired(text, status=status, reason=reason)
        if status == 412:
            return EtagMismatch(text, status=status, reason=reason)
        if status in (404, 410):
            return GoneOrMissing(text, status=status, reason=reason)
        if status == 403 and reason in API_DISABLED_REASONS:
            return ApiDisabled(text, status=status, reason=reason)
        if status == 403:
            return AccessDenied(text + (f": {message}" if message else ""), status=status,
                                reason=reason)
        return GooglePermanentError(text + (f": {message}" if message else ""), status=status,
                                    reason=reason)
    if isinstance(exc, RefreshError):
        error, description = _refresh_error_parts(exc)
        # invalid_request: 'Invalid impersonation "sub" field.' for a deleted or renamed user;
        # like every malformed request, retrying the same assertion can never succeed.
        if error in ("unauthorized_client", "invalid_grant", "access_denied", "invalid_scope",
                     "invalid_request"):
            return DelegationRefused(f"token refused: {error}", error=error,
                                     description=description)
        return GoogleTransientError(f"token endpoint failed: {error or 'unknown'}")
    import httplib2

    # http.client's IncompleteRead / BadStatusLine: a connection that died mid-answer
    if isinstance(exc, TransportError | OSError | http.client.HTTPException
                  | httplib2.HttpLib2Error):
        return GoogleTransientError(f"network failure talking to Google: {type(exc).__name__}")
    return exc


_OAUTH_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _refresh_error_parts(exc: BaseException) -> tuple[str, str]:
    """google-auth puts the token endpoint's JSON in ``args[1]`` (or a string in args[0]).

    The error goes into messages and logs, so it is kept only when it looks like an OAuth
    error code (``invalid_grant``): a non-JSON answer (a proxy's HTML page, an IAM failure)
    is free text, which stays in the description.
    """
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict):
            error = str(arg.get("error", ""))
            return (error if _OAUTH_ERROR_CODE.fullmatch(error) else "",
                    str(arg.get("error_description", "")))
    text = str(exc.args[0]) if exc.args else ""
    error = text.split(":", 1)[0].strip()
    return (error if _OAUTH_ERROR_CODE.fullmatch(error) else ""), text


def call_google(
    fn: Callable[[], T],
    *,
    attempts: int = 5,
    initial_wait: float = 1.0,
    max_wait: float = 32.0,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """Run one Google call with backoff + jitter on transient failures; translate the rest.

    ``sleep`` is injectable so the embedded stack and tests don't wait in real time.
    """
    import tenacity

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=initial_wait, max=max_wait),
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, GoogleTransientError)
            and not isinstance(exc, DailyLimitExceeded)),
        reraise=True,
        sleep=sleep or tenacity.nap.sleep,
    )

    def attempt() -> T:
        try:
            result = fn()
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            if isinstance(translated, GoogleTransientError):
                _LOGGER.info("transient Google failure, backing off",
                             extra={"json_fields": {"status": translated.status,
                                                    "reason": translated.reason}})
            raise translated from exc
        failpoints.hit("google.after_call")
        return result

    return retrying(attempt)
