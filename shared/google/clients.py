"""Building delegated Google API clients (product code; the simulator is reached the same way).

Two ways to sign the JWT-bearer grant: a key (only the Workspace simulator's generated key) or
keylessly through the IAM Credentials ``signJwt`` API as the delegated service account, which is
how the deployed service works: no key file exists to leak or rotate.

**Thread safety (issue #17).** ``httplib2.Http`` is not thread-safe, and googleapiclient sends
every request of a ``Resource`` through the one ``http`` it was built with. Deployed,
``meetings_api`` serves 40 requests at once per instance and ``process_changes`` 8, through one
cached client per user: one shared ``Http`` answered 500s, raised ``IncompleteRead`` and even
handed one request another request's body. So, as googleapiclient's ``docs/thread_safety.md``
shows, clients are built with a ``requestBuilder`` that gives every request its own
``AuthorizedHttp``. Underneath, the connections are per *thread* (a ``threading.local``
``httplib2.Http``), not per request: a fresh ``Http`` per request would open, and TLS-handshake,
a connection for every call, whereas a thread runs one request at a time, so its own ``Http``
is never shared yet keeps its keep-alive connections from one call to the next, whichever user
the call is for (httplib2 pools per host). A thread's ``Http`` is closed when the thread ends.
Per-user clients therefore own no sockets, and evicting one has nothing to close.

What stays cached per process is what is costly and safe to share: the credentials (they
cache their token; a lock makes one thread refresh it while the others wait) and the parsed
discovery documents.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # google-auth and httplib2 load when a client is built, never at import
    import httplib2
    from google.auth.credentials import Credentials
    from google.oauth2 import service_account

# The two scopes delegation grants, in the order (calendar, gmail); the harness acts as a
# calendar client through the same delegated credentials.
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
) -> service_account.Credentials:
    """Credentials acting as ``subject`` with exactly ``scopes`` (they cache their token).

    With ``subject`` None they act as nobody yet: callers derive per-user credentials with
    ``with_subject``, which shares the parsed signer.
    """
    from google.oauth2 import service_account

    credentials: service_account.Credentials
    if service_account_info is not None:
        info = {**service_account_info, "token_uri": token_uri}
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(scopes), subject=subject)
        return credentials
    if not signer_email:
        raise ValueError("keyless delegation needs the delegated service account's email")
    import google.auth
    from google.auth import iam
    from google.auth.transport.requests import Request

    source, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    # IAM's refusal to sign is final (SigningRefused), never retried as a network failure
    signer = iam.Signer(  # type: ignore[no-untyped-call]
        _RefusalAwareRequest(Request(), signer_email, source), source, signer_email)
    return service_account.Credentials(  # type: ignore[no-untyped-call]
        signer, signer_email, token_uri, scopes=list(scopes), subject=subject)


_SIGN_PATH = re.compile(r"/serviceAccounts/[^/]+:sign(Blob|Jwt)$")
_REFUSED = frozenset({400, 401, 403, 404})


class _RefusalAwareRequest:
    """The transport ``google.auth.iam.Signer`` calls IAM Credentials through. google-auth
    raises a bare ``TransportError`` for any non-200 answer, which looks like a network
    failure and would be retried as one; a 4xx from ``signBlob``/``signJwt`` is a missing
    grant (or account, or API), so it is raised as :class:`SigningRefused` with the fix."""

    # Any: the wrapped google.auth.transport.Request and the caller's credentials (untyped)
    def __init__(self, inner: Any, signer_email: str, source: Any) -> None:
        self._inner, self._signer_email, self._source = inner, signer_email, source

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Any = None, timeout: Any = None, **kwargs: Any) -> Any:
        response = self._inner(url, method=method, body=body, headers=headers,
                               timeout=timeout, **kwargs)
        if response.status in _REFUSED and _SIGN_PATH.search(urlsplit(url).path):
            from shared.google.errors import signing_refused

            raise signing_refused(
                response.status, response.data, signer_email=self._signer_email,
                caller=getattr(self._source, "service_account_email", None))
        return response

# -- thread-safe transport (issue #17; see the module docstring) -------------------------------
class _ThreadHttp:
    """Looks like one ``httplib2.Http`` but sends each call through the calling thread's own
    ``httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS)``, looked up when the call is made: a request
    built on one thread and executed on another still uses only the executing thread's."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def current(self) -> httplib2.Http:
        http = getattr(self._local, "http", None)
        if http is None:
            import httplib2

            http = httplib2.Http(timeout=self.timeout)
            self._local.http = http
            # the thread's sockets are closed when the thread is gone, not at some later
            # garbage collection (werkzeug's threaded server runs one thread per request)
            weakref.finalize(threading.current_thread(), http.close)
        return http

    # Any: forwards ``httplib2.Http.request``, which its stubs leave unannotated
    def request(self, *args: Any, **kwargs: Any) -> Any:
        return self.current().request(*args, **kwargs)

    def close(self) -> None:
        """Nothing to close for one client: the connections belong to the threads, which use
        them for every client."""


