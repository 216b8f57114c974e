"""Per-user Google API clients with domain-wide delegation, built once and reused.

A Calendar or Gmail ``Resource`` per user is cheap to keep and slow to build (its credentials,
its collections' methods), so the most recently used ones are kept (an LRU of
``max_cached_users`` clients); the credentials cache their access token until shortly before
expiry. The clients are safe to share between threads (see :mod:`shared.google.clients`): each
request gets its own transport over the calling thread's connections, so a client owns no
socket and an evicted one is simply dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.google.calendar import Calendar
from shared.google.gmail import Gmail

if TYPE_CHECKING:  # google-auth loads when a client is built, never at import
    from google.oauth2 import service_account

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
GMAIL_SETTINGS_SCOPE = "https://www.googleapis.com/auth/gmail.settings.basic"


class WorkspaceFactory:
    """Builds delegated Calendar/Gmail clients for a user.

    ``service_account_info`` (a key) is only for the Workspace simulator; deployed, the factory
    signs keylessly as ``signer_email`` through IAM ``signJwt``.
    """

    def __init__(
        self,
        *,
        api_endpoint: str | None = None,
        token_uri: str = "https://oauth2.googleapis.com/token",
        service_account_info: dict[str, Any] | None = None,
        signer_email: str | None = None,
        max_cached_users: int = 2048,  # above a 1,000-user vacation shard: tokens are reused
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if service_account_info is None and signer_email is None:
            raise ValueError("need a service account: key info (simulator) or signer_email")
        self._api_endpoint = api_endpoint
        self._token_uri = token_uri
        self._info = service_account_info
        self._signer_email = signer_email
        self._max = max_cached_users
        self._sleep = sleep  # backoff waits; the embedded stack passes simulated time
        # Any: googleapiclient ships no types (a Resource per (api, user))
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        # scope -> credentials without a subject
        self._signing: dict[str, service_account.Credentials] = {}

    @property
    def client_id(self) -> str | None:
        return (self._info or {}).get("client_id")

    def calendar(self, user: str, calendar_id: str = "primary") -> Calendar:
        """``calendar_id`` (the user's primary by default) acting as ``user`` (scope
        ``calendar`` only)."""
        return Calendar(self._get("calendar", user), calendar_id=calendar_id, sleep=self._sleep)

    def gmail(self, user: str) -> Gmail:
        """``user``'s Gmail settings acting as ``user`` (scope ``gmail.settings.basic`` only)."""
        return Gmail(self._get("gmail", user), sleep=self._sleep)

    def forget(self, user: str) -> None:
        """Drop cached clients, e.g. after deactivation or a delegation refusal."""
        with self._lock:
            for api in ("calendar", "gmail"):
                self._cache.pop((api, user), None)

    def _get(self, api: str, user: str) -> Any:  # Any: googleapiclient ships no types
        key = (api, user)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        resource = self._build(api, user)
        with self._lock:
            # two threads may build the same client at once: keep the first, so that every
            # caller shares one set of credentials (one token, one refresh at a time)
            resource = self._cache.setdefault(key, resource)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return resource

    def _build(self, api: str, user: str) -> Any:  # Any: googleapiclient ships no types
        from shared.google import clients

        scope = CALENDAR_SCOPE if api == "calendar" else GMAIL_SETTINGS_SCOPE
        # google-auth leaves with_subject unannotated; it answers the same Credentials type
        credentials: service_account.Credentials = (
            self._signing_credentials(scope).with_subject(user))  # type: ignore[no-untyped-call]
        if api == "calendar":
            return clients.calendar_service(credentials, api_endpoint=self._api_endpoint)
        return clients.gmail_service(credentials, api_endpoint=self._api_endpoint)

    def _signing_credentials(self, scope: str) -> service_account.Credentials:
        """One signer per process: parsing an RSA key (or finding the ambient credentials for
        IAM ``signJwt``) costs tens of milliseconds, far more than the per-user copy
        ``with_subject`` makes of it."""
        from shared.google import clients

        with self._lock:
            base = self._signing.get(scope)
        if base is None:
            base = clients.delegated_credentials(
                None, [scope], service_account_info=self._info,
                signer_email=self._signer_email, token_uri=self._token_uri)
            with self._lock:
                base = self._signing.setdefault(scope, base)
        return base

