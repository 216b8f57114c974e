"""Cloud Pub/Sub emulation for tests: cloudbox's gRPC Pub/Sub server in a thread.

cloudbox 0.2.3 declares Python >= 3.14 (installed with ``--ignore-requires-python``) because it
evaluates annotations lazily; compiling its modules with ``from __future__ import annotations``
(the import hook below) makes them load on 3.11. It is used for one integration test of the
publisher with the real ``google-cloud-pubsub`` client.
"""

from __future__ import annotations
import __future__

import asyncio
import importlib.machinery
import socket
import sys
import threading
import time
from typing import Any

from local.emulators import EmulatorUnavailable


class _FutureAnnotationsLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str) -> Any:
        path = self.get_filename(fullname)
        return compile(self.get_data(path), path, "exec",
                       flags=__future__.annotations.compiler_flag, dont_inherit=True)


class _CloudboxFinder:
    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "cloudbox" and not name.startswith("cloudbox."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec and spec.origin and spec.origin.endswith(".py"):
            spec.loader = _FutureAnnotationsLoader(name, spec.origin)
        return spec


def start_pubsub_emulator(timeout: float = 10.0) -> str:
    """Start the server on a free loopback port; returns ``host:port`` for the clients."""
    if _CloudboxFinder not in sys.meta_path:
        sys.meta_path.insert(0, _CloudboxFinder)
    try:
        from cloudbox.services.pubsub.grpc_server import create_server
    except Exception as exc:  # missing, or a cloudbox release this shim cannot load
        raise EmulatorUnavailable(
            f"cloudbox Pub/Sub emulator unavailable ({type(exc).__name__}: {exc}); install it "
            "with `pip install --ignore-requires-python cloudbox==0.2.3`") from exc
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def serve() -> None:
        server = await create_server("127.0.0.1", port)
        await server.start()
        await server.wait_for_termination()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True,
                     name="pubsub-emulator").start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise EmulatorUnavailable("cloudbox Pub/Sub emulator did not start listening")
