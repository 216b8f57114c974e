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


# -- where a line comes from, and exceptions without their text (issue #19) ---------------------
def _fail_deep(title: str) -> None:
    raise ValueError(f"could not patch {title!r} for ann@example.com")


def test_an_exception_is_logged_with_its_frames_but_never_its_message():
    def log_exception(log):
        try:
            _fail_deep("Layoff plan MARKER-77")
        except ValueError:
            log.exception("processing failed")

    entry = _capture(log_exception)
    text = json.dumps(entry)
    assert "MARKER-77" not in text and "Layoff" not in text and "example.com" not in text
    assert entry["error_type"] == "ValueError"
    assert entry["stack"][-2:] == [
        {"file": "tests/shared/test_logs.py", "line": entry["stack"][-2]["line"],
         "function": "log_exception"},
        {"file": "tests/shared/test_logs.py", "line": _fail_deep.__code__.co_firstlineno + 1,
         "function": "_fail_deep"}]


def test_every_entry_says_where_it_was_logged():
    def log_here(log):
        log.warning("renewal failed")

    entry = _capture(log_here)
    source = entry["logging.googleapis.com/sourceLocation"]
    assert source == {"file": "tests/shared/test_logs.py",
                      "line": str(log_here.__code__.co_firstlineno + 1), "function": "log_here"}


def test_a_request_error_in_werkzeug_is_one_line_without_the_traceback_text():
    """What an operator reads when a handler crashes under the embedded server: the phrase,
    the exception's type and frames; not the traceback text werkzeug writes into its message
    (with the exception's message and the source lines in it)."""
    import threading

    import requests
    from werkzeug.serving import make_server

    def crashing_app(environ, start_response):
        raise RuntimeError("title 'Merger talks MARKER-88' of bob@example.com")

    stream, plain = io.StringIO(), io.StringIO()
    # as werkzeug does when it logs before logging is configured: a plain handler of its own
    logging.getLogger("werkzeug").addHandler(logging.StreamHandler(plain))
    logs.configure("INFO", stream)
    server = make_server("127.0.0.1", 0, crashing_app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=10)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        logging.getLogger().handlers.clear()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    errors = [e for e in entries if e["logger"] == "werkzeug" and e["severity"] == "ERROR"]
    assert len(errors) == 1, entries
    error = errors[0]
    assert error["message"] == "Error on request"
    assert error["error_type"] == "RuntimeError"
    assert error["stack"][-1]["function"] == "crashing_app"
    assert error["stack"][-1]["file"] == "tests/shared/test_logs.py"
    text = json.dumps(entries)
    assert "MARKER-88" not in text and "Traceback" not in text and "raise RuntimeError" not in text
    assert plain.getvalue() == ""  # nothing bypasses the formatter
