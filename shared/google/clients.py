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
    subject: str | None,
    scopes: Sequence[str],
    *,
    service_account_info: dict[str, Any] | None = None,
    signer_email: str | None = None,
    token_uri: str = "https://oauth2.googleapis.com/token",
) -> Any:
    """Credentials acting as ``subject`` with exactly ``scopes`` (they cache their token).

    With ``subject`` None they act as nobody yet: callers derive per-user credentials with
    ``with_subject``, which shares the parsed signer.
    """
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
    return _memoize_collections(build(api, version, http=http, static_discovery=True,
                                      cache_discovery=False, client_options=options))


def _memoize_collections(resource: Any) -> Any:
    """Make ``service.events()`` (and every nested collection) build its methods once.

    googleapiclient builds a fresh sub-resource, with dozens of methods created from the
    discovery document, on every ``service.events()`` call: a few milliseconds each time, the
    largest cost of validating or polling thousands of users. The sub-resources are
    stateless (requests carry their own parameters), so one per client is enough.
    """
    for name in getattr(resource, "_resourceDesc", {}).get("resources", {}):
        original = getattr(resource, name, None)
        if original is None:
            continue
        built: list[Any] = []

        def accessor(original: Any = original, built: list[Any] = built) -> Any:
            if not built:
                built.append(_memoize_collections(original()))
            return built[0]

        setattr(resource, name, accessor)
    return resource


def calendar_service(credentials: Any, api_endpoint: str | None = None) -> Any:
    """Calendar v3 ``Resource`` (static discovery: no network fetch of the document)."""
    return _build("calendar", "v3", credentials, api_endpoint)


def gmail_service(credentials: Any, api_endpoint: str | None = None) -> Any:
    """Gmail v1 ``Resource``."""
    return _build("gmail", "v1", credentials, api_endpoint)
