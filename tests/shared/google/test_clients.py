"""How the clients are built (issue #17): a transport per request over per-thread
connections, shared credentials, one parsed discovery document. No network: requests are
built, not executed (test_concurrency executes them against the simulator)."""

from __future__ import annotations

import gc
import threading
from typing import Any

from google.oauth2.credentials import Credentials

from shared.google import clients


def _client(token: str = "t") -> Any:
    return clients.calendar_service(Credentials(token), api_endpoint="http://127.0.0.1:9/")


def test_each_request_gets_its_own_authorized_http_with_the_clients_credentials():
    service = _client()

    first = service.events().get(calendarId="primary", eventId="a")
    second = service.events().get(calendarId="primary", eventId="b")

    assert first.http is not second.http
    assert first.http.credentials is second.http.credentials is service._http.credentials
    assert first.http.refresh_lock is second.http.refresh_lock  # one refresh at a time
    assert first.http.http is clients._THREAD_HTTP  # connections: the executing thread's


def test_connections_are_per_thread_and_closed_with_their_thread():
    seen: list[Any] = []
    closed = threading.Event()

    class Connection:
        def close(self) -> None:
            closed.set()

    def work() -> None:
        http = clients._THREAD_HTTP.current()
        assert clients._THREAD_HTTP.current() is http  # kept for the thread's next call
        http.connections["http:example"] = Connection()
        seen.append(http)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()

    assert seen[0] is not clients._THREAD_HTTP.current()  # this thread has its own
    del thread
    gc.collect()
    assert closed.is_set()


def test_clients_share_one_parsed_discovery_document_and_build_collections_once():
    one, other = _client("a"), _client("b")

    assert one._rootDesc is other._rootDesc
    assert one.events() is one.events()  # memoized per client
    assert one._http.credentials is not other._http.credentials
