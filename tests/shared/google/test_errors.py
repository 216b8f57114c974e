"""Google's failure answers, translated at the boundary: which are retried, which are final,
and what the resulting errors say.

The one place canned HTTP answers are used: googleapiclient's ``HttpMockSequence`` under a
real Calendar ``Resource`` (static discovery), driven through the
:class:`~shared.google.calendar.Calendar` gateway, so the path under test is the product's.
"""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.http import HttpMockSequence

from local.workspace_sim.oauth import generate_service_account
from shared.errors import PermanentError, TransientError
from shared.google.calendar import Calendar
from shared.google.errors import (
    AccessDenied,
    ApiDisabled,
    DailyLimitExceeded,
    DelegationRefused,
    EtagMismatch,
    GoneOrMissing,
    GooglePermanentError,
    GoogleTransientError,
    SyncTokenExpired,
)

ATTEMPTS = 5  # call_google's default
USER_TEXT = "Board meeting: layoffs ZX81"  # what an answer may echo besides Google's message
EVENT = {"kind": "calendar#event", "id": "ev1", "etag": '"2"', "summary": "ok"}


class Answers(HttpMockSequence):
    """``HttpMockSequence`` whose entries may also be exceptions, raised as a failing network
    would raise them."""

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: Any = None, **kwargs: Any) -> Any:
        if isinstance(self._iterable[0], BaseException):
            self.request_sequence.append((uri, method, body, headers))
            raise self._iterable.pop(0)
        return super().request(uri, method, body, headers, **kwargs)


def error(status: int, reason: str, message: str = "", **extra: Any) -> tuple[dict, str]:
    """Google's JSON error answer, with ``USER_TEXT`` where Google may echo request data."""
    return ({"status": str(status)}, json.dumps({"error": {
        "code": status, "message": message,
        "errors": [{"domain": "global", "reason": reason, "message": message,
                    "location": USER_TEXT, **extra}],
        "details": [{"summary": USER_TEXT}]}}))


def ok(body: dict[str, Any] | None = None) -> tuple[dict, str]:
    return {"status": "200"}, json.dumps(body or EVENT)


class Harness:
    """The Calendar gateway over a real Resource whose transport answers ``answers`` in turn
    (after authorizing with ``credentials``, when given: the token endpoint is answered from
    the same sequence). Backoff waits are recorded, never slept."""

    def __init__(self, *answers: Any, credentials: Any = None) -> None:
        self.http = Answers(list(answers))
        self.waits: list[float] = []
        transport = (self.http if credentials is None
                     else google_auth_httplib2.AuthorizedHttp(credentials, http=self.http))
        resource = build("calendar", "v3", http=transport, static_discovery=True)
        self.calendar = Calendar(resource, sleep=self.waits.append)

    @property
    def requests(self) -> int:
        return len(self.http.request_sequence)


@pytest.mark.parametrize("answer", [
    error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
    error(500, "backendError", "Backend Error"),
    error(503, "backendError", "Service unavailable"),
    error(403, "rateLimitExceeded", "Rate Limit Exceeded"),
    error(403, "userRateLimitExceeded", "User Rate Limit Exceeded"),
], ids=["429", "500", "503", "403-rateLimitExceeded", "403-userRateLimitExceeded"])
def test_quota_and_server_errors_are_retried_then_transient(answer):
    status = int(answer[0]["status"])
    reason = json.loads(answer[1])["error"]["errors"][0]["reason"]
    google = Harness(*[answer] * ATTEMPTS)

    with pytest.raises(GoogleTransientError) as raised:
        google.calendar.get("ev1")

    assert (raised.value.status, raised.value.reason) == (status, reason)
    assert isinstance(raised.value, TransientError)
    assert google.requests == ATTEMPTS
    assert len(google.waits) == ATTEMPTS - 1  # backed off (through the injected sleep)
    assert all(wait > 0 for wait in google.waits)


