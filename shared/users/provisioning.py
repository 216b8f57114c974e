"""Activation and deactivation of users: only activated *and validated* users are touched.

Activation validates (:mod:`shared.users.validation`), opens the watch channel and only then
declares the user active, so an active user always has a channel; a failure leaves the user in
``error`` (or ``pending`` on quota) with the reason and back-off of :mod:`shared.users.status`.
Deactivation stops the channels and forgets everything kept about the user.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shared.clock import to_rfc3339
from shared.google.errors import GoogleTransientError
from shared.logs import fields
from shared.store import names
from shared.store.base import Filter
from shared.users import status
from shared.users.status import COLLECTION, ValidationFailed
from shared.users.validation import validate
from shared.users.watch import ensure_channel, stop_all_channels

if TYPE_CHECKING:
    from shared.runtime import Services

_LOGGER = logging.getLogger(__name__)


def activate_now(services: Services, email: str) -> str:
    """Activate and validate one user synchronously; returns the resulting status."""
    email, user_id, current = status.current_record(services, email)
    if status.fully_active(current):
        return "active"  # activating an active user is a no-op
    now = to_rfc3339(services.clock.now())
    services.store.merge(COLLECTION, user_id, {
        "email": email, "user_id": user_id, "kind": current.get("kind", "user"),
        "status": "validating", "activated_at": current.get("activated_at", now)})
    try:
        settings = validate(services, email)
        # Watch before declaring the user active: an active user always has a channel.
        ensure_channel(services, user_id, email)
    except ValidationFailed as exc:
        return status.record_failure(services, user_id, exc)
    except GoogleTransientError:
        return status.record_deferred(services, user_id)
    return status.record_active(services, user_id, settings)


def run_job(services: Services, data: dict[str, Any]) -> None:
    """``provisioning-jobs``: activate a batch of users (idempotent: active users are no-ops)."""
    for email in data.get("emails", []):
        if isinstance(email, str) and "@" in email:
            activate_now(services, email)


def deactivate(services: Services, email: str) -> str:
    """Stop everything for a user and crypto-shred their data keys.

    After this nothing the service kept about the user is readable (the wrapped data keys are
    gone), and pushes still in flight find no active channel and are ignored.
    """
    email, user_id, user = status.current_record(services, email)
    stop_all_channels(services, user_id, {**user, "email": email}, tolerate_transient=True)
    for collection in names.PER_USER_BY_KEY:
        services.store.delete(collection, user_id)
    for collection in names.PER_USER_BY_FIELD:
        services.store.delete_where(collection, [Filter("user_id", "==", user_id)])
    shredded = services.sealer.shred_user(user_id)
    services.store.merge(COLLECTION, user_id, {
        "status": "deactivated", "reason_code": None, "reason": None,
        "deactivated_at": to_rfc3339(services.clock.now()),
        **dict.fromkeys(names.USER_FIELDS_PER_FEATURE)})
    services.workspace.forget(email)
    _LOGGER.info("user deactivated", extra=fields(user=user_id, data_keys_shredded=shredded))
    return "deactivated"
