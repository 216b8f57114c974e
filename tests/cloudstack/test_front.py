"""Cloud Run's front (local.cloudstack.front) without a stack: invokers, signature removal,
ingress, and Pub/Sub pushes authenticated as their subscription's push account."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.cloudstack.front import SIGNATURE_REMOVED, Front, FrontConfig
from local.cloudstack.iam import Binding, Policy
from local.cloudstack.ledger import Ledger, Published, PushSubscription
from local.quiet import QuietHandler

SERVICE = "projects/p/locations/r/services/fn"
PUSH_SA = "push@p.iam.gserviceaccount.com"
AGENT = "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com"
SUB = PushSubscription(
    name="projects/p/subscriptions/fn-push", topic="things", function="fn",
    endpoint_path="/projects/p/topics/things", push_account=PUSH_SA, audience="aud",
    ack_deadline=10, ordering=True, minimum_backoff=10, maximum_backoff=600,
    dead_letter_topic="projects/p/topics/things-dead-letter", max_delivery_attempts=7)


HEAD = "eyJhbGciOiJSUzI1NiJ9"


def _claims(email: str) -> str:
    return base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")


def _token(email: str) -> str:
    """A token the fake verifier accepts: header.claims.signature."""
    return f"{HEAD}.{_claims(email)}.c2lnbmF0dXJl"


def _verify(token: str, audiences: tuple[str, ...]) -> dict[str, Any] | None:
    _head, claims, signature = token.split(".")
    email = base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)).decode()
    return {"email": email} if signature == "c2lnbmF0dXJl" else None


@pytest.fixture
def container() -> Iterator[dict[str, Any]]:
    """The function's container: answers with what it received."""
    seen: dict[str, Any] = {}

    @Request.application
    def app(request: Request) -> Response:
        seen.update(headers=dict(request.headers), body=request.get_data(), path=request.path)
        return Response(json.dumps({"ok": True}), mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen["target"] = f"127.0.0.1:{server.server_address[1]}"
    yield seen
    server.shutdown()


def _front(container, *, public: bool = False, internal: bool = False,
           bindings: list[Binding] = ()) -> tuple[Front, Ledger, Policy]:
    ledger, policy = Ledger([SUB]), Policy(bindings)
    front = Front("fn", ledger, policy, _verify)
    front.config = FrontConfig(key="fn", service=SERVICE, audiences=("aud",), public=public,
                               internal_only=internal, timeout=10, pubsub_agent=AGENT,
                               project="p", subscriptions={SUB.name: SUB})
    front.target = container["target"]
    return front, ledger, policy


def test_a_private_function_admits_only_its_invokers_and_strips_the_signature(container):
    front, _, policy = _front(container, bindings=[
        Binding(SERVICE, "roles/run.invoker", "user:admin@example.com")])
    try:
        none = requests.get(front.url + "/x", timeout=10)
        forged = requests.get(front.url + "/x", timeout=10,
                              headers={"Authorization": f"Bearer {HEAD}.{_claims('admin@example.com')}.forged"})
        stranger = requests.get(front.url + "/x", timeout=10, headers={
            "Authorization": f"Bearer {_token('eve@example.com')}"})
        admin = requests.get(front.url + "/x", timeout=10, headers={
            "Authorization": f"Bearer {_token('admin@example.com')}"})
    finally:
        front.stop()
    assert (none.status_code, forged.status_code, stranger.status_code) == (403, 401, 403)
    assert admin.status_code == 200
    assert container["headers"]["Authorization"] == \
        f"Bearer {HEAD}.{_claims('admin@example.com')}.{SIGNATURE_REMOVED}"
    assert [(d.permission, d.principal) for d in policy.denials()] == [
        ("run.routes.invoke", "user:eve@example.com")]


def test_serverless_authorization_is_checked_and_authorization_passes_untouched(container):
    front, _, _ = _front(container, bindings=[
        Binding(SERVICE, "roles/run.invoker", "user:admin@example.com")])
    try:
        answer = requests.get(front.url + "/x", timeout=10, headers={
            "X-Serverless-Authorization": f"Bearer {_token('admin@example.com')}",
            "Authorization": "Bearer device-token"})
    finally:
        front.stop()
    assert answer.status_code == 200
    assert container["headers"]["Authorization"] == "Bearer device-token"
    assert container["headers"]["X-Serverless-Authorization"].endswith(SIGNATURE_REMOVED)


def test_a_public_function_passes_everything_through(container):
    front, _, policy = _front(container, public=True)
    try:
        answer = requests.get(front.url + "/x?a=1", timeout=10,
                              headers={"Authorization": f"Bearer {_token('eve@example.com')}"})
    finally:
        front.stop()
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert answer.raw.headers.getlist("Content-Type") == ["application/json"]  # the app's, once
    assert container["headers"]["Authorization"] == f"Bearer {_token('eve@example.com')}"
    assert policy.denials() == []


def test_a_request_during_a_restart_waits_for_the_new_instance(container):
    """Cloud Run holds a request while it starts an instance; it does not answer 503."""
    front, _, _ = _front(container, public=True)
    front.target = None  # the instance was killed; its replacement is starting
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(
        requests.get(front.url + "/x", timeout=10).status_code))
    try:
        caller.start()
        arrived = threading.Event()
        while not front.busy and not arrived.wait(0.01):  # the request reached the front
            pass
        front.target = container["target"]  # the new instance is ready
        caller.join(timeout=10)
    finally:
        front.stop()
    assert answers == [200]


