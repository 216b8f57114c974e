"""Building delegated Google API clients (product code; the simulator is reached the same way).

Two ways to sign the JWT-bearer grant: a key (only the Workspace simulator's generated key) or
keylessly through the IAM Credentials ``signJwt`` API as the delegated service account, which is
how the deployed service works: no key file exists to leak or rotate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCOPES = ("https://www.googleapis.com/auth/calendar",
          "https://www.googleapis.com/auth/gmail.settings.basic")
HTTP_TIMEOUT_SECONDS = 30


def delegated_credentials(
    subject: str,
    scopes: Sequence[str],
    *,
    service_account_info: dict[str, Any] | None = None,
    signer_email: str | None = None,
    token_uri: str = "https://oauth2.googleapis.com/token",
) -> Any:
    """Credentials acting as ``subject`` with exactly ``scopes`` (they cache their token)."""
    from google.oauth2 import service_account

    if service_account_info is not None:
        info = {**service_account_info, "token_uri": token_uri}
        return service_account.Credentials.from_service_account_info(
            info, scopes=list(scopes), subject=subject)
    if not signer_email:
        raise ValueError("keyless delegation needs the delegated service account's email")
    import google.auth
    from google.auth import iam
    from google.auth.transport.requests import Request

    source, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    signer = iam.Signer(Request(), source, signer_email)
    return service_account.Credentials(signer, signer_email, token_uri, scopes=list(scopes),
                                       subject=subject)


def _build(api: str, version: str, credentials: Any, api_endpoint: str | None) -> Any:
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    http = google_auth_httplib2.AuthorizedHttp(credentials,
                                               http=httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS))
    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return build(api, version, http=http, static_discovery=True, cache_discovery=False,
                 client_options=options)


def calendar_service(credentials: Any, api_endpoint: str | None = None) -> Any:
    """Calendar v3 ``Resource`` (static discovery: no network fetch of the document)."""
    return _build("calendar", "v3", credentials, api_endpoint)


def gmail_service(credentials: Any, api_endpoint: str | None = None) -> Any:
    """Gmail v1 ``Resource``."""
    return _build("gmail", "v1", credentials, api_endpoint)
