"""Keyless delegation: IAM Credentials refusing to sign is final and says which grant is missing.

Deployed, a function signs the delegation JWT as the delegated service account through IAM
Credentials (google-auth's ``iam.Signer``). Without ``roles/iam.serviceAccountTokenCreator`` on
that account, IAM answers 403 and google-auth raises a bare ``TransportError``, which used to be
retried as a network failure (five backoffs per call, then "quota"). Here google-auth's own
signer, credentials and transport run against :mod:`tests.shared.google.iam_fake` on 127.0.0.1.
"""

from __future__ import annotations

import pytest
from google.auth.transport.requests import Request

from shared.errors import PermanentError
from shared.google import clients
from shared.google.errors import DelegationRefused, GoogleTransientError, SigningRefused
from shared.google.factory import CALENDAR_SCOPE, WorkspaceFactory
from tests.shared.google.iam_fake import (
    ECHOED,
    FUNCTION_SA,
    service_disabled,
)

DELEGATED = "hybridcal-delegated@hybridcal-test.iam.gserviceaccount.com"
ANN = "ann@example.com"


def _keyless_factory() -> WorkspaceFactory:
    # Nothing listens on the token and API endpoints: a refusal must stop before them.
    return WorkspaceFactory(api_endpoint="http://127.0.0.1:9/", token_uri="http://127.0.0.1:9/token",
                            signer_email=DELEGATED, sleep=lambda seconds: None)


def test_refused_signature_is_a_final_signing_refusal_naming_the_missing_grant(iam):
    credentials = clients.delegated_credentials(
        ANN, [CALENDAR_SCOPE], signer_email=DELEGATED, token_uri="http://127.0.0.1:9/token")

    with pytest.raises(SigningRefused) as refused:
        credentials.refresh(Request())

    exc = refused.value
    assert isinstance(exc, DelegationRefused) and isinstance(exc, PermanentError)
    assert not isinstance(exc, GoogleTransientError)
    assert (exc.status, exc.reason, exc.error) == (403, "IAM_PERMISSION_DENIED",
                                                   "service_cannot_sign")
    assert f"grant {FUNCTION_SA} roles/iam.serviceAccountTokenCreator on {DELEGATED}" in str(exc)
    assert exc.description == str(exc)
    assert ECHOED not in str(exc)  # Google's free text stays out of records and logs
    assert iam.requests == [f"/v1/projects/-/serviceAccounts/{DELEGATED}:signBlob"]


def test_a_calendar_call_stops_at_the_first_refusal_instead_of_backing_off(iam):
    calendar = _keyless_factory().calendar(ANN)

    with pytest.raises(SigningRefused):
        calendar.setting("locale")

    assert len(iam.requests) == 1  # not call_google's five attempts


def test_disabled_credentials_api_says_to_enable_it(iam):
    iam.answer = service_disabled()

    with pytest.raises(SigningRefused) as refused:
        _keyless_factory().calendar(ANN).setting("locale")

    assert refused.value.reason == "SERVICE_DISABLED"
    assert "iamcredentials.googleapis.com" in str(refused.value)


def test_quota_on_the_signer_stays_transient_and_is_retried(iam):
    iam.answer = (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                                  "message": "Quota exceeded"}})

    with pytest.raises(GoogleTransientError):
        _keyless_factory().calendar(ANN).setting("locale")

    assert len(iam.requests) == 5  # call_google's attempts, each one signature request
