"""The key-encryption key (KEK) contract.

A KEK only wraps and unwraps small data keys; records are never sent to it. Deployed it is a
Cloud KMS key (the key material never leaves KMS); embedded it is a local Tink keyset. Both bind
each wrapped key to associated data, so a wrapped key copied to another user's key record does
not unwrap.
"""

from __future__ import annotations

from typing import Protocol


class UnwrapFailed(Exception):
    """The wrapped key did not authenticate: altered, moved, or wrapped by another KEK.

    Distinct from operational failures (KMS unavailable, permission denied, key version
    disabled), which propagate as the adapter's own errors so callers can retry or alert.
    """


class KeyEncryptionKey(Protocol):
    """Wraps and unwraps data keys; the key material itself never leaves the KEK."""

    @property
    def key_uri(self) -> str:
        """Where the KEK lives, e.g. ``gcp-kms://projects/…/cryptoKeys/k`` (never secret)."""
        ...

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes:
        """Encrypt a data key; ``associated_data`` must be given again to unwrap."""
        ...

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        """Decrypt a data key; raises :class:`UnwrapFailed` when it does not authenticate."""
        ...
