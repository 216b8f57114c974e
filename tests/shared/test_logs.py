"""Logs are Cloud Logging JSON and never carry an email address or exception text."""

from __future__ import annotations

import io
import json
import logging

from shared import logs


def _capture(fn) -> dict:
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    try:
        fn(logging.getLogger("hybridcal.test"))
    finally:
        logging.getLogger().handlers.clear()
    return json.loads(stream.getvalue().splitlines()[-1])


def test_entry_has_severity_message_and_fields():
    entry = _capture(lambda log: log.warning("renewal failed", extra=logs.fields(user="u_1a2b")))
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "renewal failed"
    assert entry["user"] == "u_1a2b"


def test_email_addresses_are_redacted_everywhere():
    entry = _capture(
        lambda log: log.info("hello bob@example.com", extra=logs.fields(who="carol@corp.example.org"))
    )
    assert "example.com" not in json.dumps(entry)
    assert "corp.example.org" not in json.dumps(entry)


def test_exception_text_is_not_logged_only_its_type():
    def log_exception(log):
        try:
            raise ValueError("secret agenda for MARKER-123")
        except ValueError:
            log.exception("processing failed")

    entry = _capture(log_exception)
    assert entry["error_type"] == "ValueError"
    assert "MARKER-123" not in json.dumps(entry)


def test_trace_header_becomes_cloud_logging_trace():
    logs.set_trace("105445aa7843bc8bf206b12000100000/1;o=1", "proj")
    try:
        entry = _capture(lambda log: log.info("x"))
    finally:
        logs.set_trace(None, None)
    assert entry["logging.googleapis.com/trace"] == "projects/proj/traces/105445aa7843bc8bf206b12000100000"
