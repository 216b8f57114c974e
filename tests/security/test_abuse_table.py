"""Every abuse case of the public surface as one row of a table, run against the embedded stack.

Each row names an entry point, the hostile request and the documented outcome: a 4xx status,
``LOGGED_SKIP`` (a 200 Google must not retry, a log line, and no work published),
``PATCHED_ONCE`` (processing finishes and writes the join details exactly once) or
``NO_JOIN_BUTTON`` (processing finishes; the meeting is listed without a join link). Whatever the
row, nothing answers 5xx, every request has a timeout and finishes quickly, no response body
carries another user's data, a secret or a traceback, forged input publishes no
``calendar-changes`` work, and both users stay active.

Every row starts on fresh state: a row whose outcome changes state gets a stack of its own;
a refused row must leave no trace at all (``_state``: store, simulated domain, Google calls,
messages, configuration, clock), which lets the refused rows share one stack without any of
them seeing what an earlier one did.

``docs/security.md`` lists the same case ids for humans; ``test_docs_list_every_case`` keeps the
two in step.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.bus.base import Topics
from shared.clock import to_rfc3339

pytestmark = pytest.mark.integration

ANN, BEN, ROOM = "ann@example.com", "ben@example.com", "room-1@example.com"
ANN_TITLE, BEN_TITLE = "Layoff plan ZQ-4411", "Merger talks QX-7731"  # secret markers
LOGGED_SKIP, PATCHED_ONCE = "logged skip", "patched once"
NO_JOIN_BUTTON = "no join button"
PHISH = "https://meet.attacker-phish.example/corp/ABCDEF12"
TIMEOUT = 10  # seconds, for every request
DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"

UNKNOWN_CHANNEL_LOG = "push for an unknown channel acknowledged"
WRONG_TOKEN_LOG = "security: push with a wrong channel token refused"
UNKNOWN_CREDENTIALS_LOG = "security: meetings_api call with unknown credentials refused"
ID_TOKEN_LOG = "security: ID token refused"

TWO_MB = b"x" * (2 * 1024 * 1024)
DEEP_LISTS = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
ONE_MB_DESCRIPTION = "Agenda follows. " + "y" * 1_000_000 + " Bring @webex notes."


def _start_delimiters(count: int) -> str:
    """``count`` copies of our join block's opening line (50 bytes each): the issue #19 input
    that held the lazy ``BEGIN.*?END`` regex for 69.5 s at 16,000 (800 KB)."""
    from shared.keyword.joinblock import BEGIN

    return BEGIN * count


def _chunked_3mb() -> Iterator[bytes]:
    """No Content-Length: the body limit must hold while reading, not only from the header."""
    for _ in range(48):
        yield b"x" * 65_536


@dataclass(frozen=True)
class Case:
    """One abuse case. ``{name}`` placeholders in ``path`` and str header values are filled
    from the running stack (tokens, channel ids); bytes go out exactly as written."""

    id: str
    entry: str  # intake_push | meetings_api | provision_users | router | process_changes
    method: str  # an HTTP method, or EVENT: a calendar client creates ``event`` as Ann
    path: str = ""
    expect: int | str = 400
    headers: Mapping[str, str | bytes] = field(default_factory=dict)
    body: bytes | Callable[[], Iterable[bytes]] | None = None
    json: Any = None
    log: str = ""  # a message the service must log for this case
    event: Mapping[str, str] | None = None  # created (by Ann, keyword in Location) first
    asks_google: bool = False  # refused by Google itself: one call counted, nothing else


def _push(**changes: str | bytes | None) -> dict[str, str | bytes]:
    """Google's push headers for Ann's real channel, with ``changes`` (None drops a header)."""
    headers: dict[str, str | bytes | None] = {
        "X-Goog-Channel-ID": "{ann_channel}", "X-Goog-Channel-Token": "{ann_channel_token}",
        "X-Goog-Resource-ID": "{ann_resource}", "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "{next_number}"}
    for name, value in changes.items():
        headers[f"X-Goog-{name.replace('_', '-')}"] = value
    return {name: value for name, value in headers.items() if value is not None}


def _bearer(token: str | bytes) -> dict[str, str | bytes]:
    if isinstance(token, bytes):
        return {"Authorization": b"Bearer " + token}
    return {"Authorization": f"Bearer {{{token}}}"}


ANN_MEETINGS = f"/users/{ANN}/meetings"
# A page session claiming to be an admin's, signed with a key the service does not have.
FORGED_PAGE_SESSION = ("v1.eyJrIjoiYWRtaW4iLCJwIjoiIiwidSI6ImFubkBleGFtcGxlLmNvbSIsIngiOjQxMDI0"
                       "NDQ4MDAsInMiOiJpZCJ9.c2lnbmVkLXdpdGgtdGhlLXdyb25nLWtleS0xMjM0NTY3ODk")
BEN_MEETINGS = f"/users/{BEN}/meetings"
FREEBUSY = {"users": [BEN], "from": "2026-12-01T10:00:00Z", "to": "2026-12-01T11:00:00Z"}
FIELDS = {"title": "x", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
XML = {"Content-Type": "application/xml"}
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
MULTIPART_BODY = (b'--b\r\nContent-Disposition: form-data; name="emails"\r\n\r\n'
                  b"ben@example.com\r\n--b--\r\n")
SURROGATE_EMAILS = b'{"emails": ["\\ud800@example.com"]}'

CASES: list[Case] = [
    # -- forged pushes to intake_push (Google cannot authenticate; channel id + token can) --
    Case("intake-unknown-channel", "intake_push", "POST", expect=LOGGED_SKIP,
         headers=_push(Channel_ID="forged-channel-1", Channel_Token="anything"),
         log=UNKNOWN_CHANNEL_LOG),
    Case("intake-unknown-channel-non-utf8-id", "intake_push", "POST", expect=LOGGED_SKIP,
         headers=_push(Channel_ID=b"\xff\xfe\xc3(forged", Resource_ID=None),
         log=UNKNOWN_CHANNEL_LOG),
    Case("intake-wrong-channel-token", "intake_push", "POST", expect=403,
         headers=_push(Channel_Token="not-the-token"), log=WRONG_TOKEN_LOG),
    Case("intake-missing-channel-token", "intake_push", "POST", expect=403,
         headers=_push(Channel_Token=None), log=WRONG_TOKEN_LOG),
    Case("intake-cross-user-channel-token", "intake_push", "POST", expect=403,
         headers=_push(Channel_Token="{ben_channel_token}"), log=WRONG_TOKEN_LOG),
    Case("intake-non-utf8-channel-token", "intake_push", "POST", expect=403,
         headers=_push(Channel_Token=b"\xff\xfe\x80"), log=WRONG_TOKEN_LOG),
    Case("intake-sync-state-wrong-token", "intake_push", "POST", expect=403,
         headers=_push(Resource_State="sync", Channel_Token="guess"), log=WRONG_TOKEN_LOG),
    Case("intake-replayed-number-forged", "intake_push", "POST", expect=403,
         headers=_push(Channel_Token="guess", Message_Number="{last_number}"),
         log=WRONG_TOKEN_LOG),
    Case("intake-replayed-number-genuine", "intake_push", "POST", expect=PATCHED_ONCE,
         headers=_push(Message_Number="{last_number}"),
         event={"summary": "Replay target", "location": "@webex"}),
    Case("intake-no-goog-headers", "intake_push", "POST", expect=400),
    Case("intake-missing-channel-id", "intake_push", "POST", headers=_push(Channel_ID=None)),
    Case("intake-overlong-channel-id", "intake_push", "POST",
         headers=_push(Channel_ID="c" * 257)),
    Case("intake-missing-resource-state", "intake_push", "POST",
         headers=_push(Resource_State=None)),
    Case("intake-unknown-resource-state", "intake_push", "POST",
         headers=_push(Resource_State="deleted")),
    Case("intake-missing-message-number", "intake_push", "POST",
         headers=_push(Message_Number=None)),
    Case("intake-negative-message-number", "intake_push", "POST",
         headers=_push(Message_Number="-1")),
    Case("intake-overlong-message-number", "intake_push", "POST",
         headers=_push(Message_Number="9" * 21)),
    # latin-1 b"\xb2" is "²": str.isdigit() says yes, int() says no (was a 500)
    Case("intake-non-ascii-digit-message-number", "intake_push", "POST",
         headers=_push(Message_Number=b"\xb2")),
    Case("intake-headers-sent-as-json-body", "intake_push", "POST",
         headers={"Content-Type": "application/json"},
         json={"X-Goog-Channel-ID": "{ann_channel}", "X-Goog-Resource-State": "exists"}),
    Case("intake-oversized-body", "intake_push", "POST", body=TWO_MB),
    Case("intake-get", "intake_push", "GET", expect=405),
    Case("intake-put", "intake_push", "PUT", expect=405, headers=_push()),
    Case("intake-delete", "intake_push", "DELETE", expect=405),
    Case("intake-head", "intake_push", "HEAD", expect=405),
    # -- meetings_api: unauthenticated and cross-user --------------------------------------
    Case("meetings-no-credentials", "meetings_api", "GET", ANN_MEETINGS, 401),
    Case("meetings-unknown-token", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers={"Authorization": "Bearer not-a-known-token"}, log=UNKNOWN_CREDENTIALS_LOG),
    Case("meetings-basic-auth", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers={"Authorization": "Basic YW5uOnBhc3N3b3Jk"}),
    Case("meetings-non-utf8-authorization", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers=_bearer(b"\xff\xfe\x80")),
    Case("meetings-forged-id-token", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers=_bearer("forged_id_token"), log=ID_TOKEN_LOG),
    Case("meetings-id-token-other-audience", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers=_bearer("other_audience_id_token"), log=ID_TOKEN_LOG),
    Case("meetings-id-token-outside-domain", "meetings_api", "GET", ANN_MEETINGS, 401,
         headers=_bearer("outsider_id_token"), log=ID_TOKEN_LOG),
    Case("freebusy-id-token-outside-domain", "meetings_api", "POST", "/freebusy", 401,
         headers=_bearer("outsider_id_token"), json=FREEBUSY, log=ID_TOKEN_LOG),
    Case("freebusy-inactive-caller", "meetings_api", "POST", "/freebusy", 403,
         headers=_bearer("inactive_token"), json=FREEBUSY),
    Case("meetings-cross-user-list", "meetings_api", "GET", BEN_MEETINGS, 403,
         headers=_bearer("ann_token")),
    Case("meetings-cross-user-get", "meetings_api", "GET", BEN_MEETINGS + "/{ben_event}", 403,
         headers=_bearer("ann_token")),
    Case("meetings-cross-user-schedule", "meetings_api", "POST", BEN_MEETINGS, 403,
         headers=_bearer("ann_token"), json={"text": "Lunch tomorrow @webex"}),
    Case("meetings-cross-user-rsvp", "meetings_api", "POST",
         BEN_MEETINGS + "/{ben_event}:rsvp", 403, headers=_bearer("ann_token"),
         json={"response": "declined"}),
    Case("meetings-cross-user-cancel", "meetings_api", "DELETE", BEN_MEETINGS + "/{ben_event}",
         403, headers=_bearer("ann_token")),
    Case("meetings-cross-user-presence", "meetings_api", "GET", f"/users/{BEN}/presence", 403,
         headers=_bearer("ann_token")),
    Case("meetings-cross-user-page-query-token", "meetings_api", "GET",
         f"/users/{BEN}/page?access_token={{ann_token}}", 403),
    Case("meetings-device-reads-a-user", "meetings_api", "GET", ANN_MEETINGS, 403,
         headers=_bearer("device_token")),
    Case("meetings-device-schedules-for-a-user", "meetings_api", "POST", ANN_MEETINGS, 403,
         headers=_bearer("device_token"), json={"text": "Lunch"}),
    Case("meetings-page-forged-cookie", "meetings_api", "GET", f"/users/{ANN}/page", 401,
         headers={"Cookie": f"hc_page={FORGED_PAGE_SESSION}"}),
    Case("meetings-booking-forged-cookie", "meetings_api", "POST", f"/users/{ROOM}/bookings",
         401, headers={"Cookie": f"hc_page={FORGED_PAGE_SESSION}", "X-Hybridcal-Page": "1"},
         json={"minutes": 15}),
    Case("meetings-path-traversal-email", "meetings_api", "GET", f"/users/..%2F{BEN}/meetings",
         400, headers=_bearer("ann_token")),
    # -- meetings_api: bodies ---------------------------------------------------------------
    Case("meetings-oversized-body", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=TWO_MB),
    Case("meetings-oversized-chunked-body", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=_chunked_3mb),
    Case("meetings-empty-body", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=b""),
    Case("meetings-malformed-json", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=b"{not json"),
    Case("meetings-truncated-json", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=b'{"text": "Lunch tomorrow'),
    Case("meetings-json-not-an-object", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), json=[1, 2]),
    Case("meetings-json-wrong-types", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), json={"title": ["x"], "start": 1, "end": None}),
    Case("meetings-overlong-text", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), json={"text": "x" * 5000 + " @webex"}),
    Case("freebusy-huge-integer", "meetings_api", "POST", "/freebusy", 400,
         headers=_bearer("ann_token"),
         body=json.dumps(FREEBUSY).encode()[:-1] + b', "duration_minutes": 1' + b"0" * 5000
         + b"}"),
    Case("meetings-year-one-range", "meetings_api", "GET",
         ANN_MEETINGS + "?from=0001-01-01T00:00:00%2B00:00&to=0001-01-02T00:00:00%2B00:00", 400,
         headers=_bearer("ann_token")),
    Case("freebusy-from-without-to", "meetings_api", "POST", "/freebusy", 400,
         headers=_bearer("ann_token"), json={"users": [BEN], "from": FREEBUSY["from"]}),
    Case("meetings-start-without-end", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), json={"title": "x", "start": FIELDS["start"]}),
    Case("meetings-quick-add-impossible-time", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), json={"text": "standup for 99999999999 hours"},
         asks_google=True),
    Case("meetings-non-utf8-body", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=b'{"text": "\xff\xfe lunch"}'),
    Case("meetings-lone-surrogate-text", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=b'{"text": "\\ud800 tomorrow 3pm @webex"}'),
    Case("meetings-lone-surrogate-title", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"),
         body=json.dumps({**FIELDS, "title": "\ud800"}).encode()),  # dumps escapes it
    Case("freebusy-lone-surrogate-user", "meetings_api", "POST", "/freebusy", 400,
         headers=_bearer("ann_token"),
         body=json.dumps({**FREEBUSY, "users": ["\udfff@example.com"]}).encode()),
    Case("meetings-deep-json-lists", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=DEEP_LISTS),
    Case("meetings-deep-json-objects", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers=_bearer("ann_token"), body=DEEP_OBJECTS),
    Case("freebusy-deep-json", "meetings_api", "POST", "/freebusy", 400,
         headers=_bearer("ann_token"), body=DEEP_LISTS),
    Case("meetings-form-content-type", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers={**_bearer("ann_token"), **FORM}, body=b"text=Lunch+tomorrow+%40webex"),
    Case("meetings-multipart-content-type", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers={**_bearer("ann_token"), **MULTIPART}, body=MULTIPART_BODY),
    Case("meetings-xml-content-type", "meetings_api", "POST", ANN_MEETINGS, 400,
         headers={**_bearer("ann_token"), **XML}, body=b"<meeting>Lunch</meeting>"),
    # -- meetings_api: methods and paths ----------------------------------------------------
    Case("meetings-put", "meetings_api", "PUT", ANN_MEETINGS, 405,
         headers=_bearer("ann_token"), json={"text": "Lunch"}),
    Case("meetings-patch", "meetings_api", "PATCH", ANN_MEETINGS, 405,
         headers=_bearer("ann_token"), json={"text": "Lunch"}),
    Case("freebusy-get", "meetings_api", "GET", "/freebusy", 405, headers=_bearer("ann_token")),
    Case("meetings-unknown-path", "meetings_api", "GET", "/nowhere", 404,
         headers=_bearer("ann_token")),
    Case("meetings-unknown-user-route", "meetings_api", "GET", f"/users/{ANN}/elsewhere", 404,
         headers=_bearer("ann_token")),
    Case("meetings-overlong-event-id", "meetings_api", "GET", ANN_MEETINGS + "/" + "a" * 5000,
         404, headers=_bearer("ann_token")),
    # -- provision_users: unauthenticated and cross-user ------------------------------------
    Case("provision-no-credentials", "provision_users", "GET", "/users", 401),
    Case("provision-wrong-token", "provision_users", "GET", "/users", 403,
         headers={"Authorization": "Bearer wrong"}),
    Case("provision-non-utf8-authorization", "provision_users", "GET", "/users", 403,
         headers=_bearer(b"\xff\xfe\x80")),
    Case("provision-user-api-token", "provision_users", "GET", "/users", 403,
         headers=_bearer("ann_token")),
    Case("provision-meetings-admin-token", "provision_users", "GET", "/users", 403,
         headers=_bearer("api_admin_token")),
    Case("provision-cross-user-status", "provision_users", "GET", f"/users/{BEN}", 403,
         headers=_bearer("ann_token")),
    Case("provision-cross-user-deactivate", "provision_users", "POST", "/users:deactivate",
         403, headers=_bearer("ann_token"), json={"emails": [BEN]}),
    Case("provision-unknown-path-unauthenticated", "provision_users", "GET", "/admin", 401),
    # -- provision_users: bodies, methods, paths --------------------------------------------
    Case("provision-oversized-body", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=TWO_MB),
    Case("provision-empty-body", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=b""),
    Case("provision-malformed-json", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=b"{not json"),
    Case("provision-emails-not-a-list", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), json={"emails": BEN}),
    Case("provision-too-many-revalidations", "provision_users", "POST", "/users:revalidate",
         400, headers=_bearer("admin_token"),
         json={"emails": [f"u{n}@example.com" for n in range(51)]}),
    Case("provision-non-utf8-body", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=b'{"emails": ["\xff@example.com"]}'),
    Case("provision-lone-surrogate-activate", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=SURROGATE_EMAILS),
    Case("provision-lone-surrogate-deactivate", "provision_users", "POST",
         "/users:deactivate", 400, headers=_bearer("admin_token"), body=SURROGATE_EMAILS),
    Case("provision-lone-surrogate-revalidate", "provision_users", "POST",
         "/users:revalidate", 400, headers=_bearer("admin_token"), body=SURROGATE_EMAILS),
    Case("provision-lone-surrogate-workspace", "provision_users", "POST",
         "/workspaces:activate", 400, headers=_bearer("admin_token"), body=SURROGATE_EMAILS),
    Case("provision-deep-json-lists", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=DEEP_LISTS),
    Case("provision-deep-json-objects", "provision_users", "POST", "/users:activate", 400,
         headers=_bearer("admin_token"), body=DEEP_OBJECTS),
    Case("provision-form-content-type", "provision_users", "POST", "/users:activate", 400,
         headers={**_bearer("admin_token"), **FORM}, body=b"emails=ben%40example.com"),
    Case("provision-multipart-content-type", "provision_users", "POST", "/users:activate", 400,
         headers={**_bearer("admin_token"), **MULTIPART}, body=MULTIPART_BODY),
    Case("provision-delete", "provision_users", "DELETE", "/users", 405,
         headers=_bearer("admin_token")),
    Case("provision-put", "provision_users", "PUT", "/users:activate", 405,
         headers=_bearer("admin_token"), json={"emails": [BEN]}),
    Case("provision-get-an-action", "provision_users", "GET", "/users:deactivate", 405,
         headers=_bearer("admin_token")),
    Case("provision-unknown-path", "provision_users", "GET", "/admin", 404,
         headers=_bearer("admin_token")),
    # -- the functions router: only the HTTP functions are reachable ------------------------
    Case("router-unknown-function", "router", "GET", "/nothing_here", 404),
    Case("router-pubsub-function", "router", "POST", "/process_changes", 404,
         json={"message": {"data": ""}}),
    Case("router-root", "router", "GET", "/", 404),
    # -- hostile event content, processed by process_changes --------------------------------
    Case("event-self-hosted-link-outside-org", "process_changes", "EVENT",
         expect=NO_JOIN_BUTTON,
         event={"summary": "Phish", "location": PHISH,
                "description": f"Join Skype Meeting<{PHISH}>"}),
    Case("event-16000-join-block-starts-with-keyword", "process_changes", "EVENT",
         expect=PATCHED_ONCE,
         event={"summary": "Delimiters", "location": "@webex",
                "description": _start_delimiters(16_000)}),
    Case("event-16000-join-block-starts-no-keyword", "process_changes", "EVENT",
         expect=NO_JOIN_BUTTON,
         event={"summary": "Delimiters", "location": "Room 4",
                "description": _start_delimiters(16_000)}),
    Case("event-1mb-description-with-keyword", "process_changes", "EVENT",
         expect=PATCHED_ONCE,
         event={"summary": "Huge agenda", "location": "@webex",
                "description": ONE_MB_DESCRIPTION}),
]


# -- the running stack -------------------------------------------------------------------------
# Rows whose documented outcome changes state (work accepted, an orphan stop asked for) run on
# a stack of their own. Every other row is refused, and refused input must leave no trace: the
# row asserts that the whole state (``_state``) is exactly as it found it. Those rows share one
# stack, and each starts by checking that the state is still the one the stack was built with,
# so no row ever sees what an earlier row did; a row that did leave a trace fails, and the next
# row gets a rebuilt stack.
EFFECTS = (LOGGED_SKIP, PATCHED_ONCE, NO_JOIN_BUTTON)


@dataclass
class Env:
    stack: Any
    ctx: dict[str, str]
    secrets: list[str]
    baseline: dict[str, Any] = field(default_factory=dict)  # _state() once built


@contextmanager
def _running(data_dir: Path) -> Iterator[Env]:
    from local import LocalStack

    with LocalStack(data_dir=data_dir, scheduler=False, webex_fake=False) as stack:
        for email in (ANN, BEN):
            stack.add_user(email)
            assert stack.activate(email) == "active"
        stack.sim.add_room(ROOM)
        _insert(stack, ANN, {"summary": ANN_TITLE, "location": "@webex"})
        ben_event = _insert(stack, BEN, {"summary": BEN_TITLE, "location": "@webex"})
        stack.settle()
        audience = stack.services.config.api_audience
        good = stack.sim.id_tokens.issue(ANN, audience)
        ctx = {
            "ann_token": stack.api_token(f"user:{ANN}"),
            "device_token": stack.api_token(f"device:{ROOM}"),
            "api_admin_token": stack.api_token("admin"),
            "admin_token": stack.admin_token,
            "forged_id_token": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
            "other_audience_id_token": stack.sim.id_tokens.issue(ANN, "https://elsewhere"),
            "outsider_id_token": stack.sim.id_tokens.issue("mallory@attacker.example",
                                                           audience),
            "inactive_token": stack.api_token("user:carl@example.com"),  # never activated
            "ann_channel": _channel(stack, ANN).id,
            "ann_resource": _channel(stack, ANN).resource_id,
            "ann_channel_token": _channel(stack, ANN).token or "",
            "ben_channel_token": _channel(stack, BEN).token or "",
            "ben_event": ben_event,
        }
        secrets = [ANN_TITLE, BEN_TITLE, ANN, BEN, "Traceback", 'File "', "webex.com",
                   ctx["ann_channel_token"], ctx["ben_channel_token"], ctx["admin_token"]]
        yield Env(stack, ctx, secrets, _state(stack))


def _state(stack: Any) -> dict[str, Any]:
    """Everything a row could change or observe: every stored document (all tables, read from
    the SQLite file itself), the simulated domain (users, calendars and their events and ACLs,
    channels with their message numbers, delegation, API switches, faults, pending pushes),
    every Google call counted, every message published or pending, the running
    configuration (API tokens included) and the clock. Equal states cannot be told apart."""
    from local.workspace_sim.simulator import SCOPES

    store = Path(stack.services.store.path)
    with closing(sqlite3.connect(f"{store.as_uri()}?mode=ro", uri=True)) as db:
        tables = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        documents = db.execute(
            "SELECT collection, key, data FROM documents ORDER BY collection, key").fetchall()
    sim = stack.sim
    with sim.lock:
        calendars = {cid: (json.dumps(cal.events, sort_keys=True, default=str),
                           json.dumps(cal.acl, sort_keys=True), cal.writable, cal.generation)
                     for cid, cal in sim.calendar_state.calendars.items()}
        channels = {c.id: (c.calendar, c.stopped, c.message_number, c.expiration, c.token)
                    for c in sim.calendar_state.channels.values()}
        domain = json.dumps(sim.users, sort_keys=True, default=str)
    files = {path.name: path.read_bytes() for path in store.parent.iterdir()
             if not path.name.startswith(store.name)}  # the keyset; not SQLite's own files
    return {
        "tables": tables, "documents": documents, "files": files, "calendars": calendars,
        "channels": channels, "domain": domain, "api_enabled": dict(sim.api_enabled),
        "delegation": sim.delegation.allows(sim.service_account_info["client_id"], SCOPES),
        "faults": repr(sim.faults.settings), "pending_pushes": sim.pending_pushes(),
        "google_calls": dict(stack.api_calls()),
        "published": {topic: len(stack.bus.published(topic)) for topic in stack.bus.topics()},
        "pending_messages": stack.bus.pending(), "config": stack.services.config,
        "now": stack.now(),
    }


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [name for name in before.keys() | after.keys() if before.get(name) != after.get(name)]


class _SharedStack:
    """The stack the refused rows share; rebuilt when a row left a trace in it."""

    def __init__(self, make_dir: Callable[[], Path]) -> None:
        self._make_dir = make_dir
        self._exit = ExitStack()
        self._env: Env | None = None
        self.builds = 0

    def clean(self) -> Env:
        if self._env is None or _differences(self._env.baseline, _state(self._env.stack)):
            self.close()
            self._env = self._exit.enter_context(_running(self._make_dir()))
            self.builds += 1
        return self._env

    def close(self) -> None:
        self._exit.close()
        self._exit, self._env = ExitStack(), None


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory) -> Iterator[_SharedStack]:
    shared = _SharedStack(lambda: tmp_path_factory.mktemp("abuse") / "data")
    yield shared
    shared.close()


@pytest.fixture
def env(case: Case, shared_stack: _SharedStack, tmp_path: Path) -> Iterator[Env]:
    """A fresh stack for a row that changes state; the clean shared one for a refused row."""
    if case.expect in EFFECTS or case.event:
        shared_stack.close()  # one stack at a time: the entry points serve the last one started
        with _running(tmp_path / "data") as fresh:
            yield fresh
    else:
        yield shared_stack.clean()


def _insert(stack: Any, email: str, fields: Mapping[str, str]) -> str:
    start = stack.now() + timedelta(hours=3)
    return stack.calendar(email).events().insert(calendarId="primary", body={
        **fields, "start": {"dateTime": to_rfc3339(start)},
        "end": {"dateTime": to_rfc3339(start + timedelta(minutes=30))}}).execute()["id"]


def _channel(stack: Any, email: str) -> Any:
    """The simulator's live channel for a user's calendar (it knows the token Google sends)."""
    live = [c for c in stack.sim.calendar_state.channels.values()
            if c.calendar == email and not c.stopped and c.expiration > stack.now()]
    assert len(live) == 1, live
    return live[0]


def _fill(value: str | bytes, ctx: Mapping[str, str]) -> str | bytes:
    return value.format_map(ctx) if isinstance(value, str) else value


def _send(env: Env, case: Case, ctx: Mapping[str, str]) -> requests.Response:
    base = env.stack.base_url if case.entry == "router" else env.stack.url(case.entry)
    body = case.body() if callable(case.body) else case.body
    payload = case.json
    if isinstance(payload, dict):
        payload = {k: _fill(v, ctx) if isinstance(v, str) else v for k, v in payload.items()}
    return requests.request(
        case.method, base + str(_fill(case.path, ctx)),
        headers={name: _fill(value, ctx) for name, value in case.headers.items()},
        data=body, json=payload, timeout=TIMEOUT, allow_redirects=False)


# -- the table, run --------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_abuse_case(env: Env, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    stack = env.stack
    assert not _differences(env.baseline, _state(stack)), "the row must start on fresh state"
    caplog.set_level(logging.INFO)
    patches_before = stack.api_calls()["calendar.events.patch"]
    event_id = _insert(stack, ANN, case.event) if case.event else None
    if event_id:
        stack.settle()  # the simulator's own push, processed as usual
    channel = _channel(stack, ANN)
    ctx = {**env.ctx, "last_number": str(channel.message_number),
           "next_number": str(channel.message_number + 1000)}
    changes_before = len(stack.published(Topics.CALENDAR_CHANGES))
    caplog.clear()

    # A hang fails the row without a wall-clock assertion: every request has a timeout
    # (requests raises) and settle() raises NeverSettles when work keeps arriving.
    answer = _send(env, case, ctx) if case.method != "EVENT" else None
    if case.expect in (PATCHED_ONCE, NO_JOIN_BUTTON):
        stack.settle()
    text = answer.text if answer is not None else ""
    if answer is not None:
        assert answer.status_code < 500, text
    for secret in env.secrets:
        assert secret not in text, f"{case.id} leaked {secret[:20]!r}"
    messages = [record.getMessage() for record in caplog.records]
    if case.log:
        assert case.log in messages, messages
    published = len(stack.published(Topics.CALENDAR_CHANGES)) - changes_before

    if case.expect == LOGGED_SKIP:
        assert answer is not None and answer.status_code == 200, text
        assert published == 0  # acknowledged so Google stops, but no work for anyone
    elif case.expect == PATCHED_ONCE:
        assert answer is None or answer.status_code == 200, text
        if answer is not None:  # a genuine replay is accepted, and absorbed downstream
            assert published >= 1
        event = stack.calendar(ANN).events().get(calendarId="primary",
                                                  eventId=event_id).execute()
        assert "webex.com" in event["location"] and "@webex" not in event["location"]
        assert stack.api_calls()["calendar.events.patch"] - patches_before == 1
        if case.event and "description" in case.event:
            assert event["description"].startswith(case.event["description"])
    elif case.expect == NO_JOIN_BUTTON:
        listed = [m for m in stack.meetings(ANN) if m["id"] == event_id]
        assert len(listed) == 1 and listed[0]["join_url"] is None, listed
        assert stack.api_calls()["calendar.events.patch"] == patches_before  # nothing written
    else:
        assert answer is not None and answer.status_code == case.expect, text
        assert published == 0  # refused input causes no processing
        if case.entry == "meetings_api" and "/page" in case.path:  # a browser's: HTML
            assert answer.headers["Content-Type"].startswith("text/html") and "<h1>" in text
        elif case.entry in ("meetings_api", "provision_users", "router") \
                and case.method != "HEAD":
            assert answer.json()["error"]["message"]
        # refused input leaves no trace: nothing stored, called, published or reconfigured
        # (but the one call Google itself refused, where only Google could judge the input)
        assert _differences(env.baseline, _state(stack)) == (
            ["google_calls"] if case.asks_google else [])
    for email in (ANN, BEN):
        assert stack.user_status(email)["status"] == "active", f"{case.id} changed {email}"


def test_case_ids_are_unique_and_every_outcome_is_a_4xx_or_named() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert case.expect in EFFECTS or 400 <= int(case.expect) < 500
        assert case.expect != LOGGED_SKIP or case.log, f"{case.id}: a skip must be logged"


def test_docs_list_every_case() -> None:
    """docs/security.md is the human-readable copy of this table: same ids, same outcomes."""
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0] and not set(cells[0]) <= set("-: "):
            rows[cells[0]] = cells[2]
    documented = {case_id for case_id in rows if case_id != "Case"}
    assert documented == {case.id for case in CASES}
    for case in CASES:
        assert rows[case.id] == str(case.expect), f"{case.id}: docs say {rows[case.id]!r}"


def test_state_sees_every_kind_of_trace(tmp_path: Path) -> None:
    """``_state`` is what makes sharing a stack between refused rows safe: each kind of trace
    a row could leave shows up in it."""
    from shared.google.factory import CALENDAR_SCOPE

    with _running(tmp_path / "data") as env:
        stack = env.stack
        traces: list[tuple[str, Callable[[], object]]] = [
            ("documents", lambda: stack.services.store.put("ratelimits", "x", {"n": 1})),
            ("google_calls", lambda: stack.calendar(ANN).settings().get(
                setting="locale").execute()),
            ("published", lambda: stack.bus.publish("nobody-listens", {})),
            ("config", lambda: stack.api_token(f"user:{BEN}")),
            ("calendars", lambda: stack.sim.user_call(BEN, "calendar.events.delete", {
                "cal": "primary", "eid": env.ctx["ben_event"]})),
            ("channels", lambda: stack.sim.calendar_state.channels[env.ctx["ann_channel"]]
             .__setattr__("stopped", True)),
            ("domain", lambda: stack.sim.set_suspended(BEN, True)),
            ("delegation", lambda: stack.sim.delegation.revoke(
                stack.sim.service_account_info["client_id"], CALENDAR_SCOPE)),
            ("api_enabled", lambda: stack.sim.set_api_enabled("gmail", False)),
            ("now", lambda: stack.clock.advance(1)),
        ]
        for kind, leave_trace in traces:
            before = _state(stack)
            leave_trace()
            assert kind in _differences(before, _state(stack)), kind
