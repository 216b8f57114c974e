"""HTTP routing for the simulator: Calendar v3 (with and without the ``/calendar/v3`` prefix,
since ``client_options.api_endpoint`` replaces the service path), Gmail v1 settings, the token
endpoint; authentication, scopes, quotas, fault injection and per-method counters."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import parse_qs

from local.workspace_sim import discovery
from local.workspace_sim.errors import ApiError, daily_limit, rate_limited
from shared.errors import MethodNotAllowed, NotFound
from shared.http.routing import Router

CALENDAR_SCOPES = {"https://www.googleapis.com/auth/calendar",
                   "https://www.googleapis.com/auth/calendar.events"}
CALENDAR_READ_SCOPES = CALENDAR_SCOPES | {"https://www.googleapis.com/auth/calendar.readonly"}
GMAIL_SCOPES = {"https://www.googleapis.com/auth/gmail.settings.basic",
                "https://mail.google.com/"}

# Google's methods by path; werkzeug rule syntax, one segment per ``<value>``. Calendar paths
# are matched without their ``/calendar/v3`` prefix.
ROUTES = Router([
    ("GET", "/calendars/<cal>", "calendar.calendars.get"),
    ("GET", "/calendars/<cal>/events", "calendar.events.list"),
    ("POST", "/calendars/<cal>/events", "calendar.events.insert"),
    ("POST", "/calendars/<cal>/events/quickAdd", "calendar.events.quickAdd"),
    ("POST", "/calendars/<cal>/events/watch", "calendar.events.watch"),
    ("GET", "/calendars/<cal>/events/<eid>/instances", "calendar.events.instances"),
    ("GET", "/calendars/<cal>/events/<eid>", "calendar.events.get"),
    ("PATCH", "/calendars/<cal>/events/<eid>", "calendar.events.patch"),
    ("DELETE", "/calendars/<cal>/events/<eid>", "calendar.events.delete"),
    ("POST", "/channels/stop", "calendar.channels.stop"),
    ("GET", "/users/me/settings/<setting>", "calendar.settings.get"),
    ("POST", "/calendars/<cal>/acl", "calendar.acl.insert"),
    ("DELETE", "/calendars/<cal>/acl/<rule>", "calendar.acl.delete"),
    ("POST", "/freeBusy", "calendar.freebusy.query"),
    ("GET", "/gmail/v1/users/<uid>/settings/vacation", "gmail.users.settings.getVacation"),
    ("PUT", "/gmail/v1/users/<uid>/settings/vacation", "gmail.users.settings.updateVacation"),
    ("GET", "/oauth2/v1/certs", "oauth.certs"),
    ("POST", "/token", "oauth.token"),
], not_found="Not Found")


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


class App:
    """The WSGI application."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        status, body, headers = self.handle(environ)
        if status == -1:  # injected timeout: hold, then drop the connection without an answer
            time.sleep(self.sim.faults.timeout_seconds)
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            status, body = 504, {"error": {"code": 504, "message": "timeout"}}
        payload = b"" if body is None else json.dumps(body).encode()
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
                  403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                  409: "Conflict", 410: "Gone",
                  412: "Precondition Failed", 429: "Too Many Requests",
                  500: "Internal Server Error", 503: "Service Unavailable",
                  504: "Gateway Timeout"}.get(status, "Status")
        start_response(f"{status} {reason}", [("Content-Type", "application/json; charset=UTF-8"),
                                              ("Content-Length", str(len(payload))),
                                              *headers.items()])
        return [payload]

    def handle(self, environ: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if path.startswith("/calendar/v3/"):
            path = path[len("/calendar/v3"):]
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        query_all = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            key, values = ROUTES.match(method, path)
        except NotFound:
            return 404, ApiError(404, "notFound", "Not Found").body(), {}
        except MethodNotAllowed as exc:
            return 405, ApiError(405, "httpMethodNotAllowed", "Method Not Allowed").body(), {
                "Allow": ", ".join(exc.allowed)}
        if key == "oauth.certs":
            return 200, self.sim.id_tokens.certs, {}
        if key == "oauth.token":
            self.sim.count("oauth.token")
            form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            with self.sim.lock:
                status, body = self.sim.oauth.grant(form, self.sim.token_uri, self.sim.users)
            return status, body, {}
        self.sim.count(key)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, ApiError(400, "parseError", "Parse Error").body(), {}
        token = self.sim.oauth.lookup(environ.get("HTTP_AUTHORIZATION", ""))
        try:
            if token is None:
                raise ApiError(401, "authError", "Invalid Credentials")
            api = key.split(".")[0]
            if not self.sim.api_enabled.get(api, True):
                raise ApiError(403, "accessNotConfigured",
                               f"{api.title()} API has not been used in project 1 before or it "
                               "is disabled.", domain="usageLimits")
            needed = GMAIL_SCOPES if api == "gmail" else (
                CALENDAR_READ_SCOPES if method == "GET" else CALENDAR_SCOPES)
            if not token.scopes & needed:
                raise ApiError(403, "insufficientPermissions",
                               "Request had insufficient authentication scopes.")
            scripted = self.sim.faults.draw_scripted(key)
            if scripted == 403:
                raise rate_limited(user=True)
            if scripted == 429:
                raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
            if scripted:
                raise ApiError(scripted, "backendError", "Backend Error")
            if self.sim.faults.daily_limit_reached(api, self.sim.clock.now()):
                raise daily_limit(api)
            fault = self.sim.faults.draw_request()
            if fault == "timeout":
                return -1, None, {}
            if fault == "rate_limit":
                raise rate_limited(user=False)
            if fault == "rate_limit_429":
                raise ApiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
            if fault == "server_error":
                raise ApiError(503, "backendError", "Backend Error")
            over = self.sim.quotas.charge(token.subject, int(self.sim.clock.now().timestamp()
                                                             // 60))
            if over:
                raise rate_limited(user=over == "user")
            params = {k: _unquote(v) for k, v in values.items()}
            if self.sim.check_discovery:
                problems = discovery.check_request(key, params, query_all, body)
                if problems:  # Google refuses what its API does not describe
                    raise ApiError(400, "invalid", "Invalid JSON payload received. "
                                   + problems[0])
            query["_privateExtendedProperty"] = query_all.get("privateExtendedProperty", [])
            with self.sim.lock:
                status, result = self.dispatch(key, token.subject, params, query, body,
                                               environ.get("HTTP_IF_MATCH"),
                                               may_lock=self.sim.faults.draw_refused_patch)
            if self.sim.check_discovery:
                wrong = discovery.check_response(key, result)
                if wrong:
                    self.sim.discovery_violations.append((key, wrong))
            if key == "calendar.events.watch" and self.sim.faults.draw_early_sync():
                # The channel's ``sync`` message overtakes the watch answer.
                self.sim.deliver_pushes(channel_id=str(result["id"]))
            if fault == "timeout_applied":
                return -1, None, {}  # applied; the answer is lost on the way back
            return status, result, {}
        except ApiError as exc:
            return exc.code, exc.body(), {}

    def dispatch(self, key: str, caller: str, p: dict[str, str], q: dict[str, Any],
                 body: dict[str, Any], if_match: str | None,
                 may_lock: Any = None) -> tuple[int, Any]:
        """``may_lock``: the refused-patch draw, for the service's HTTP calls only (a user's
        own client, :meth:`WorkspaceSimulator.user_call`, is never refused by the fault)."""
        cal = self.sim.calendar_state
        version = int(q.get("conferenceDataVersion", 0) or 0)
        if key == "calendar.events.list":
            return 200, cal.list(caller, p["cal"], q)
        if key == "calendar.events.instances":
            return 200, cal.list(caller, p["cal"], q, instances_of=p["eid"])
        if key == "calendar.events.get":
            return 200, cal.get(caller, p["cal"], p["eid"])
        if key == "calendar.events.insert":
            if body.get("eventType") == "fromGmail":  # only Gmail creates these
                raise ApiError(400, "invalid", "Invalid event type: fromGmail.")
            return 200, cal.insert(caller, p["cal"], body, version)
        if key == "calendar.events.patch":
            return 200, cal.patch(caller, p["cal"], p["eid"], body, if_match, version, may_lock)
        if key == "calendar.events.delete":
            cal.delete(caller, p["cal"], p["eid"])
            return 204, None
        if key == "calendar.events.quickAdd":
            from local.workspace_sim.quickadd import parse_quick_add

            text = str(q.get("text", "")).strip()
            if not text:
                raise ApiError(400, "required", "Required parameter: text")
            tz = self.sim.users.get(caller, {}).get("timezone", "UTC")
            return 200, cal.insert(caller, p["cal"], parse_quick_add(text, cal.now(), tz))
        if key == "calendar.events.watch":
            return 200, cal.watch(caller, p["cal"], body)
        if key == "calendar.channels.stop":
            cal.stop(body)
            return 204, None
        if key == "calendar.settings.get":
            user = self.sim.users[caller]
            name = p["setting"]
            values = {"locale": user["locale"], "timezone": user["timezone"]}
            if name not in values or name in user.get("defaults", ()):
                # a setting still at its default "might not be returned" (Settings reference)
                raise ApiError(404, "notFound", "Not Found")
            return 200, {"kind": "calendar#setting", "id": name, "value": values[name],
                         "etag": f'"{abs(hash((name, values[name]))) % 10**12}"'}
        if key == "calendar.calendars.get":
            return 200, cal.calendar_resource(caller, p["cal"])
        if key == "calendar.acl.insert":
            return 200, cal.acl_insert(caller, p["cal"], body)
        if key == "calendar.acl.delete":
            cal.acl_delete(caller, p["cal"], p["rule"])
            return 204, None
        if key == "calendar.freebusy.query":
            return 200, cal.freebusy(body)
        uid = p["uid"].lower()
        if caller not in self.sim.users:  # deleted after its token was issued
            raise ApiError(400, "failedPrecondition", "Mail service not enabled")
        if uid not in ("me", caller):
            raise ApiError(403, "forbidden", "Delegation denied for " + caller)
        if key == "gmail.users.settings.getVacation":
            return 200, dict(self.sim.users[caller]["vacation"])
        allowed = ("enableAutoReply", "responseSubject", "responseBodyPlainText",
                   "responseBodyHtml", "restrictToContacts", "restrictToDomain", "startTime",
                   "endTime")
        vacation = {k: (str(v) if k in ("startTime", "endTime") else v)
                    for k, v in body.items() if k in allowed and v is not None}
        vacation.setdefault("enableAutoReply", False)
        self.sim.users[caller]["vacation"] = vacation
        return 200, dict(vacation)
