"""``dispatch_join_notifications`` (CloudEvent): each minute, notify meetings about to start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import functions_framework

from functions import _events
from functions._deps import deps
from shared.bus.base import Topics
from shared.runtime import Services

if TYPE_CHECKING:
    from cloudevents.http.event import CloudEvent


def _tick(services: Services, data: dict[str, Any]) -> None:
    from shared.meetings import notifications

    notifications.on_tick(services)


ROUTES = {Topics.NOTIFY_TICK: _tick}


@functions_framework.cloud_event
def dispatch_join_notifications(cloud_event: CloudEvent) -> None:
    _events.run(cloud_event, ROUTES, deps())
