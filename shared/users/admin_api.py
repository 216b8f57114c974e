"""The admin JSON API behind ``provision_users``.

Routes (paths relative to the function URL):

- ``POST /users:activate`` ``{"emails": [...]}``: activate and validate (≤ 50 synchronously;
  larger batches are queued on ``provisioning-jobs`` in chunks of 100 and show up as
  ``pending`` in the listing until processed)
- ``POST /users:deactivate`` ``{"emails": [...]}``: stop and crypto-shred
- ``POST /users:revalidate`` ``{"emails": [...]}``: validate users in error again now
- ``POST /workspaces:activate`` / ``POST /workspaces:deactivate`` ``{"emails": [room, ...]}``:
  share a room calendar with the room reader and watch it (or undo that)
- ``GET /users/{email}``: one user's (or workspace's) status and reason
- ``GET /users?status=error&page_token=...``: users by status, 100 a page

Auth: deployed, the function is IAM-private (Cloud Run has verified the caller's ID token before
this runs); embedded, callers present ``Authorization: Bearer <HYBRIDCAL_ADMIN_TOKEN>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.bus.base import Topics
from shared.errors import BadRequest, Forbidden, NotFound, Unauthorized
from shared.http.messages import ApiRequest, ApiResponse
from shared.http.routing import Router
from shared.store.base import Filter
from shared.users import provisioning, renewal
from shared.users.status import COLLECTION as USERS
from shared.users.status import user_status

if TYPE_CHECKING:
    from shared.runtime import Services

SYNC_LIMIT, CHUNK, PAGE = 50, 100, 100
STATUSES = ("pending", "validating", "active", "error", "deactivated")

_NO_ROUTE = "no such route; see the provisioning section of the README"
ROUTES = Router([
    ("POST", "/users:activate", "activate"),
    ("POST", "/users:deactivate", "deactivate"),
    ("POST", "/users:revalidate", "revalidate"),
    ("POST", "/workspaces:activate", "activate_workspaces"),
    ("POST", "/workspaces:deactivate", "deactivate_workspaces"),
    ("GET", "/users", "list"),
    ("GET", "/users/<email>", "status"),
], not_found=_NO_ROUTE)


def handle(services: Services, request: ApiRequest) -> ApiResponse:
    _authorise(services, request)
    endpoint, values = ROUTES.match(request.method, request.path)
    if endpoint in ("activate_workspaces", "deactivate_workspaces"):
        from shared.users import workspaces

        act = workspaces.activate_workspace if endpoint == "activate_workspaces" \
            else workspaces.deactivate_workspace
        return _each_now(services, request, act, "workspaces")
    if endpoint == "revalidate":
        return _each_now(services, request, renewal.revalidate, "users")
    if endpoint in ("activate", "deactivate"):
        return _bulk(services, request, activate=endpoint == "activate")
    if endpoint == "list":
        return _list(services, request)
    if endpoint == "status":
        status = user_status(services, values["email"].lower())
        if status["status"] == "unknown":
            raise NotFound("no such user has been activated")
        return ApiResponse.json(200, status)
    raise NotFound(_NO_ROUTE)  # a route in ROUTES without its branch here


def _authorise(services: Services, request: ApiRequest) -> None:
    if services.config.mode == "cloud":
        return  # IAM invoker already verified the caller
    expected = services.config.admin_token
    given = request.bearer()
    if not given:
        raise Unauthorized("missing bearer token")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("this token may not administer users")


def _emails(request: ApiRequest) -> list[str]:
    body = request.json()
    emails = body.get("emails") if isinstance(body, dict) else None
    if not isinstance(emails, list) or not emails or not all(
            isinstance(e, str) and "@" in e and len(e) <= 320 for e in emails):
        raise BadRequest('body must be {"emails": ["user@example.com", ...]}')
    return sorted({e.strip().lower() for e in emails})


def _each_now(services: Services, request: ApiRequest, act: Callable[[Services, str], str],
              noun: str) -> ApiResponse:
    """Run ``act`` for every address in the body, synchronously (so at most ``SYNC_LIMIT``)."""
    emails = _emails(request)
    if len(emails) > SYNC_LIMIT:
        raise BadRequest(f"at most {SYNC_LIMIT} {noun} per call")
    return ApiResponse.json(200, {"results": {e: act(services, e) for e in emails}})


def _bulk(services: Services, request: ApiRequest, *, activate: bool) -> ApiResponse:
    emails = _emails(request)
    if not activate:
        return ApiResponse.json(200, {"results": {
            e: provisioning.deactivate(services, e) for e in emails}})
    if len(emails) <= SYNC_LIMIT:
        return ApiResponse.json(200, {"results": {
            e: provisioning.activate_now(services, e) for e in emails}})
    for email in emails:
        user_id = services.pseudonym(email)
        if (services.store.get(USERS, user_id) or {}).get("status") != "active":
            services.store.merge(USERS, user_id, {
                "email": email, "user_id": user_id, "status": "pending"})
    for start in range(0, len(emails), CHUNK):
        services.bus.publish(Topics.PROVISIONING, {"emails": emails[start:start + CHUNK]})
    return ApiResponse.json(202, {"queued": len(emails),
                                  "batches": (len(emails) + CHUNK - 1) // CHUNK})


def _list(services: Services, request: ApiRequest) -> ApiResponse:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    filters = [Filter("status", "==", status)] if status else []
    rows = services.store.query(USERS, filters, limit=PAGE,
                                start_after=request.query.get("page_token") or None)
    users = [{"email": d.get("email"), "status": d.get("status"), "reason": d.get("reason"),
              "reason_code": d.get("reason_code")} for _, d in rows]
    body: dict[str, Any] = {"users": users}
    if len(rows) == PAGE:
        body["next_page_token"] = rows[-1][0]
    return ApiResponse.json(200, body)
