"""Structured JSON logs in the shape Cloud Logging understands.

Cloud Functions forward stdout lines; a line that is a JSON object is parsed into a structured
entry (``severity``, ``message``, ``logging.googleapis.com/trace``). Extra fields go through
``extra={"json_fields": {...}}``. Users appear only as pseudonyms: callers pass ids produced by
:func:`shared.pseudonym.pseudonymise`, and this formatter also refuses to print anything that
looks like an email address, as a last line of defence for the data rule.

Where a line comes from is structured too: every entry carries Cloud Logging's
``sourceLocation`` (file, line, function), and an exception adds ``error_type`` and ``stack``,
its frames as file, line and function, never its message (messages quote user data: an
``HttpError`` body, a title). werkzeug's "Error on request" lines put a whole traceback, with
the exception's message, into their text; they are cut to that phrase and get the same
``error_type`` and ``stack`` from the exception being handled.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_ROOT = Path(__file__).resolve().parent.parent  # the project: paths are shown relative to it
MAX_FRAMES = 30  # the innermost ones; a stack deeper than this is a recursion
_WERKZEUG_ERROR = "Error on request"
_SOURCE = "logging.googleapis.com/sourceLocation"
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
        message, exc_info = record.getMessage(), record.exc_info
        if record.name == "werkzeug" and message.startswith(_WERKZEUG_ERROR):
            # werkzeug logs from inside its except block: the exception is the active one
            message = _WERKZEUG_ERROR
            if not exc_info or exc_info[0] is None:
                active = sys.exc_info()
                exc_info = active if active[0] is not None else None
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": redact(message),
            "logger": record.name,
            _SOURCE: {"file": _shown_path(record.pathname), "line": str(record.lineno),
                      "function": record.funcName},
        }
        trace = _TRACE.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        fields = getattr(record, "json_fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, _safe(value))
        if exc_info and exc_info[0] is not None:
            # The type and where: exception messages may quote user data (an HttpError body).
            entry["error_type"] = exc_info[0].__name__
            entry["stack"] = frames(exc_info[2])
        return json.dumps(entry, default=str)


def frames(tb: TracebackType | None) -> list[dict[str, str | int]]:
    """The traceback's frames, outermost first, as ``{"file", "line", "function"}``: no source
    text and no local values, so nothing of the data being handled."""
    summary = traceback.extract_tb(tb)[-MAX_FRAMES:]
    return [{"file": _shown_path(f.filename), "line": f.lineno or 0, "function": f.name}
            for f in summary]


def _shown_path(path: str) -> str:
    """A project file relative to the project (``shared/logs.py``); a library's from its
    package directory on (``werkzeug/serving.py``), so no machine paths are logged."""
    parts = Path(path).parts
    if "site-packages" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("site-packages"):])
    try:
        return Path(path).resolve().relative_to(_ROOT).as_posix()
    except (ValueError, OSError):
        return "/".join(parts[-2:])


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
    # werkzeug gives its logger a plain stderr handler of its own when it logs before any
    # handler exists; its request errors must reach this formatter instead, and only it.
    werkzeug = logging.getLogger("werkzeug")
    for own in list(werkzeug.handlers):
        werkzeug.removeHandler(own)
    werkzeug.propagate = True


def fields(**values: object) -> dict[str, object]:
    """``extra=`` for a structured log call: ``_LOGGER.info("x", extra=fields(user=uid))``."""
    return {"json_fields": values}
