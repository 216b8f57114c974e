"""A local Tink keyset as the key-encryption key, for the embedded mode only.

The keyset is stored in the clear (that is what makes it local-only, and its file name says
so); it is created on first use with 0600 permissions and refused when others can read it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class InsecureKeysetFile(PermissionError):
    """The local keyset is readable by other users."""


class LocalKeysetKek:
    def __init__(self, path: Path | str) -> None:
        import tink
        from tink import aead, secret_key_access

        aead.register()
        self.path = Path(path)
        self.key_uri = f"local-keyset://{self.path.name}"
        if not self.path.exists():
            handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
            text = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            raise InsecureKeysetFile(
                f"{self.path} is readable by other users (mode {mode:o}); run "
                f"`chmod 600 {self.path}` or delete it to create a new one")
        handle = tink.json_proto_keyset_format.parse(self.path.read_text(),
                                                     secret_key_access.TOKEN)
        self._aead = handle.primitive(aead.Aead)

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes:
        return self._aead.encrypt(plaintext_key, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        return self._aead.decrypt(wrapped, associated_data)
