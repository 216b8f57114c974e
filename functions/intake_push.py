"""``intake_push`` (HTTP, public): Google Calendar push notifications.

Google's push senders cannot authenticate, so this is the only public function; it trusts a
push only if the channel id exists and the channel token matches. One store read, one publish,
no Google call, no decryption: it must answer fast or Google backs off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import functions_framework

from functions._deps import deps
from functions._http import HttpResult, error_response
from shared.errors import HybridcalError

if TYPE_CHECKING:
    from flask import Request

_LOGGER = logging.getLogger(__name__)


@functions_framework.http
def intake_push(request: Request) -> HttpResult:
    from shared import logs
    from shared.changes import intake

    services = deps()
    logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), services.config.project)
    if request.method != "POST":
        return "", 405, {"Allow": "POST"}
    try:
        outcome = intake.accept_push(services, request.headers)
    except HybridcalError as exc:
        return error_response(exc)
    return "", outcome.http_status