@pytest.mark.parametrize("answer", [
    error(403, "quotaExceeded", "Calendar usage limits exceeded."),
    error(403, "dailyLimitExceeded", "Daily Limit Exceeded"),
], ids=["403-quotaExceeded", "403-dailyLimitExceeded"])
def test_a_used_up_daily_allowance_is_transient_and_not_retried_in_process(answer):
    """Google's daily limits last hours (Calendar "Handle API errors", Gmail "Resolve errors"):
    retrying within seconds only spends quota, and the user did nothing wrong (not final)."""
    google = Harness(answer, ok())

    with pytest.raises(DailyLimitExceeded) as raised:
        google.calendar.get("ev1")

    assert isinstance(raised.value, GoogleTransientError)
    assert google.requests == 1 and google.waits == []


def test_a_transient_answer_then_success_returns_the_result():
    google = Harness(error(503, "backendError"), error(403, "userRateLimitExceeded"), ok())

    assert google.calendar.get("ev1") == EVENT
    assert google.requests == 3 and len(google.waits) == 2


@pytest.mark.parametrize(("answer", "expected"), [
    (error(403, "forbiddenForNonOrganizer", "Shared properties can only be changed by the "
           "organizer of the event."), AccessDenied),
    (error(403, "forbidden", "Forbidden"), AccessDenied),
    (error(403, "accessNotConfigured", "Google Calendar API has not been used in project 1 "
           "before or it is disabled."), ApiDisabled),
    (error(404, "notFound", "Not Found"), GoneOrMissing),
    (error(410, "deleted", "Resource has been deleted"), GoneOrMissing),
    (error(412, "conditionNotMet", "Precondition Failed"), EtagMismatch),
    (error(400, "badRequest", "Bad Request"), GooglePermanentError),
    (error(400, "invalid", "Invalid attendee email."), GooglePermanentError),
], ids=["403-forbiddenForNonOrganizer", "403-forbidden", "403-accessNotConfigured", "404",
        "410-deleted", "412", "400-badRequest", "400-invalid"])
def test_final_answers_are_not_retried(answer, expected):
    google = Harness(answer, ok())  # a retry would be answered 200: it must not happen

    with pytest.raises(GooglePermanentError) as raised:
        google.calendar.patch("ev1", {"summary": "x"}, etag='"1"')

    assert type(raised.value) is expected
    assert isinstance(raised.value, PermanentError)
    assert raised.value.status == int(answer[0]["status"])
    assert google.requests == 1 and google.waits == []


def test_if_match_is_sent_and_412_is_an_etag_mismatch():
    google = Harness(error(412, "conditionNotMet", "Precondition Failed"))

    with pytest.raises(EtagMismatch):
        google.calendar.patch("ev1", {"summary": "x"}, etag='"7"')

    (_, method, _, headers), = google.http.request_sequence
    assert method == "PATCH" and headers["If-Match"] == '"7"'


def test_410_full_sync_required_on_a_sync_token_expires_it():
    google = Harness(error(410, "fullSyncRequired", "Sync token is no longer valid, a full "
                           "sync is required."))

    with pytest.raises(SyncTokenExpired) as raised:
        google.calendar.list_page(sync_token="CPDAlvWDx70CEPDAlvWDx70CGAU=", page_token=None)

    assert raised.value.reason == "fullSyncRequired" and google.requests == 1
    assert "syncToken=" in google.http.request_sequence[0][0]


@pytest.mark.parametrize("failure", [
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError("timed out"),
    ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
    httplib2.ServerNotFoundError("Unable to find the server at www.googleapis.com"),
    http.client.IncompleteRead(b"", 688),
    http.client.BadStatusLine("HTTP/1.1 200 OK{\"kind\""),
], ids=lambda exc: type(exc).__name__)
def test_network_failures_are_transient_and_retried(failure):
    google = Harness(*[failure] * ATTEMPTS)

    with pytest.raises(GoogleTransientError) as raised:
        google.calendar.get("ev1")

    assert google.requests == ATTEMPTS and len(google.waits) == ATTEMPTS - 1
    assert str(raised.value) == f"network failure talking to Google: {type(failure).__name__}"


