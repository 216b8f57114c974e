"""Key-encryption keys behind one small interface (:class:`KeyEncryptionKey`).

``kms`` (Cloud KMS, deployed) and ``local`` (a Tink keyset file, embedded mode only). Import the
one you need directly so the KMS client is only loaded where it is used.
"""

from shared.keys.base import KeyEncryptionKey, UnwrapFailed

__all__ = ["KeyEncryptionKey", "UnwrapFailed"]
