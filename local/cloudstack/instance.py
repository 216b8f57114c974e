"""``python -m local.cloudstack.instance ARGS``: one function instance, as Cloud Run runs it.

ARGS are functions-framework's (``--target``, ``--signature-type``, ``--source``, ``--host``,
``--port``), served by its gunicorn server with ``THREADS`` threads, exactly as
``functions-framework`` would. Before serving, this plays the parts of Google's network that no
standard setting can redirect, and nothing else:

- **IAM Credentials.** google-auth's ``iam.Signer`` (keyless delegation) builds its URL from
  module constants (only the universe domain is configurable, always over https); they are
  pointed at CloudStack's IAM Credentials fake (``CLOUDSTACK_IAM_CREDENTIALS``).
- **Cloud KMS.** ``KeyManagementServiceClient()`` with no options reaches
  ``cloudkms.googleapis.com`` over gRPC; CloudStack's KMS is ``local/kms_fake.py`` (REST), so
  the client class defaults to the REST transport and that endpoint
  (``CLOUDSTACK_KMS_ENDPOINT``). Both patches apply when the product imports the module, so a
  function that never uses KMS pays nothing for it at cold start.

Credentials come from the instance's metadata server (``GCE_METADATA_HOST``): google-auth's
own Compute Engine credentials, as on Cloud Run. The process dies with the harness that
started it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Run ``patch(module)`` right after ``name`` is first imported."""

    def __init__(self, name: str, patch: Callable[[ModuleType], None]) -> None:
        self.name, self.patch = name, patch

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader, patch = spec.loader, self.patch
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            patch(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _point_iam(module: ModuleType) -> None:
    base = os.environ["CLOUDSTACK_IAM_CREDENTIALS"]  # .../v1/projects/-/serviceAccounts/{}
    module._IAM_BASE_URL = base  # type: ignore[attr-defined]
    module._IAM_ENDPOINT = base + ":generateAccessToken"  # type: ignore[attr-defined]
    module._IAM_SIGN_ENDPOINT = base + ":signBlob"  # type: ignore[attr-defined]
    module._IAM_SIGNJWT_ENDPOINT = base + ":signJwt"  # type: ignore[attr-defined]
    module._IAM_IDTOKEN_ENDPOINT = base + ":generateIdToken"  # type: ignore[attr-defined]


def _point_kms(module: ModuleType) -> None:
    endpoint = os.environ["CLOUDSTACK_KMS_ENDPOINT"]
    base = module.KeyManagementServiceClient

    class KeyManagementServiceClient(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "rest")
            kwargs.setdefault("client_options", {"api_endpoint": endpoint})
            super().__init__(*args, **kwargs)

    module.KeyManagementServiceClient = KeyManagementServiceClient  # type: ignore[attr-defined]


def _die_with_parent() -> None:
    parent = int(os.environ.get("CLOUDSTACK_PARENT_PID", "0"))
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if parent and os.getppid() != parent:
        sys.exit("the harness that started this instance is gone")


def main(argv: list[str]) -> None:
    _die_with_parent()
    sys.meta_path.insert(0, _PatchOnImport("google.auth.iam", _point_iam))
    sys.meta_path.insert(0, _PatchOnImport("google.cloud.kms_v1", _point_kms))
    from functions_framework._cli import _cli

    billing_dir = os.environ.get("CLOUDSTACK_BILLING_DIR")
    if billing_dir:  # the harness's bill (local.cloudstack.billing): written after each request
        import functions_framework._cli as cli_module

        from local.cloudstack.billing import install_writer

        create_app = cli_module.create_app

        def create_app_with_billing(*args: Any, **kwargs: Any) -> Any:
            app = create_app(*args, **kwargs)
            install_writer(app, billing_dir)
            return app

        cli_module.create_app = create_app_with_billing  # type: ignore[assignment]

    _cli.main(args=argv, prog_name="functions-framework")


if __name__ == "__main__":
    main(sys.argv[1:])
