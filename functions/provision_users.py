"""``provision_users`` (HTTP, private): admins activate, deactivate and inspect users."""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework

from functions._api import serve
from functions._deps import deps
from functions._http import HttpResult

if TYPE_CHECKING:
    from flask import Request


@functions_framework.http
def provision_users(request: Request) -> HttpResult:
    from shared.users import admin_api as provisioning_api

    return serve(request, deps(), provisioning_api.handle)
