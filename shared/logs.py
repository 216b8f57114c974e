"""Structured JSON logs in the shape Cloud Logging understands.

Cloud Functions forward stdout lines; a line that is a JSON object is parsed into a structured
entry (``severity``, ``message``, ``logging.googleapis.com/trace``). Extra fields go through
``extra={"json_fields": {...}}``. Users appear only as pseudonyms: callers pass ids produced by
:func:`shared.pseudonym.pseudonymise`, and this formatter also refuses to print anything that
looks like an email address, as a last line of defence for the data rule.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from typing import Any, TextIO

_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO",
             "DEBUG": "DEBUG"}


def redact(text: str) -> str:
    """Replace anything shaped like an email address; logs must never carry one."""
    return _EMAIL.sub("<redacted-email>", text)


def set_trace(header: str | None, project: str | None) -> None:
    """Remember the request's trace (from ``X-Cloud-Trace-Context``) for this context."""
    if header and project:
        trace_id = header.split("/", 1)[0]
        if trace_id.isalnum():
            _TRACE.set(f"projects/{project}/traces/{trace_id}")
            return
    _TRACE.set(None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with Cloud Logging's special fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": redact(record.getMessage()),
            "logger": record.name,
        }
        trace = _TRACE.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, _safe(value))
        if record.exc_info and record.exc_info[0] is not None:
            # Only the type: exception messages may quote user data (an HttpError body, say).
            entry["error_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


def _safe(value: object) -> str | int | float | bool | None:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(json.dumps(value, default=str))


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Install the JSON formatter on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_hybridcal", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler._hybridcal = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("googleapiclient.discovery_cache", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fields(**values: object) -> dict[str, object]:
    """``extra=`` for a structured log call: ``_LOGGER.info("x", extra=fields(user=uid))``."""
    return {"json_fields": values}
