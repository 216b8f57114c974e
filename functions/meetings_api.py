"""``meetings_api`` (HTTP): meetings list, RSVP, scheduling and presence for app and devices."""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework

from functions._api import serve
from functions._deps import deps
from functions._http import HttpResult

if TYPE_CHECKING:
    from flask import Request


@functions_framework.http
def meetings_api(request: Request) -> HttpResult:
    from shared.meetings import api

    return serve(request, deps(), api.handle)