def _push_body(message_id: str = "42") -> bytes:
    return json.dumps({"subscription": SUB.name, "message": {
        "data": base64.b64encode(b'{"x": 1}').decode(), "messageId": message_id,
        "attributes": {}}}).encode()


def test_a_push_is_admitted_as_its_push_account_and_completed_as_pubsub_sends_it(container):
    front, ledger, policy = _front(container, internal=True, bindings=[
        Binding(SERVICE, "roles/run.invoker", f"serviceAccount:{PUSH_SA}"),
        Binding(f"projects/p/serviceAccounts/{PUSH_SA}", "roles/iam.serviceAccountTokenCreator",
                AGENT)])
    ledger.record_publish(Published("things", "42", b'{"x": 1}', {}, "user-1", "someone"))
    try:
        pushed = requests.post(front.url + SUB.endpoint_path, data=_push_body(), timeout=10)
        outsider = requests.get(front.url + "/", timeout=10)
    finally:
        front.stop()
    assert pushed.status_code == 200
    envelope = json.loads(container["body"])
    assert envelope["deliveryAttempt"] == 1
    assert envelope["message"]["orderingKey"] == "user-1"
    assert outsider.status_code == 404  # ALLOW_INTERNAL_ONLY
    assert not ledger.busy() and policy.denials() == []


def test_a_push_without_the_agents_token_grant_is_refused_and_counted(container):
    front, ledger, policy = _front(container, bindings=[
        Binding(SERVICE, "roles/run.invoker", f"serviceAccount:{PUSH_SA}")])
    ledger.record_publish(Published("things", "42", b"{}", {}, "", "someone"))
    try:
        pushed = requests.post(front.url + SUB.endpoint_path, data=_push_body(), timeout=10)
    finally:
        front.stop()
    assert pushed.status_code == 403
    assert [d.state for d in ledger.open_deliveries()] == ["retry"]
    assert [(d.permission, d.principal) for d in policy.denials()] == [
        ("iam.serviceAccounts.getOpenIdToken", AGENT)]


def test_the_front_dead_letters_for_ordered_subscriptions_the_emulator_cannot(container):
    """The emulator's push loop dies dead-lettering from an ordered subscription; the front
    forwards after the last attempt and acknowledges, as Pub/Sub does."""
    @Request.application
    def failing(request: Request) -> Response:
        return Response("boom", status=500)

    server = make_server("127.0.0.1", 0, failing, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front, ledger, _ = _front(container, bindings=[
        Binding(SERVICE, "roles/run.invoker", f"serviceAccount:{PUSH_SA}"),
        Binding(f"projects/p/serviceAccounts/{PUSH_SA}", "roles/iam.serviceAccountTokenCreator",
                AGENT),
        Binding("projects/p/topics/things-dead-letter", "roles/pubsub.publisher", AGENT),
        Binding(SUB.name, "roles/pubsub.subscriber", AGENT)])
    front.target = f"127.0.0.1:{server.server_address[1]}"
    forwarded: list[int] = []
    front.dead_letter = lambda sub, envelope, attempts: forwarded.append(attempts)
    try:
        answers = [requests.post(front.url + SUB.endpoint_path, data=_push_body(),
                                 timeout=10).status_code for _ in range(7)]
    finally:
        front.stop()
        server.shutdown()
    assert answers == [500] * 6 + [204]
    assert forwarded == [7]
    assert [d.state for d in ledger.deliveries.values()] == ["dead"]
