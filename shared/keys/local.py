"""A local Tink keyset as the key-encryption key, for the embedded mode only.

The keyset is stored in the clear (that is what makes it local-only, and its file name should say
so, e.g. ``LOCAL-DEV-ONLY-kek.keyset.json``); it is created on first use with 0600 permissions and
refused when other users can read it. It is also refused on Cloud Run / Cloud Functions (where
``K_SERVICE`` is set): a deployed service must use Cloud KMS, and a keyset file silently created
on an instance's disk would make every record unreadable after the next cold start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import tink
from tink import aead, secret_key_access

from shared.billing import Meter
from shared.keys.base import UnwrapFailed

_LOGGER = logging.getLogger(__name__)
URI_PREFIX = "local-keyset://"


class InsecureKeysetFile(PermissionError):
    """The local keyset is readable by other users, or would be used in a deployment."""


class LocalKeysetKek:
    """Wraps data keys with an AES-256-GCM Tink keyset kept in a local file."""

    def __init__(self, path: Path | str, *, meter: Meter | None = None) -> None:
        """``meter`` counts wraps and unwraps as ``kms.calls``: deployed, each is a Cloud KMS
        operation, so the embedded stack's count is the cost model's."""
        self.meter = meter or Meter()
        if os.environ.get("K_SERVICE"):
            raise InsecureKeysetFile(
                "a local keyset file is for the embedded mode only; this process runs on "
                "Cloud Run/Functions (K_SERVICE is set): configure HYBRIDCAL_KMS_KEY instead")
        aead.register()
        self.path = Path(path)
        _create_if_missing(self.path)
        self._aead = _load(self.path).primitive(aead.Aead)

    @property
    def key_uri(self) -> str:
        """Names the file, not its contents; shown in published envelopes and key records."""
        return URI_PREFIX + self.path.name

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes:
        """AES-256-GCM under the local keyset, bound to the associated data."""
        self.meter.add("kms.calls")
        wrapped: bytes = self._aead.encrypt(plaintext_key, associated_data)
        return wrapped

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        """Raises :class:`UnwrapFailed` on any authentication failure."""
        self.meter.add("kms.calls")
        try:
            plaintext_key: bytes = self._aead.decrypt(wrapped, associated_data)
            return plaintext_key
        except tink.TinkError:
            raise UnwrapFailed("the local keyset could not decrypt the wrapped data key "
                               "(altered, moved, or made with another keyset file)") from None


def _create_if_missing(path: Path) -> bool:
    """Create a fresh keyset with 0600 permissions (atomic: O_EXCL, so two processes starting
    together cannot both write one and keep different keys)."""
    if path.exists():
        return False
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    text = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False  # another process won the race; use its keyset
    with os.fdopen(fd, "w") as out:
        out.write(text)
    _LOGGER.warning("created a LOCAL, cleartext key-encryption keyset for the embedded mode",
                    extra={"json_fields": {"path": str(path)}})
    return True


def _load(path: Path) -> tink.KeysetHandle:
    """Read the keyset, checking permissions on the opened file (no check-then-open race)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd) as source:
        mode = stat.S_IMODE(os.fstat(source.fileno()).st_mode)
        if mode & 0o077:
            raise InsecureKeysetFile(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` "
                "or delete it to create a new one (records sealed with it become unreadable)")
        return tink.json_proto_keyset_format.parse(source.read(), secret_key_access.TOKEN)
