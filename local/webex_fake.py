"""A small local fake of the Webex REST API: just what space meetings need.

``POST /v1/rooms`` creates a space, ``POST /v1/meetings`` with a ``roomId`` creates its meeting
(``webLink``, ``sipAddress``, ``meetingNumber`` as Webex answers). Both demand
``Authorization: Bearer <token>``; ``fail_next(n, status)`` makes the next calls fail so the
fallback path can be exercised; ``calls`` counts requests per route.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
from collections import Counter
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.quiet import QuietHandler


class WebexFake:
    """Threaded werkzeug server on 127.0.0.1; ``url`` ends with ``/v1/``."""

    def __init__(self, *, token: str | None = None, site: str = "example") -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.site = site
        self.calls: Counter[str] = Counter()
        self.rooms: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: Any = None
        self.url = ""

    def start(self) -> WebexFake:
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True,
                                   request_handler=QuietHandler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/v1/"
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="webex-fake").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        route = f"{request.method} {request.path}"
        with self._lock:
            self.calls[route] += 1
            failure = self._failures.pop(0) if self._failures else None
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json({"message": "The request requires a valid access token."}, 401)
        if failure is not None:
            return _json({"message": "injected failure"}, failure)
        body = request.get_json(silent=True) or {}
        if route == "POST /v1/rooms":
            return self._create_room(body)
        if route == "POST /v1/meetings":
            return self._create_meeting(body)
        return _json({"message": "not found"}, 404)

    def _create_room(self, body: dict[str, Any]) -> Response:
        if not body.get("title"):
            return _json({"message": "title is required"}, 400)
        with self._lock:
            room_id = f"room-{next(self._ids)}"
            self.rooms[room_id] = {"id": room_id, "title": body["title"], "type": "group"}
            return _json(self.rooms[room_id], 200)

    def _create_meeting(self, body: dict[str, Any]) -> Response:
        with self._lock:
            if body.get("roomId") not in self.rooms:
                return _json({"message": "roomId not found"}, 404)
            number = str(2_500_000_000 + next(self._ids))
            meeting = {
                "id": secrets.token_hex(16), "meetingNumber": number,
                "title": body.get("title"), "roomId": body["roomId"],
                "start": body.get("start"), "end": body.get("end"),
                "webLink": f"https://{self.site}.webex.com/{self.site}/j.php?MTID=m{secrets.token_hex(16)}",
                "sipAddress": f"{number}@{self.site}.webex.com",
            }
            self.meetings[meeting["id"]] = meeting
            return _json(meeting, 200)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")
