"""Routing on method and path together, over werkzeug's ``Map``.

A route is ``(method, path, endpoint)`` with werkzeug's rule syntax for the path.
:meth:`Router.match` answers the endpoint and the path's values, or raises the project's
errors: :class:`~shared.errors.NotFound` when no route has the path and
:class:`~shared.errors.MethodNotAllowed` (405, with the methods for its ``Allow`` header)
when routes have the path but not the method.

Paths as the APIs use them:

- ``<name>`` is one whole path segment, never a ``/``: an address such as ``ann@example.com``
  (``%40`` arrives decoded as ``@``) is one value, and ``a%2Fb`` (decoded to ``a/b``) is two
  segments, so it reaches no route.
- Colon-style custom verbs are literal text: ``/users:activate`` is its own segment, and
  ``/meetings/<event_id:id>:rsvp`` matches only when the value's converter cannot take the
  ``:`` itself (give such values a converter without ``:``, see ``converters``).
- Only the methods named answer: werkzeug would add ``HEAD`` to every ``GET`` rule, this
  does not. A trailing ``/`` is ignored; a leading ``//`` is no route and ``//`` inside a path
  is not merged; nothing ever redirects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed as _WerkzeugMethodNotAllowed
from werkzeug.routing import BaseConverter, Map, Rule

from shared.errors import MethodNotAllowed, NotFound

METHOD_NOT_ALLOWED = "this path does not accept this method; the Allow header lists those it does"


class Router:
    """Match ``(method, path)`` to ``(endpoint, values)``.

    ``converters`` maps a converter name to the regular expression of one segment's value, for
    rules such as ``<event_id:id>``; ``not_found`` is the message of the 404.
    """

    def __init__(self, routes: Iterable[tuple[str, str, str]], *, not_found: str,
                 converters: Mapping[str, str] | None = None) -> None:
        rules = []
        for method, path, endpoint in routes:
            rule = Rule(path, methods=[method], endpoint=endpoint)
            rule.methods = {method.upper()}  # drop the HEAD werkzeug adds to GET
            rules.append(rule)
        types = {name: type(f"_{name}", (BaseConverter,), {"regex": regex})
                 for name, regex in (converters or {}).items()}
        self._map = Map(rules, converters=types, strict_slashes=False, merge_slashes=False,
                        redirect_defaults=False)
        self._adapter = self._map.bind("localhost")
        self._not_found = not_found

    # Any: a path value is whatever its rule's converter answers (the APIs' rules all give str)
    def match(self, method: str, path: str) -> tuple[str, Mapping[str, Any]]:
        if not path.startswith("/") or path.startswith("//"):  # werkzeug would strip those
            raise NotFound(self._not_found)
        try:
            endpoint, values = self._adapter.match(path.rstrip("/") or "/", method.upper())
        except _WerkzeugMethodNotAllowed as exc:
            raise MethodNotAllowed(METHOD_NOT_ALLOWED, exc.valid_methods or ()) from None
        except HTTPException:  # werkzeug's NotFound, or a redirect this map never asks for
            raise NotFound(self._not_found) from None
        return str(endpoint), values
