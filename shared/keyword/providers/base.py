"""What every provider takes and gives: the context of one event, and the join details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.changes.sync import CalendarGateway
    from shared.runtime import Services


class JoinDetailsPending(Exception):
    """The provider asked for the meeting and its details come later (a Meet conference
    Google answered ``pending``): nothing is written now; the event's next change, when the
    conference exists, brings the keyword back through the sync and the details are written."""


@dataclass(frozen=True)
class JoinDetails:
    """What gets written into the event; ``service`` is the joinlinks slug for the index."""

    url: str
    service: str
    service_name: str
    provider: str
    sip_uri: str | None = None
    meeting_number: str | None = None
    fallback_reason: str | None = None


@dataclass
class ProviderContext:
    """Everything a provider may need; ``calendar`` is the organizer's calendar."""

    services: Services
    user_id: str
    email: str
    user: Mapping[str, Any]
    event: dict[str, Any]
    calendar: CalendarGateway | None = None
    cache: dict[str, JoinDetails] = field(default_factory=dict)  # survives 412 re-evaluations
