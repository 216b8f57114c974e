"""Key-encryption keys behind one small interface (:class:`KeyEncryptionKey`).

``kms`` (Cloud KMS, deployed) and ``local`` (a Tink keyset file, embedded mode only). Import the
one you need directly so the KMS client is only loaded where it is used.
"""

from typing import Protocol


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; the key material itself never leaves the KEK."""

    key_uri: str

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes: ...
