"""Validation: proving, step by step, that the service can really work for a user.

Each step maps its failure to a reason an admin can act on (see :mod:`shared.users.status`):
the delegated Calendar token, ``settings.get`` (locale and time zone, kept for join blocks), a
write check (a private, transparent, attendee-less probe event inserted with
``sendUpdates=none`` and deleted at once) and Gmail ``getVacation``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import to_rfc3339
from shared.google.errors import AccessDenied, DelegationRefused, GooglePermanentError
from shared.google.factory import CALENDAR_SCOPE, GMAIL_SETTINGS_SCOPE
from shared.users.status import ValidationFailed, api_failure, client_id, delegation_failure

if TYPE_CHECKING:
    from shared.runtime import Services


def validate(services: Services, email: str) -> dict[str, Any]:
    """The user's Calendar settings (``locale``, ``timezone``) once every check passed;
    :class:`ValidationFailed` otherwise. Transient Google errors propagate."""
    calendar = services.workspace.calendar(email)
    try:
        locale = calendar.setting("locale")
        timezone = calendar.setting("timezone")
    except DelegationRefused as exc:
        raise delegation_failure(exc, client_id(services), CALENDAR_SCOPE) from None
    except GooglePermanentError as exc:
        raise api_failure(exc, "Calendar") from None
    now = services.clock.now()
    try:
        probe = calendar.insert({
            "summary": "hybridcal write check", "visibility": "private",
            "transparency": "transparent",
            "start": {"dateTime": to_rfc3339(now + timedelta(days=365))},
            "end": {"dateTime": to_rfc3339(now + timedelta(days=365, minutes=1))}})
        calendar.delete(probe["id"])
    except AccessDenied as exc:
        raise ValidationFailed(
            "calendar_not_writable",
            "The service cannot write to this user's primary calendar (403 "
            f"{exc.reason}); make sure the user owns it and delegation grants "
            f"{CALENDAR_SCOPE} (not a read-only scope).") from None
    except GooglePermanentError as exc:
        raise api_failure(exc, "Calendar") from None
    try:
        services.workspace.gmail(email).vacation()
    except DelegationRefused as exc:
        raise delegation_failure(exc, client_id(services), GMAIL_SETTINGS_SCOPE) from None
    except GooglePermanentError as exc:
        raise api_failure(exc, "Gmail") from None
    return {"locale": locale, "timezone": timezone}
