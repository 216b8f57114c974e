"""``process_changes`` (CloudEvent, Pub/Sub): a user's calendar changed, or needs a sync.

Also consumes ``provisioning-jobs`` (batched activation and validation), so that long admin
batches run with Pub/Sub's retries instead of inside an HTTP request.
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


def _calendar_change(services: Services, data: dict[str, Any]) -> None:
    from shared.changes import processing

    processing.handle_calendar_change(services, data)


def _provisioning_job(services: Services, data: dict[str, Any]) -> None:
    from shared.users import provisioning

    provisioning.run_job(services, data)


ROUTES = {Topics.CALENDAR_CHANGES: _calendar_change, Topics.PROVISIONING: _provisioning_job}


@functions_framework.cloud_event
def process_changes(cloud_event: CloudEvent) -> None:
    _events.run(cloud_event, ROUTES, deps())
