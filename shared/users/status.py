"""A user's (or workspace's) status record, and the one way a failure is recorded on it.

Users and workspaces fail the same ways (delegation refused, Google refusing, quota), so both
go through :func:`record_failure` and :func:`record_deferred`: an admin sees one kind of reason,
and re-validation backs off the same way for both (1 h, 6 h, then every 24 h), counted in
``validation_attempts`` until the record becomes active again.

Every module of :mod:`shared.users` and the features that find broken access
(:mod:`shared.changes.processing`, :mod:`shared.presence`) import this one; it imports no
other feature, so the package has no cycle.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.google.errors import (
    ApiDisabled,
    DelegationRefused,
    GooglePermanentError,
    SigningRefused,
)
from shared.google.factory import CALENDAR_SCOPE, GMAIL_SETTINGS_SCOPE
from shared.logs import fields
from shared.store import names

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)

COLLECTION = names.USERS
REVALIDATE_AFTER = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
QUOTA_RETRY = timedelta(minutes=5)
UNKNOWN_CLIENT_ID = "<the service's client id>"


class ValidationFailed(Exception):
    """A reason an admin can act on: ``code`` for tools, ``reason`` for people."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def calendar_target(user: dict[str, Any]) -> tuple[str, str]:
    """``(acts_as, calendar_id)``: whom the service impersonates and which calendar it reads.

    A user's own primary calendar as the user; a workspace's room calendar (resource
    calendars cannot be impersonated) as the room reader it was shared with.
    """
    return (str(user.get("acts_as") or user["email"]), str(user.get("calendar_id") or "primary"))


def user_status(services: Services, email: str) -> dict[str, Any]:
    doc = services.store.get(COLLECTION, services.pseudonym(email)) or {}
    return {"email": email, "status": doc.get("status", "unknown"),
            "reason": doc.get("reason"), "reason_code": doc.get("reason_code"),
            "locale": doc.get("locale"), "timezone": doc.get("timezone")}


def record_failure(services: Services, user_id: str, failure: ValidationFailed, *,
                   base: dict[str, Any] | None = None, kind: str = "user") -> str:
    """Put the record in ``error`` with ``failure``'s reason and the next back-off step."""
    current = services.store.get(COLLECTION, user_id) or {}
    attempts = int(current.get("validation_attempts") or 0)
    backoff = REVALIDATE_AFTER[min(attempts, len(REVALIDATE_AFTER) - 1)]
    services.store.merge(COLLECTION, user_id, {
        **(base or {}), "status": "error", "reason_code": failure.code,
        "reason": failure.reason, "validation_attempts": attempts + 1,
        "next_validation_at": to_rfc3339(services.clock.now() + backoff)})
    _LOGGER.warning("%s moved to error", kind, extra=fields(user=user_id, reason=failure.code))
    return "error"


# Set once an activation's first sync is published; records from before it count as queued.
INITIAL_SYNC_QUEUED = "initial_sync_queued"


def fully_active(record: dict[str, Any]) -> bool:
    """Active, with the first sync queued: activating again has nothing left to do."""
    return record.get("status") == "active" and record.get(INITIAL_SYNC_QUEUED, True) is True


def record_active(services: Services, user_id: str, fields_: dict[str, Any], *,
                  kind: str = "user") -> str:
    """Validated and watched: ``active``, the back-off forgotten, and the initial sync queued
    (it indexes the calendar and patches pending keywords; its commit's ``last_sync`` is what
    schedules reconciliation, :mod:`shared.users.renewal`)."""
    now = services.clock.now()
    services.store.merge(COLLECTION, user_id, {
        **fields_, "status": "active", "reason_code": None, "reason": None,
        "validation_attempts": 0, "next_validation_at": None, "validated_at": to_rfc3339(now),
        INITIAL_SYNC_QUEUED: False})
    # Active first (the sync's handler touches active users only), then the sync, then the
    # mark: a failure in between leaves the mark unset, and activating again re-queues the
    # sync instead of taking the user for done (seen on CloudStack with the publisher grant
    # missing: the retried job found the user active and the first sync never came).
    services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id, "reason": "initial"},
                         ordering_key=user_id)
    services.store.merge(COLLECTION, user_id, {INITIAL_SYNC_QUEUED: True})
    _LOGGER.info("%s activated", kind, extra=fields(user=user_id))
    return "active"


