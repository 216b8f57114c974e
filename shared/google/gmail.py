"""One user's Gmail settings: the vacation responder, the only Gmail data hybridcal reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.google.errors import call_google


class Gmail:
    """``users.settings`` of the delegated user (scope ``gmail.settings.basic``)."""

    def __init__(self, resource: Any, *, sleep: Callable[[float], None] | None = None) -> None:
        self._resource = resource  # Any: googleapiclient ships no type information
        self._sleep = sleep

    def vacation(self) -> dict[str, Any]:
        """``users.settings.getVacation``; its subject and body are user text, so callers
        parse what they need and drop the rest at once."""
        request = self._resource.users().settings().getVacation(userId="me")
        return dict(call_google(request.execute, sleep=self._sleep))
