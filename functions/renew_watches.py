"""``renew_watches`` (CloudEvent): the Scheduler tick fans out, the worker renews one user.

Deployed twice with the same entry point: once on the tick topic, once on the fan-out topic.
"""

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
    from shared.users import renewal

    renewal.on_tick(services)


def _renew_user(services: Services, data: dict[str, Any]) -> None:
    from shared.users import renewal

    renewal.renew_user(services, data)


ROUTES = {Topics.RENEW_TICK: _tick, Topics.RENEW_USER: _renew_user}


@functions_framework.cloud_event
def renew_watches(cloud_event: CloudEvent) -> None:
    _events.run(cloud_event, ROUTES, deps())
