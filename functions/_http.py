"""Helpers shared by the HTTP entry points: bounded bodies and JSON errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from shared.errors import (
    BadRequest,
    Forbidden,
    HybridcalError,
    MethodNotAllowed,
    NotFound,
    TransientError,
    Unauthorized,
)

if TYPE_CHECKING:
    from flask import Request

# What an HTTP entry point hands back to Flask: body, status and, mostly, headers.
HttpResult = tuple[str, int] | tuple[str, int, dict[str, str]]
JsonResult = tuple[str, int, dict[str, str]]

MAX_BODY_BYTES = 1_048_576  # 1 MiB: larger admin batches must use CSV upload through the CLI

RETRY_AFTER_SECONDS = 30
TRANSIENT_MESSAGE = "a backend is busy or unavailable; retry later"
_STATUS = {BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404,
           MethodNotAllowed: 405}


def json_response(status: int, payload: object,
                  headers: dict[str, str] | None = None) -> JsonResult:
    return (
        json.dumps(payload),
        status,
        {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})},
    )


def error_response(exc: HybridcalError) -> JsonResult:
    """Map a domain error to a JSON error; the message never carries user text by design."""
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            extra = _headers(exc, status)
            return json_response(status, {"error": {"code": status, "message": str(exc)}}, extra)
    if isinstance(exc, TransientError):
        # Google's quota or a busy store outlasted our retries: the caller may simply retry.
        return json_response(503, {"error": {"code": 503, "message": TRANSIENT_MESSAGE}},
                             {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return json_response(500, {"error": {"code": 500, "message": "internal error"}})


def _headers(exc: HybridcalError, status: int) -> dict[str, str] | None:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, MethodNotAllowed):  # RFC 9110: a 405 must say which methods would do
        return {"Allow": ", ".join(exc.allowed)}
    return None


def read_body(request: Request) -> bytes:
    """The raw body, refusing oversize input before reading it all."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    return data
