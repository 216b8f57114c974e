"""Framework-free HTTP request/response types for the JSON APIs, and the one bearer-token parser.

The domain APIs (provisioning, meetings) take an :class:`ApiRequest` and return an
:class:`ApiResponse`, so they are tested without Flask and served by the thin handlers in
``functions/`` and by the embedded runner alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.errors import BadRequest

MAX_JSON_DEPTH = 32


class HeaderLookup(Protocol):
    """Request headers as they are read: ``get(name)`` answers the value or None.

    Flask's and werkzeug's ``Headers`` are case-insensitive (they are no ``Mapping``); a plain
    dict, such as :attr:`ApiRequest.headers`, answers only the names as it holds them.
    """

    def get(self, name: str, /) -> str | None: ...


def bearer_token(headers: HeaderLookup) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None.

    The scheme is case-insensitive; spaces (ASCII, as HTTP has them) around the value and
    after the scheme are ignored. Another scheme (``Basic ...``), no header or an empty token
    is None. ``headers`` has lower-case names (as :class:`ApiRequest`) or is case-insensitive
    (Flask's and werkzeug's).
    """
    value = (headers.get("authorization") or "").strip(" \t")
    scheme, _, token = value.partition(" ")
    token = token.strip(" \t")
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def bearer(self) -> str | None:
        return bearer_token(self.headers)

    def json(self) -> Any:  # Any: whatever JSON value the body holds; callers check it
        """The body as JSON, with clear 400s for bad encoding, syntax or hostile nesting."""
        if not self.body:
            raise BadRequest("request body must be a JSON object")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("request body is not valid UTF-8") from None
        if _nesting_depth(text) > MAX_JSON_DEPTH:
            raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        try:
            value = json.loads(text)
        except ValueError:
            raise BadRequest("request body is not valid JSON") from None
        try:  # "\ud800" is valid JSON but no UTF-8 text: refuse it here, not as a 500 later
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("request body has an unpaired surrogate escape") from None
        return value


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: str
    headers: dict[str, str]

    @classmethod
    def json(cls, status: int, payload: Any) -> ApiResponse:  # Any: any JSON-serialisable value
        return cls(status, json.dumps(payload),
                   {"Content-Type": "application/json", "Cache-Control": "no-store"})

    @classmethod
    def html(cls, status: int, text: str) -> ApiResponse:
        return cls(status, text, {"Content-Type": "text/html; charset=utf-8",
                                  "Cache-Control": "no-store"})


def _nesting_depth(text: str) -> int:
    """Maximum bracket depth, ignoring strings: linear, and refuses deep JSON before parsing."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