def test_a_network_failure_then_success_returns_the_result():
    google = Harness(ConnectionResetError(104, "reset"), ok())

    assert google.calendar.get("ev1") == EVENT
    assert google.requests == 2 and len(google.waits) == 1


# -- the token endpoint: domain-wide delegation refused -----------------------------------------
def _delegated_credentials() -> Any:
    info = generate_service_account("https://oauth2.googleapis.com/token", "example.com")
    return service_account.Credentials.from_service_account_info(
        {k: v for k, v in info.items() if not k.startswith("_")},
        scopes=["https://www.googleapis.com/auth/calendar"], subject="ann@example.com")


@pytest.mark.parametrize(("error_code", "description"), [
    ("unauthorized_client", "Client is unauthorized to retrieve access tokens using this "
                            "method, or client not authorized for any of the scopes requested."),
    ("invalid_grant", "Invalid email or User ID"),
    ("invalid_request", 'Invalid impersonation "sub" field.'),
])
def test_token_endpoint_refusal_is_delegation_refused_and_not_retried(error_code, description):
    refusal = ({"status": "400"}, json.dumps({"error": error_code,
                                               "error_description": description}))
    google = Harness(refusal, ok(), credentials=_delegated_credentials())

    with pytest.raises(DelegationRefused) as raised:
        google.calendar.get("ev1")

    assert (raised.value.error, raised.value.description) == (error_code, description)
    assert str(raised.value) == f"token refused: {error_code}"  # the description stays out
    assert google.requests == 1 and google.waits == []
    assert google.http.request_sequence[0][0] == "https://oauth2.googleapis.com/token"


def test_token_endpoint_failure_is_transient():
    """A front end's 502 page (google-auth itself retries 500/503/504/408/429, sleeping in
    real time, before it gives up; the outcome is the same RefreshError)."""
    page = ({"status": "502", "content-type": "text/html"},
            f"<html><title>502 Bad Gateway</title><p>{USER_TEXT}</p></html>")
    google = Harness(*[page] * ATTEMPTS, credentials=_delegated_credentials())

    with pytest.raises(GoogleTransientError) as raised:
        google.calendar.get("ev1")

    assert google.requests == ATTEMPTS and len(google.waits) == ATTEMPTS - 1
    assert str(raised.value) == "token endpoint failed: unknown"  # no text from the page


# -- what the errors say ---------------------------------------------------------------------
@pytest.mark.parametrize(("status", "reason", "message"), [
    (429, "rateLimitExceeded", "Rate Limit Exceeded"),
    (500, "backendError", "Backend Error"),
    (403, "forbiddenForNonOrganizer", "Shared properties can only be changed by the organizer"),
    (403, "accessNotConfigured", "Google Calendar API has not been used in project 1"),
    (404, "notFound", "Not Found"),
    (410, "fullSyncRequired", "Sync token is no longer valid"),
    (412, "conditionNotMet", "Precondition Failed"),
    (400, "invalid", "Invalid value " + "x" * 400),
])
def test_error_text_is_status_reason_and_at_most_googles_message(status, reason, message):
    google = Harness(*[error(status, reason, message)] * ATTEMPTS)

    with pytest.raises((GoogleTransientError, GooglePermanentError)) as raised:
        google.calendar.list_page(sync_token="t", page_token=None)

    text = str(raised.value)
    assert text.startswith(f"Google API answered {status} {reason}")
    assert USER_TEXT not in text  # nothing else from the answer's body
    assert text in (f"Google API answered {status} {reason}",
                    f"Google API answered {status} {reason}: {message[:200]}")
    if status >= 500 or status in (404, 410, 412, 429) or reason == "accessNotConfigured":
        assert text == f"Google API answered {status} {reason}"  # not even the message
