"""A werkzeug request handler that does not print an access-log line per request."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        """Access logs would drown the structured logs (and could carry query strings)."""