def current_record(services: Services, address: str) -> tuple[str, str, dict[str, Any]]:
    """``(address, user_id, stored record)`` with the address normalised as every admin call
    normalises it (trimmed, lower-case)."""
    address = address.strip().lower()
    user_id = services.pseudonym(address)
    return address, user_id, services.store.get(COLLECTION, user_id) or {}


def record_deferred(services: Services, user_id: str, *, base: dict[str, Any] | None = None) -> str:
    """Google answered with quota or server errors: ``pending``, retried soon (no back-off
    step is used up: the user did nothing wrong)."""
    services.store.merge(COLLECTION, user_id, {
        **(base or {}), "status": "pending", "reason_code": "quota",
        "reason": "Google answered with a quota or server error; validation is retried later.",
        "next_validation_at": to_rfc3339(services.clock.now() + QUOTA_RETRY)})
    return "pending"


def delegation_failure(exc: DelegationRefused, client_id: str, scope: str) -> ValidationFailed:
    """What the admin must fix when the token endpoint refused to act as the user."""
    if isinstance(exc, SigningRefused):  # the service's own grant, not this user: say which
        return ValidationFailed("service_cannot_sign", exc.description)
    if exc.error == "unauthorized_client":
        return ValidationFailed(
            "delegation_not_authorised",
            "In the Google Admin console (Security > API controls > Domain-wide delegation) "
            f"authorise client ID {client_id} for the scopes {CALENDAR_SCOPE},"
            f"{GMAIL_SETTINGS_SCOPE} (missing: {scope}).")
    if "suspend" in exc.description.lower():
        return ValidationFailed("user_suspended",
                                "The user is suspended in Google Workspace; restore the user "
                                "in the Admin console, then retry validation.")
    if exc.error == "invalid_request" and "sub" in exc.description:
        return ValidationFailed("user_not_found",
                                "Google no longer knows this address (the user was deleted or "
                                "renamed): deactivate it, or activate the user's new primary "
                                "Workspace email.")
    return ValidationFailed("user_not_found",
                            "No such user in the Google Workspace domain: check the address "
                            "matches the user's primary Workspace email.")


def api_failure(exc: GooglePermanentError, api: str) -> ValidationFailed:
    """What the admin must fix when a Google API refused for good."""
    if isinstance(exc, ApiDisabled):
        return ValidationFailed(f"{api.lower()}_api_disabled",
                                f"The Google {api} API is disabled for the project; enable it "
                                "in the Google Cloud console (APIs & Services).")
    return ValidationFailed(f"{api.lower()}_error",
                            f"Google {api} API refused the validation ({exc.status} "
                            f"{exc.reason}).")


def client_id(services: Services) -> str:
    """The delegated account's client id: the one an admin authorises in the Admin console.
    Deployed (keyless) only configuration knows it (HYBRIDCAL_DELEGATED_CLIENT_ID, set by
    infra/ from the account's unique id); with a key file (the simulator) the key says."""
    return str(services.config.delegated_client_id
               or getattr(services.workspace, "client_id", None) or UNKNOWN_CLIENT_ID)


def mark_error(services: Services, user_id: str, exc: BaseException, *,
               scope: str = CALENDAR_SCOPE) -> None:
    """A user whose access broke after activation: stop processing, keep an actionable reason.

    ``scope`` is the one the failing call needed (Gmail's for the vacation poll), so the
    reason names what the admin must add back.
    """
    if isinstance(exc, DelegationRefused):
        failure = delegation_failure(exc, client_id(services), scope)
    elif isinstance(exc, GooglePermanentError):
        failure = api_failure(exc, "Gmail" if scope == GMAIL_SETTINGS_SCOPE else "Calendar")
    else:
        failure = ValidationFailed("error", f"{type(exc).__name__}")
    record_failure(services, user_id, failure)
