"""Publishing as a function's service account: a thin gRPC proxy in front of the emulator.

Google's Pub/Sub emulator checks no IAM, and clients talking to it (``PUBSUB_EMULATOR_HOST``)
send no credentials. So each function process gets ``PUBSUB_EMULATOR_HOST`` pointing at a proxy
port of its own: the port *is* the caller's identity. ``Publish`` is checked against the plan's
``pubsub.topics.publish`` grants on the topic (refused as Pub/Sub refuses it:
``PERMISSION_DENIED``, "User not authorized to perform this action.") and recorded in the
:class:`~local.cloudstack.ledger.Ledger`; every other call is forwarded unchanged, as bytes.
Production code is unaware: it only reads the standard ``PUBSUB_EMULATOR_HOST``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from local.cloudstack.iam import Policy
from local.cloudstack.ledger import Ledger, Published

_LOGGER = logging.getLogger(__name__)
PUBLISH = "/google.pubsub.v1.Publisher/Publish"
DENIED = "User not authorized to perform this action."


class PublishProxy:
    """One port per identity (``member``, acting for ``function``)."""

    def __init__(self, emulator_host: str, policy: Policy, ledger: Ledger, *,
                 member: str, function: str, workers: int = 16) -> None:
        self._policy, self._ledger = policy, ledger
        self.member, self.function = member, function
        self._channel = grpc.insecure_channel(emulator_host)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers,
                                                              thread_name_prefix="pubsub-proxy"))
        self._server.add_generic_rpc_handlers((_Handler(self),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.host = f"127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None)
        self._channel.close()

    def forward(self, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        call = self._channel.unary_unary(method)

        def handler(request: bytes, context: grpc.ServicerContext) -> bytes:
            try:
                response: bytes = call(request, timeout=60)
                return response
            except grpc.RpcError as exc:
                context.abort(exc.code(), exc.details() or "")
                raise  # unreachable: abort raises

        return handler

    def publish(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        from google.pubsub_v1.types import PublishRequest, PublishResponse

        parsed = PublishRequest.deserialize(request)
        topic = parsed.topic
        if not self._policy.check(self.function, self.member, "pubsub.topics.publish", topic):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, DENIED)
        response = self.forward(PUBLISH)(request, context)
        ids = list(PublishResponse.deserialize(response).message_ids)
        short = topic.rsplit("/topics/", 1)[-1]
        for message, message_id in zip(parsed.messages, ids, strict=False):
            self._ledger.record_publish(Published(
                topic=short, message_id=message_id, data=bytes(message.data),
                attributes=dict(message.attributes), ordering_key=message.ordering_key,
                publisher=self.function))
        return response


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: PublishProxy) -> None:
        self._proxy = proxy

    def service(self, details: Any) -> Any:
        method = details.method
        if method == PUBLISH:
            return grpc.unary_unary_rpc_method_handler(self._proxy.publish)
        if "/google.pubsub.v1.Publisher/" in method:
            return grpc.unary_unary_rpc_method_handler(self._proxy.forward(method))
        return None  # a function never subscribes: UNIMPLEMENTED
