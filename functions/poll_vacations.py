"""``poll_vacations`` (CloudEvent): the Scheduler tick shards users, the worker polls a shard."""

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
    from shared.presence import vacation as presence

    presence.on_tick(services)


def _poll_shard(services: Services, data: dict[str, Any]) -> None:
    from shared.presence import vacation as presence

    presence.poll_shard(services, data)


ROUTES = {Topics.VACATION_TICK: _tick, Topics.VACATION_SHARD: _poll_shard}


@functions_framework.cloud_event
def poll_vacations(cloud_event: CloudEvent) -> None:
    _events.run(cloud_event, ROUTES, deps())
