"""Cloud KMS as the key-encryption key, through the real ``google-cloud-kms`` client.

KMS key-version rotation needs no action here: ciphertexts name their version, and KMS
decrypts with the right one.
"""

from __future__ import annotations

from typing import Any


class CloudKmsKek:
    def __init__(self, key_name: str, client: Any = None) -> None:
        if not key_name.startswith("projects/") or "/cryptoKeys/" not in key_name:
            raise ValueError("KMS key must look like projects/P/locations/L/keyRings/R/"
                             "cryptoKeys/K")
        self.key_name = key_name
        self.key_uri = f"gcp-kms://{key_name}"
        self._client = client
        self.calls = 0

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import kms_v1

            self._client = kms_v1.KeyManagementServiceClient()
        return self._client

    def wrap(self, plaintext_key: bytes, associated_data: bytes) -> bytes:
        self.calls += 1
        response = self.client.encrypt(request={
            "name": self.key_name, "plaintext": plaintext_key,
            "additional_authenticated_data": associated_data})
        return bytes(response.ciphertext)

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        self.calls += 1
        response = self.client.decrypt(request={
            "name": self.key_name, "ciphertext": wrapped,
            "additional_authenticated_data": associated_data})
        return bytes(response.plaintext)