_THREAD_HTTP = _ThreadHttp(HTTP_TIMEOUT_SECONDS)


@functools.cache
def _authorized_http_class() -> type:
    """Defined on first use: google_auth_httplib2 is imported only when a client is built."""
    import google_auth_httplib2

    class SerialRefreshAuthorizedHttp(google_auth_httplib2.AuthorizedHttp):  # type: ignore[misc]
        """``AuthorizedHttp`` over the thread's connections whose credentials are refreshed by
        one thread at a time: google-auth refreshes in every thread that finds the token
        invalid, so 40 requests arriving together for one user would make 40 token grants.
        Here the first refreshes and the others wait for its token."""

        def __init__(self, credentials: Credentials, refresh_lock: threading.Lock) -> None:
            super().__init__(credentials, http=_THREAD_HTTP)
            self.refresh_lock = refresh_lock

        # Any: google_auth_httplib2 ships no types (forwards httplib2's request arguments)
        def request(self, *args: Any, **kwargs: Any) -> Any:
            if not self.credentials.valid:
                with self.refresh_lock:
                    if not self.credentials.valid:
                        self.credentials.refresh(self._request)
            return super().request(*args, **kwargs)

    return SerialRefreshAuthorizedHttp


# Any: google_auth_httplib2 ships no types (an ``AuthorizedHttp``)
def authorized_http(credentials: Credentials) -> Any:
    """A thread-safe authorized transport for ``credentials``: what a client is built with."""
    return _authorized_http_class()(credentials, threading.Lock())


# Any: googleapiclient ships no types (an ``AuthorizedHttp`` in, an ``HttpRequest`` out, and
# HttpRequest's arguments passed through)
def _thread_safe_request(http: Any, *args: Any, **kwargs: Any) -> Any:
    """googleapiclient ``requestBuilder``: every request gets an ``AuthorizedHttp`` of its own,
    sharing only the client's credentials (and their refresh lock)."""
    from googleapiclient.http import HttpRequest

    own = _authorized_http_class()(http.credentials, http.refresh_lock)
    return HttpRequest(own, *args, **kwargs)


_DOCUMENTS: dict[tuple[str, str], dict[str, Any]] = {}
_DOCUMENTS_LOCK = threading.Lock()


def _discovery_document(api: str, version: str) -> dict[str, Any]:
    """The static discovery document, parsed once per process (about 1 ms per client saved)
    and *prepared*: googleapiclient fixes up a method's parameter dict inside the document the
    first time a client builds that method, inserting keys. Done concurrently by two threads
    on one shared document, an insertion can meet another thread iterating the same dict.
    Building every method once here, under a lock, leaves later fix-ups rewriting existing
    keys with equal values only, which never changes a dict's size."""
    key = (api, version)
    with _DOCUMENTS_LOCK:
        document = _DOCUMENTS.get(key)
        if document is None:
            from googleapiclient import discovery_cache
            from googleapiclient.discovery import build_from_document

            text = discovery_cache.get_static_doc(api, version)
            if text is None:
                raise ValueError(f"no static discovery document for {api} {version}")
            document = json.loads(text)
            _build_every_collection(build_from_document(document, http=_THREAD_HTTP))
            _DOCUMENTS[key] = document
        return document


def _build_every_collection(resource: Any) -> None:  # Any: googleapiclient ships no types
    for name in resource._resourceDesc.get("resources", {}):
        _build_every_collection(getattr(resource, name)())


# Any: googleapiclient ships no types (a ``Resource``)
def _build(api: str, version: str, credentials: Credentials, api_endpoint: str | None) -> Any:
    from googleapiclient.discovery import build_from_document

    options = {"api_endpoint": api_endpoint} if api_endpoint else None
    return _memoize_collections(build_from_document(
        _discovery_document(api, version), http=authorized_http(credentials),
        requestBuilder=_thread_safe_request, client_options=options))


def _memoize_collections(resource: Any) -> Any:  # Any: googleapiclient ships no types
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
        built: list[Any] = []  # Any: googleapiclient ships no types

        # Any: googleapiclient ships no types (a collection's builder and what it builds)
        def accessor(original: Any = original, built: list[Any] = built) -> Any:
            if not built:
                built.append(_memoize_collections(original()))
            return built[0]

        setattr(resource, name, accessor)
    return resource


# Any: googleapiclient ships no types (a ``Resource``)
def calendar_service(credentials: Credentials, api_endpoint: str | None = None) -> Any:
    """Calendar v3 ``Resource`` (static discovery: no network fetch of the document)."""
    return _build("calendar", "v3", credentials, api_endpoint)


# Any: googleapiclient ships no types (a ``Resource``)
def gmail_service(credentials: Credentials, api_endpoint: str | None = None) -> Any:
    """Gmail v1 ``Resource``."""
    return _build("gmail", "v1", credentials, api_endpoint)
