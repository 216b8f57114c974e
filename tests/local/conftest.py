"""A simulator per test plus a tiny HTTP receiver standing in for a push address."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.quiet import QuietHandler
from local.workspace_sim import WorkspaceSimulator
from shared.clock import FakeClock
from shared.google import clients


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock) -> Iterator[WorkspaceSimulator]:
    with WorkspaceSimulator(clock) as running:
        running.add_user("alice@example.com", locale="de", timezone="Europe/Berlin")
        running.add_user("bob@example.com", locale="ja", timezone="Asia/Tokyo")
        yield running
        # every answer matched Google's discovery documents (local/workspace_sim/discovery.py)
        assert running.discovery_violations == []


def calendar_for(sim, email: str, scope: str = clients.SCOPES[0]):
    creds = clients.delegated_credentials(email, [scope],
                                          service_account_info=sim.service_account_info,
                                          token_uri=sim.token_uri)
    return clients.calendar_service(creds, api_endpoint=sim.url)


def gmail_for(sim, email: str, scope: str = clients.SCOPES[1]):
    creds = clients.delegated_credentials(email, [scope],
                                          service_account_info=sim.service_account_info,
                                          token_uri=sim.token_uri)
    return clients.gmail_service(creds, api_endpoint=sim.url)


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.status = 200

        @Request.application
        def app(request: Request) -> Response:
            self.received.append({k: v for k, v in request.headers.items()
                                  if k.lower().startswith("x-goog")} | {"body": request.data})
            return Response("", status=self.status)

        self.server = make_server("127.0.0.1", 0, app, threaded=True,
                                  request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
