"""``meetings_api`` (HTTP): meetings list, RSVP, scheduling and presence for app and devices."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._api import serve
from functions._deps import deps


@functions_framework.http
def meetings_api(request: Any) -> tuple:
    from shared.meetings import api

    return serve(request, deps(), api.handle)
