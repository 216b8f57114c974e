"""Cloud Run's front of one function: ingress, the invoker check, and the request as the
container receives it.

Each function process sits behind a :class:`Front` on its own port; the front's address is
the function's URL (``service_config[0].uri`` in the plan), so Pub/Sub push endpoints,
``HYBRIDCAL_INTAKE_URL`` and harness calls all reach the function through it.

- **Invokers.** A function with ``allUsers`` among its ``roles/run.invoker`` members is public:
  requests pass through untouched. Otherwise the caller must present a Google-signed ID token
  (``Authorization``, or ``X-Serverless-Authorization``, which then takes precedence) for the
  function's URL, from a member holding ``run.routes.invoke`` on the service; no token is
  Cloud Run's 403, a bad one its 401, a caller not listed its 403 (recorded as a denial). An
  accepted request reaches the container with that header's signature replaced by
  ``SIGNATURE_REMOVED_BY_GOOGLE``, as Cloud Run does.
- **Pub/Sub push.** The emulator sends no OIDC token, so a push is recognised by its path and
  body (the subscription feeding this function) and authenticated as the subscription's
  ``oidc_token.service_account_email`` would be: the Pub/Sub service agent must be allowed to
  mint tokens for that account (``iam.serviceAccounts.getOpenIdToken``), and the account must
  be an invoker. The front adds what the emulator leaves out of the push body and Pub/Sub puts
  in: ``deliveryAttempt`` (the subscription has a dead-letter policy) and ``orderingKey``.
- **Ingress.** ``ALLOW_INTERNAL_ONLY`` functions answer anything but a push with 404, as
  Cloud Run answers traffic from outside.
- One instance per function (Terraform's ``max_instance_count`` is not simulated); Cloud Run's
  per-instance concurrency is the process's thread count (``THREADS``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from local.cloudstack.iam import Policy, _Server
from local.cloudstack.ledger import Ledger, PushSubscription, decode_push
from shared.billing import billed_instance_seconds

_LOGGER = logging.getLogger(__name__)
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailers", "transfer-encoding", "upgrade", "content-length", "host"}
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"


@dataclass
class FrontConfig:
    key: str  # the function's key in infra/ (process-changes)
    service: str  # projects/P/locations/R/services/NAME
    audiences: tuple[str, ...]
    public: bool
    internal_only: bool
    timeout: float
    pubsub_agent: str  # serviceAccount:service-N@gcp-sa-pubsub.iam.gserviceaccount.com
    project: str
    subscriptions: dict[str, PushSubscription] = field(default_factory=dict)


class Front:
    def __init__(self, name: str, ledger: Ledger, policy: Policy,
                 verify_id_token: Callable[[str, tuple[str, ...]], dict[str, Any] | None]) -> None:
        self.name = name
        self._ledger, self._policy, self._verify = ledger, policy, verify_id_token
        self.config: FrontConfig | None = None
        # publishes a dead letter as the Pub/Sub service agent (see _push)
        self.dead_letter: Callable[[PushSubscription, dict[str, Any], int], None] | None = None
        self._target: str | None = None  # 127.0.0.1:PORT of the function process
        self._generation = 0  # a new instance: no pooled connection to the old one is reused
        self._local = threading.local()
        self.requests = 0
        self.push_deliveries = 0  # Pub/Sub push requests, and their billed bytes (#20)
        self.push_bytes = 0
        # Instance time as Cloud Run's request-based billing counts it: the time the instance
        # had at least one request in flight, each busy spell rounded up to 100 ms (#20).
        self.billed_seconds = 0.0
        self._busy_since = 0.0
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._ready = threading.Condition()
        self._closing = False
        self._server = _Server(self._app, f"front-{name}")
        self.url = self._server.url

    @property
    def target(self) -> str | None:
        return self._target

    @target.setter
    def target(self, value: str | None) -> None:
        with self._ready:
            self._target = value
            self._generation += 1
            self._ready.notify_all()

    def _wait_for_instance(self, timeout: float) -> str | None:
        """The instance to forward to; while it is being replaced, wait for the new one, as
        Cloud Run holds a request while it starts another instance (within the request's
        timeout): only the requests the dead instance was serving fail."""
        with self._ready:
            self._ready.wait_for(lambda: self._target is not None or self._closing, timeout)
            return self._target

    def stop(self) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        self._server.stop()

    # -- WSGI ----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A request is being forwarded to the instance right now."""
        return self._in_flight > 0

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._count_lock:
            if self._in_flight == 0:
                self._busy_since = time.monotonic()
            self._in_flight += 1
        try:
            response = self._handle(request)
        finally:
            with self._count_lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.billed_seconds += billed_instance_seconds(
                        time.monotonic() - self._busy_since)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        config = self.config
        if config is None:
            return Response("service not deployed", status=404)
        self.requests += 1
        body = request.get_data()
        push = self._as_push(config, request, body)
        if push is not None:
            subscription, message_id, envelope = push
            delivery = self._ledger.push_started(subscription.name, message_id)
            status = 500
            try:
                response = self._push(config, request, subscription, envelope, delivery.attempts)
                status = response.status_code
            finally:
                dead = self._ledger.push_finished(delivery, status)
                if dead:
                    self._dead_letter_grants(config, subscription)
            if dead and subscription.harness_dead_letters and self.dead_letter is not None:
                # what Pub/Sub does after the last attempt: forward, then acknowledge
                self.dead_letter(subscription, envelope, delivery.attempts)
                return Response(status=204)
            return response
        self._ledger.http_started()
        try:
            if config.internal_only:
                return _page(404, "Not Found", "The requested URL was not found on this server.")
            headers = self._authorise(config, request)
            if isinstance(headers, Response):
                return headers
            return self._forward(config, request, body, headers)
        finally:
            self._ledger.http_finished()

    # -- Pub/Sub push --------------------------------------------------------------------------
    def _as_push(self, config: FrontConfig, request: Request,
                 body: bytes) -> tuple[PushSubscription, str, dict[str, Any]] | None:
        if request.method != "POST":
            return None
        decoded = decode_push(body)
        if decoded is None:
            return None
        name, message_id, envelope = decoded
        subscription = config.subscriptions.get(name)
        if subscription is None or request.path != subscription.endpoint_path:
            return None
        return subscription, message_id, envelope

    def _push(self, config: FrontConfig, request: Request, subscription: PushSubscription,
              envelope: dict[str, Any], attempt: int) -> Response:
        if subscription.push_account:
            account = subscription.push_account
            if not self._policy.check(
                    config.key, config.pubsub_agent, "iam.serviceAccounts.getOpenIdToken",
                    f"projects/{config.project}/serviceAccounts/{account}"):
                return _page(403, "Forbidden", "Pub/Sub could not create an OIDC token.")
            member = f"serviceAccount:{account}"
            if not config.public and not self._policy.check(
                    config.key, member, "run.routes.invoke", config.service):
                return _forbidden(request)
        elif not config.public:
            return _forbidden(request)
        message = envelope.get("message", {})
        self._count_push(message)
        published = self._ledger.message(str(message.get("messageId", "")))
        if published is not None and published.ordering_key:
            message.setdefault("orderingKey", published.ordering_key)
        if subscription.dead_letter_topic:
            envelope["deliveryAttempt"] = attempt
        headers = {"Content-Type": "application/json"}
        return self._forward(config, request, json.dumps(envelope).encode(), headers)

    def _count_push(self, message: dict[str, Any]) -> None:
        """A push is a Pub/Sub request billed like a publish (shared.billing)."""
        import base64

        from shared.billing import pubsub_message_bytes, pubsub_request_bytes

        try:
            data = base64.b64decode(message.get("data") or "")
        except ValueError:
            data = b""
        size = pubsub_message_bytes(data, {str(k): str(v) for k, v in
                                           (message.get("attributes") or {}).items()},
                                    str(message.get("messageId", "")),
                                    str(message.get("orderingKey", "")))
        with self._count_lock:
            self.push_deliveries += 1
            self.push_bytes += pubsub_request_bytes(size)

    def _dead_letter_grants(self, config: FrontConfig, subscription: PushSubscription) -> None:
        """Pub/Sub's service agent forwards a dead letter only with both grants."""
        if subscription.dead_letter_topic:
            self._policy.check(config.key, config.pubsub_agent, "pubsub.topics.publish",
                               subscription.dead_letter_topic)
            self._policy.check(config.key, config.pubsub_agent, "pubsub.subscriptions.consume",
                               subscription.name)

    # -- invokers ------------------------------------------------------------------------------
    def _authorise(self, config: FrontConfig, request: Request) -> dict[str, str] | Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if config.public:
            return headers
        header = "X-Serverless-Authorization" if "X-Serverless-Authorization" in \
            request.headers else "Authorization"
        scheme, _, token = request.headers.get(header, "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _forbidden(request)
        claims = self._verify(token.strip(), config.audiences)
        if claims is None:
            return _page(401, "Unauthorized", "Your client does not have permission to the "
                         "requested URL.")
        email = str(claims.get("email", ""))
        member = (f"serviceAccount:{email}" if email.endswith(".gserviceaccount.com")
                  else f"user:{email}")
        if not self._policy.check(config.key, member, "run.routes.invoke", config.service):
            return _forbidden(request)
        signed = token.strip().rsplit(".", 1)[0]
        headers = {k: v for k, v in headers.items() if k.lower() != header.lower()}
        headers[header] = f"Bearer {signed}.{SIGNATURE_REMOVED}"
        return headers

    # -- to the container ----------------------------------------------------------------------
    def _session(self) -> Any:
        import requests

        session = getattr(self._local, "session", None)
        if session is None or self._local.generation != self._generation:
            if session is not None:
                session.close()
            session = self._local.session = requests.Session()
            session.trust_env = False
            self._local.generation = self._generation
        return session

    def _forward(self, config: FrontConfig, request: Request, body: bytes,
                 headers: dict[str, str]) -> Response:
        import requests

        target = self._wait_for_instance(config.timeout)
        if target is None:
            return _page(503, "Service Unavailable", "The service is not running.")
        url = f"http://{target}{request.full_path if request.query_string else request.path}"
        try:
            answer = self._session().request(request.method, url, data=body, headers=headers,
                                             timeout=config.timeout, allow_redirects=False)
        except requests.Timeout:
            return _page(504, "Gateway Timeout", "The request timed out.")
        except requests.RequestException as exc:
            # the instance died (or is restarting): what a client of a crashed instance sees
            _LOGGER.info("%s: no answer from its instance (%s)", self.name, exc)
            return _page(503, "Service Unavailable", "The service is currently unavailable.")
        response = Response(answer.content, status=answer.status_code)
        response.headers.clear()  # the container's headers only, not werkzeug's defaults
        for key, value in answer.raw.headers.items():
            if key.lower() not in _HOP_BY_HOP:
                response.headers.add(key, value)
        return response


def _page(status: int, title: str, message: str) -> Response:
    html = (f"<html><head><meta http-equiv=\"content-type\" content=\"text/html;charset=utf-8\">"
            f"<title>{status} {title}</title></head><body text=#000000 bgcolor=#ffffff>"
            f"<h1>Error: {title}</h1><h2>{message}</h2><h2></h2></body></html>")
    return Response(html, status=status, mimetype="text/html")


def _forbidden(request: Request) -> Response:
    return _page(403, "Forbidden", "Your client does not have permission to get URL "
                 f"<code>{request.path}</code> from this server.")
