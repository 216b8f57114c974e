"""Adapter from a Flask request to the framework-free HTTP APIs in ``shared/``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from functions._http import HttpResult, error_response, json_response, read_body
from shared.errors import HybridcalError
from shared.http.messages import ApiRequest, ApiResponse
from shared.runtime import Services

if TYPE_CHECKING:
    from flask import Request

_LOGGER = logging.getLogger(__name__)


def serve(request: Request, services: Services,
          handler: Callable[[Services, ApiRequest], ApiResponse]) -> HttpResult:
    from shared import logs

    logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), services.config.project)
    try:
        api_request = ApiRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query={k: request.args.getlist(k)[-1] for k in request.args},
            body=read_body(request),
        )
        response = handler(services, api_request)
    except HybridcalError as exc:
        return error_response(exc)
    except Exception:
        _LOGGER.exception("unexpected failure in HTTP handler")
        return json_response(500, {"error": {"code": 500, "message": "internal error"}})
    return response.body, response.status, response.headers
