"""The simulated domain: users, rooms, the Admin console's delegation table, the HTTP server
and push delivery.

Pushes are queued when a calendar changes and POSTed by :meth:`WorkspaceSimulator.deliver_pushes`
(or a background thread for the interactive demo), never from the request thread, so tests
decide when Google "calls back". Deliveries answered 500, 502, 503 or 504 (or not answered)
are retried with exponential backoff in clock time, as Google does; any other non-success
answer loses the notification (``push_failures``); expired or stopped channels send nothing.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from local.workspace_sim.calendar import Calendar, CalendarState, Channel, resource_uri
from local.workspace_sim.faults import Faults, Quotas
from local.workspace_sim.oauth import (
    Delegation,
    IdTokenIssuer,
    TokenEndpoint,
    generate_service_account,
)
from local.workspace_sim.server import App
from shared.clock import Clock, FakeClock

# Calendar settings reference ("Settings", v3): "if a setting has its default value, it might
# not be returned"; locale defaults to "en" and timezone to "Etc/GMT".
DEFAULT_SETTINGS = {"locale": "en", "timezone": "Etc/GMT"}
SCOPES = ("https://www.googleapis.com/auth/calendar",
          "https://www.googleapis.com/auth/gmail.settings.basic")


# Calendar guide "Push notifications", responding to notifications: success is 200, 201, 202,
# 204 or 102; 500, 502, 503 and 504 are retried with exponential backoff; every other status
# is a message failure (not retried).
PUSH_ACKNOWLEDGED = frozenset({200, 201, 202, 204, 102})
PUSH_RETRIED = frozenset({500, 502, 503, 504})
DELIVERED_KEPT = 1000


@dataclass
class _Push:
    channel: Channel
    state: str
    number: int
    due: datetime
    attempt: int = 0


class WorkspaceSimulator:
    """Calendar v3 + Gmail settings + OAuth (domain-wide delegation) on 127.0.0.1."""

    def __init__(self, clock: Clock | None = None, *, project_quota_per_minute: int = 10_000,
                 user_quota_per_minute: int = 600, domain: str = "example.com",
                 service_account_email: str | None = None) -> None:
        """``service_account_email``: the delegated service account's address (CloudStack
        names it as infra/ does; its JWTs are then signed through its IAM Credentials fake)."""
        self.clock = clock or FakeClock()
        self.domain = domain
        self._service_account_email = service_account_email
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.delegation = Delegation()
        self.faults = Faults()
        self.quotas = Quotas(project_quota_per_minute, user_quota_per_minute)
        self.api_enabled = {"calendar": True, "gmail": True}
        self.meet_allowed = True
        self.meet_pending = False  # Meet creations answer "pending" until complete_pending_meet
        # Requests and answers checked against Google's discovery documents (discovery.py);
        # answers that stray from them are the simulator's bugs, collected here.
        self.check_discovery = True
        self.discovery_violations: list[tuple[str, list[str]]] = []
        self.calendar_state = CalendarState(self)
        self._counts: Counter = Counter()
        self._count_lock = threading.Lock()
        self._pushes: list[_Push] = []
        self._server: Any = None
        self._push_thread: threading.Thread | None = None
        self._push_stop = threading.Event()
        self.url = ""
        self.token_uri = ""
        self.service_account_info: dict[str, Any] = {}
        self.oauth: TokenEndpoint | None = None
        # The latest accepted notifications' headers, for a person debugging: a long run (a
        # 100,000-event activation patches ~2,000 events) must not keep every push it sent.
        self.delivered: deque[dict[str, str]] = deque(maxlen=DELIVERED_KEPT)
        self.push_failures: list[dict[str, str]] = []  # answered with a non-retried status
        self._local = threading.local()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> WorkspaceSimulator:
        from werkzeug.serving import make_server

        from local.quiet import QuietHandler

        self._server = make_server("127.0.0.1", 0, App(self), threaded=True,
                                   request_handler=QuietHandler)
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.token_uri = self.url + "token"
        info = generate_service_account(self.token_uri, self.domain,
                                        client_email=self._service_account_email)
        self._public_info = info
        self.service_account_info = {k: v for k, v in info.items() if not k.startswith("_")}
        self.oauth = TokenEndpoint(info, self.delegation)
        self.id_tokens = IdTokenIssuer()
        self.certs_url = self.url + "oauth2/v1/certs"
        self.delegation.authorize(info["client_id"], SCOPES)
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="workspace-sim").start()
        return self

    def stop(self) -> None:
        self.stop_push_thread()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WorkspaceSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the domain -------------------------------------------------------------------------
    def add_user(self, email: str, *, locale: str | None = None, timezone: str | None = None,
                 suspended: bool = False, admin: bool = False) -> None:
        """``locale`` / ``timezone`` left out: the user never changed them, so they have
        Google's defaults ("en", "Etc/GMT") and ``settings.get`` does not return them."""
        email = email.lower()
        defaults = {name for name, given in (("locale", locale), ("timezone", timezone))
                    if given is None}
        with self.lock:
            self.users[email] = {"locale": locale or DEFAULT_SETTINGS["locale"],
                                 "timezone": timezone or DEFAULT_SETTINGS["timezone"],
                                 "defaults": defaults, "suspended": suspended,
                                 "room": False, "admin": admin,
                                 "vacation": {"enableAutoReply": False}}
            self.calendar_state.calendars.setdefault(email, Calendar(email, email))

    def add_room(self, email: str, name: str = "", timezone: str = "UTC") -> None:
        email = email.lower()
        with self.lock:
            self.users[email] = {"locale": "en", "timezone": timezone, "suspended": False,
                                 "room": True, "name": name or email,
                                 "vacation": {"enableAutoReply": False}}
            self.calendar_state.calendars.setdefault(email, Calendar(email, email, room=True))

    def set_suspended(self, email: str, suspended: bool) -> None:
        with self.lock:
            self.users[email.lower()]["suspended"] = suspended

    def remove_user(self, email: str) -> None:
        """Deleted from the domain: its token requests answer ``invalid_request`` (Invalid
        impersonation "sub" field), as Google does for an address that named a user."""
        with self.lock:
            self.users.pop(email.lower(), None)
            self.calendar_state.calendars.pop(email.lower(), None)
            if self.oauth is not None:
                self.oauth.gone.add(email.lower())

    def rename_user(self, old: str, new: str) -> None:
        """The admin changes a user's primary address: the calendar moves with the user and
        the old address stops naming anyone (token requests for it are refused)."""
        old, new = old.lower(), new.lower()
        with self.lock:
            self.users[new] = self.users.pop(old)
            cal = self.calendar_state.calendars.pop(old)
            cal.id = cal.owner = new
            self.calendar_state.calendars[new] = cal
            if self.oauth is not None:
                self.oauth.gone.add(old)

    def set_api_enabled(self, api: str, enabled: bool) -> None:
        self.api_enabled[api] = enabled

    def set_calendar_writable(self, email: str, writable: bool) -> None:
        with self.lock:
            self.calendar_state.calendars[email.lower()].writable = writable

    def add_gmail_event(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        """An event Gmail created from a message (a reservation, an invitation in an email):
        ``eventType: "fromGmail"``, organized by the recipient since May 2024, and only its
        reminders, colour, visibility, status and extended properties may change (Google
        Workspace Updates, 30 May 2024). Returns the event as Calendar shows it."""
        with self.lock:
            event = self.calendar_state.insert(email.lower(), "primary",
                                               {**body, "eventType": "fromGmail"})
        return event

    def complete_pending_meet(self) -> int:
        """Google finishes the Meet conferences it answered ``pending``: each such event
        gets its conference (a change, pushed to its watchers). Returns how many."""
        with self.lock:
            return int(self.calendar_state.complete_pending_meet())

    def refused_patches(self) -> set[tuple[str, str]]:
        """``(calendar, event id)`` of events whose patches the ``refused_patch`` fault made
        Google refuse: a chaos oracle must not expect join details on them."""
        with self.lock:
            return set(self.calendar_state.refused)

    def invalidate_sync_tokens(self, email: str) -> None:
        """As when Google expires tokens: the next incremental list answers 410."""
        import secrets

        with self.lock:
            self.calendar_state.calendars[email.lower()].generation = secrets.token_hex(4)

    def user_call(self, caller: str, operation: str, params: dict[str, str] | None = None,
                  body: dict[str, Any] | None = None, query: dict[str, Any] | None = None) -> Any:
        """Apply ``operation`` (e.g. ``calendar.events.insert`` with ``params={"cal":
        "primary"}``) as ``caller``'s own calendar or mail client would, in process: the same
        state changes and pushes as over HTTP, but no faults, quota or counters, because load
        generators (the chaos run's thousand users) act for people, not for the service."""
        from local.workspace_sim.server import App

        query = {"_privateExtendedProperty": [], **(query or {})}
        with self.lock:
            return App(self).dispatch(operation, caller.lower(), dict(params or {}), query,
                                      dict(body or {}), None)[1]

    # -- observation ------------------------------------------------------------------------
    def count(self, key: str) -> None:
        with self._count_lock:
            self._counts[key] += 1

    def api_calls(self) -> Counter:
        with self._count_lock:
            return Counter(self._counts)

    def reset_counters(self) -> None:
        with self._count_lock:
            self._counts.clear()

    def channels(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": c.id, "resourceId": c.resource_id, "address": c.address,
                     "expiration": c.expiration, "calendar": c.calendar, "stopped": c.stopped}
                    for c in self.calendar_state.channels.values()]

    def events_of(self, email: str) -> list[dict[str, Any]]:
        with self.lock:
            cal = self.calendar_state.calendars[email.lower()]
            return [cal.events[k] | {} for k in cal.events]

    # -- push notifications -----------------------------------------------------------------
    def queue_push(self, channel: Channel, state: str) -> None:
        """Called under the lock whenever a watched calendar changes."""
        if channel.stopped or channel.expiration <= self.clock.now():
            return
        fate = self.faults.draw_push()
        channel.message_number += 1
        if fate == "drop":
            return
        push = _Push(channel, state, channel.message_number, self.clock.now())
        self._pushes.append(push)
        if fate == "duplicate":
            self._pushes.append(_Push(channel, state, channel.message_number, self.clock.now()))

    def pending_pushes(self) -> int:
        with self.lock:
            return len(self._pushes)

    def next_push_due(self) -> datetime | None:
        with self.lock:
            return min((p.due for p in self._pushes), default=None)

    def deliver_pushes(self, *, channel_id: str | None = None) -> int:
        """POST every due notification (or, with ``channel_id``, every pending one of that
        channel, due or not); returns how many were accepted (2xx)."""
        import requests

        now = self.clock.now()

        def take(push: _Push) -> bool:
            return push.channel.id == channel_id if channel_id else push.due <= now

        with self.lock:
            due = [p for p in self._pushes if take(p)]
            self._pushes = [p for p in self._pushes if not take(p)]
        delivered = 0
        for push in due:
            channel = push.channel
            if channel.stopped or channel.expiration <= now:
                continue
            headers = {
                "X-Goog-Channel-ID": channel.id,
                "X-Goog-Channel-Expiration": format_datetime(channel.expiration.astimezone(UTC),
                                                             usegmt=True),
                "X-Goog-Resource-ID": channel.resource_id,
                "X-Goog-Resource-URI": resource_uri(channel.calendar),
                "X-Goog-Resource-State": push.state,
                "X-Goog-Message-Number": str(push.number),
            }
            if channel.token:
                headers["X-Goog-Channel-Token"] = channel.token
            try:
                response = self._push_session().post(channel.address, headers=headers,
                                                     data=b"", timeout=10)
                status: int | None = response.status_code
            except requests.RequestException:
                status = None  # no answer: the sender cannot tell, and tries again
            if status in PUSH_ACKNOWLEDGED:
                delivered += 1
                self.delivered.append(headers)
                continue
            if status is not None and status not in PUSH_RETRIED:
                # "Every other return status code is considered to be a message failure":
                # a 4xx, a 429 or a 501 loses the notification for good.
                self.push_failures.append({**headers, "status": str(status)})
                continue
            if push.attempt < 6:  # Google retries with exponential backoff, then gives up
                push.attempt += 1
                push.due = now + timedelta(seconds=2 ** push.attempt)
                with self.lock:
                    self._pushes.append(push)
        return delivered

    def _push_session(self) -> Any:
        """One keep-alive session per delivering thread, as Google's push senders reuse
        connections (and a socket per push would exhaust file descriptors at 10,000 users)."""
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def start_push_thread(self, interval: float = 0.2) -> None:
        self._push_stop.clear()

        def loop() -> None:
            while not self._push_stop.wait(interval):
                self.deliver_pushes()

        self._push_thread = threading.Thread(target=loop, daemon=True, name="sim-push")
        self._push_thread.start()

    def stop_push_thread(self) -> None:
        self._push_stop.set()
        if self._push_thread:
            self._push_thread.join(timeout=5)
            self._push_thread = None
