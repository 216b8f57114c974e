"""Activation and validation of users: only activated *and validated* users are touched.

Validation proves, step by step, that the service can really work for the user, and maps each
failure to a reason an admin can act on: the delegated Calendar token, ``settings.get`` (locale
and time zone, kept for join blocks), a write check (a private, transparent, attendee-less
probe event inserted with ``sendUpdates=none`` and deleted at once) and Gmail ``getVacation``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from shared.bus.base import Topics
from shared.clock import to_rfc3339
from shared.google.errors import (
    DelegationRefused,
    GooglePermanentError,
    GoogleTransientError,
    call_google,
)
from shared.google.factory import CALENDAR_SCOPE, GMAIL_SETTINGS_SCOPE
from shared.logs import fields

_LOGGER = logging.getLogger(__name__)
COLLECTION = "users"
REVALIDATE_AFTER = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))


class ValidationFailed(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def calendar_target(user: dict[str, Any]) -> tuple[str, str]:
    """``(acts_as, calendar_id)``: whom the service impersonates and which calendar it reads.

    A user's own primary calendar as the user; a workspace's room calendar (resource
    calendars cannot be impersonated) as the room reader it was shared with.
    """
    return (str(user.get("acts_as") or user["email"]), str(user.get("calendar_id") or "primary"))


def user_status(services: Any, email: str) -> dict[str, Any]:
    doc = services.store.get(COLLECTION, services.pseudonym(email)) or {}
    return {"email": email, "status": doc.get("status", "unknown"),
            "reason": doc.get("reason"), "reason_code": doc.get("reason_code"),
            "locale": doc.get("locale"), "timezone": doc.get("timezone")}


def activate_now(services: Any, email: str) -> str:
    """Activate and validate one user synchronously; returns the resulting status."""
    email = email.strip().lower()
    user_id = services.pseudonym(email)
    current = services.store.get(COLLECTION, user_id) or {}
    if current.get("status") == "active":
        return "active"  # activating an active user is a no-op
    now = to_rfc3339(services.clock.now())
    services.store.merge(COLLECTION, user_id, {
        "email": email, "user_id": user_id, "kind": current.get("kind", "user"),
        "status": "validating", "activated_at": current.get("activated_at", now)})
    try:
        settings = _validate(services, email)
        from shared.users.renewal import ensure_channel

        # Watch before declaring the user active: an active user always has a channel.
        ensure_channel(services, user_id, email)
    except ValidationFailed as exc:
        attempts = int(current.get("validation_attempts", 0))
        backoff = REVALIDATE_AFTER[min(attempts, len(REVALIDATE_AFTER) - 1)]
        services.store.merge(COLLECTION, user_id, {
            "status": "error", "reason_code": exc.code, "reason": exc.reason,
            "validation_attempts": attempts + 1,
            "next_validation_at": to_rfc3339(services.clock.now() + backoff)})
        _LOGGER.warning("user failed validation", extra=fields(user=user_id, reason=exc.code))
        return "error"
    except GoogleTransientError:
        services.store.merge(COLLECTION, user_id, {
            "status": "pending", "reason_code": "quota", "reason":
            "Google answered with a quota or server error; validation is retried later.",
            "next_validation_at": to_rfc3339(services.clock.now() + timedelta(minutes=5))})
        return "pending"
    services.store.merge(COLLECTION, user_id, {
        "status": "active", "reason_code": None, "reason": None, "validation_attempts": 0,
        "next_validation_at": None, "validated_at": to_rfc3339(services.clock.now()),
        "next_reconcile_at": to_rfc3339(services.clock.now() + timedelta(
            seconds=services.config.reconcile_interval_seconds)), **settings})
    services.bus.publish(Topics.CALENDAR_CHANGES, {"user_id": user_id, "reason": "initial"},
                         ordering_key=user_id)
    _LOGGER.info("user activated", extra=fields(user=user_id))
    return "active"


def _validate(services: Any, email: str) -> dict[str, Any]:
    client_id = getattr(services.workspace, "client_id", None) or "<the service's client id>"
    calendar = services.workspace.calendar(email)
    try:
        locale = call_google(lambda: calendar.settings().get(setting="locale").execute(),
                             sleep=services.sleep)["value"]
        timezone = call_google(lambda: calendar.settings().get(setting="timezone").execute(),
                               sleep=services.sleep)["value"]
    except DelegationRefused as exc:
        raise _delegation_failure(exc, client_id, CALENDAR_SCOPE) from None
    except GooglePermanentError as exc:
        raise _api_failure(exc, "Calendar") from None
    now = services.clock.now()
    try:
        probe = call_google(lambda: calendar.events().insert(
            calendarId="primary", sendUpdates="none", body={
                "summary": "hybridcal write check", "visibility": "private",
                "transparency": "transparent",
                "start": {"dateTime": to_rfc3339(now + timedelta(days=365))},
                "end": {"dateTime": to_rfc3339(now + timedelta(days=365, minutes=1))},
            }).execute(), sleep=services.sleep)
        call_google(lambda: calendar.events().delete(calendarId="primary", eventId=probe["id"],
                                                     sendUpdates="none").execute(),
                    sleep=services.sleep)
    except GooglePermanentError as exc:
        if exc.status == 403:
            raise ValidationFailed(
                "calendar_not_writable",
                "The service cannot write to this user's primary calendar (403 "
                f"{exc.reason}); make sure the user owns it and delegation grants "
                f"{CALENDAR_SCOPE} (not a read-only scope).") from None
        raise _api_failure(exc, "Calendar") from None
    gmail = services.workspace.gmail(email)
    try:
        call_google(lambda: gmail.users().settings().getVacation(userId="me").execute(),
                    sleep=services.sleep)
    except DelegationRefused as exc:
        raise _delegation_failure(exc, client_id, GMAIL_SETTINGS_SCOPE) from None
    except GooglePermanentError as exc:
        raise _api_failure(exc, "Gmail") from None
    return {"locale": locale, "timezone": timezone}


def _delegation_failure(exc: DelegationRefused, client_id: str, scope: str) -> ValidationFailed:
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
    return ValidationFailed("user_not_found",
                            "No such user in the Google Workspace domain: check the address "
                            "matches the user's primary Workspace email.")


def _api_failure(exc: GooglePermanentError, api: str) -> ValidationFailed:
    if exc.reason in ("accessNotConfigured", "SERVICE_DISABLED"):
        return ValidationFailed(f"{api.lower()}_api_disabled",
                                f"The Google {api} API is disabled for the project; enable it "
                                "in the Google Cloud console (APIs & Services).")
    return ValidationFailed(f"{api.lower()}_error",
                            f"Google {api} API refused the validation ({exc.status} "
                            f"{exc.reason}).")


def mark_error(services: Any, user_id: str, exc: BaseException, *,
               scope: str = CALENDAR_SCOPE) -> None:
    """A user whose access broke after activation: stop processing, keep an actionable reason.

    ``scope`` is the one the failing call needed (Gmail's for the vacation poll), so the
    reason names what the admin must add back.
    """
    client_id = getattr(services.workspace, "client_id", None) or "<the service's client id>"
    if isinstance(exc, DelegationRefused):
        failure = _delegation_failure(exc, client_id, scope)
    elif isinstance(exc, GooglePermanentError):
        failure = _api_failure(exc, "Gmail" if scope == GMAIL_SETTINGS_SCOPE else "Calendar")
    else:
        failure = ValidationFailed("error", f"{type(exc).__name__}")
    services.store.merge(COLLECTION, user_id, {
        "status": "error", "reason_code": failure.code, "reason": failure.reason,
        "next_validation_at": to_rfc3339(services.clock.now() + REVALIDATE_AFTER[0])})
    _LOGGER.warning("user moved to error", extra=fields(user=user_id, reason=failure.code))


def revalidate(services: Any, email: str) -> str:
    """An admin's retry (or the backoff runner): validate a user in ``error``/``pending`` again.

    Active and deactivated users are left alone (re-validating an active user would open a
    second watch channel); the current status is returned unchanged for them.
    """
    email = email.strip().lower()
    doc = services.store.get(COLLECTION, services.pseudonym(email)) or {}
    if doc.get("status") not in ("error", "pending", "validating"):
        return str(doc.get("status", "unknown"))
    if doc.get("kind") == "workspace":
        from shared.users.workspaces import activate_workspace

        return activate_workspace(services, email)
    return activate_now(services, email)


def run_job(services: Any, data: dict[str, Any]) -> None:
    """``provisioning-jobs``: activate a batch of users (idempotent: active users are no-ops)."""
    for email in data.get("emails", []):
        if isinstance(email, str) and "@" in email:
            activate_now(services, email)


def deactivate(services: Any, email: str) -> str:
    """Stop everything for a user and crypto-shred their data keys.

    After this nothing the service kept about the user is readable (the wrapped data keys are
    gone), and pushes still in flight find no active channel and are ignored.
    """
    from shared.store.base import Filter
    from shared.users.renewal import stop_all_channels

    email = email.strip().lower()
    user_id = services.pseudonym(email)
    user = services.store.get(COLLECTION, user_id) or {}
    stop_all_channels(services, user_id, {**user, "email": email}, tolerate_transient=True)
    services.store.delete("sync", user_id)
    services.store.delete("presence", user_id)
    for collection in ("meetings", "notifications", "series"):
        services.store.delete_where(collection, [Filter("user_id", "==", user_id)])
    shredded = services.sealer.shred_user(user_id)
    services.store.merge(COLLECTION, user_id, {
        "status": "deactivated", "reason_code": None, "reason": None,
        "deactivated_at": to_rfc3339(services.clock.now())})
    services.workspace.forget(email)
    _LOGGER.info("user deactivated", extra=fields(user=user_id, data_keys_shredded=shredded))
    return "deactivated"
