"""Envelope encryption of user data: the data rule made hard to forget.

Each user has a data key per rotation period (Tink AES-256-GCM), wrapped by the key-encryption
key (Cloud KMS deployed, a local keyset embedded) and stored wrapped in ``data_keys``. Unwrapped
keys are cached for a bounded time and number of uses, so KMS is called about once per user per
period instead of once per record (Tink's per-record ``KmsEnvelopeAead`` would call it for every
record). The associated data ``user|place`` binds each ciphertext to its owner and record: a
blob copied elsewhere fails to open. Deleting a user's wrapped keys (:meth:`Sealer.shred_user`)
makes everything left behind unreadable.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.clock import Clock, to_rfc3339
from shared.store.base import Filter, Store

COLLECTION = "data_keys"
VERSION = "v1"


class SealedDataError(Exception):
    """A blob cannot be opened; messages never include plaintext."""


class TamperedOrMisplaced(SealedDataError):
    """Authentication failed: altered, truncated, or copied to another user/record."""


class UnknownDataKey(SealedDataError):
    """The blob names a data key that does not exist (never did, or was shredded)."""


class MalformedBlob(SealedDataError):
    """Not a sealed blob of a known version."""


class Sealer:
    def __init__(self, store: Store, kek: Any, clock: Clock, *,
                 rotation_period: timedelta = timedelta(days=30),
                 cache_ttl: timedelta = timedelta(minutes=10), cache_max_uses: int = 10_000,
                 cache_size: int = 4096) -> None:
        from tink import aead

        aead.register()
        self._store, self._kek, self._clock = store, kek, clock
        self._period = rotation_period
        self._ttl, self._max_uses, self._size = cache_ttl, cache_max_uses, cache_size
        self._cache: OrderedDict[str, list[Any]] = OrderedDict()  # key id -> [aead, until, uses]
        self._lock = threading.Lock()

    # -- public API --------------------------------------------------------------------------
    def seal(self, user_id: str, place: str, record: dict[str, Any]) -> str:
        key_id = self._current_key_id(user_id)
        primitive = self._primitive(user_id, key_id, create=True)
        plaintext = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        ciphertext = primitive.encrypt(plaintext, _aad(user_id, place))
        return f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(ciphertext).decode()}"

    def open(self, user_id: str, place: str, blob: str) -> dict[str, Any]:
        try:
            version, key_id, body = blob.split(".", 2)
            ciphertext = base64.urlsafe_b64decode(body.encode())
        except (ValueError, AttributeError):
            raise MalformedBlob("not a sealed blob") from None
        if version != VERSION:
            raise MalformedBlob(f"unknown sealed blob version {version!r}")
        primitive = self._primitive(user_id, key_id, create=False)
        try:
            plaintext = primitive.decrypt(ciphertext, _aad(user_id, place))
        except Exception:
            raise TamperedOrMisplaced("sealed blob failed authentication (altered, truncated, "
                                      "or not this user's/record's)") from None
        return json.loads(plaintext)

    def seal_for_publish(self, user_id: str, place: str, record: dict[str, Any]) -> dict[str, str]:
        """A self-contained envelope for the collaboration cloud: the sealed blob plus its
        KMS-wrapped data key and the KEK's URI, so a consumer holding KMS decrypt rights opens
        it without access to our store (see :func:`open_published`)."""
        blob = self.seal(user_id, place, record)
        doc = self._store.get(COLLECTION, self.key_id_of(blob)) or {}
        return {"sealed": blob, "data_key": str(doc.get("wrapped", "")),
                "kek": str(doc.get("kek", "")), "aad": f"{user_id}|{place}"}

    def key_id_of(self, blob: str) -> str:
        return blob.split(".", 2)[1]

    def shred_user(self, user_id: str) -> int:
        """Crypto-shredding: delete the user's wrapped data keys; returns how many."""
        with self._lock:
            for key_id in [k for k in self._cache if k.startswith(_key_prefix(user_id))]:
                del self._cache[key_id]
        return self._store.delete_where(COLLECTION, [Filter("user_id", "==", user_id)])

    def rotate_user(self, user_id: str,
                    records: Iterable[tuple[str, str, str, Callable[[str], None]]]) -> int:
        """Re-seal ``(place, blob, ..., save)`` records with the current key; returns count.

        Each item is ``(place, blob, key, save)`` where ``save(new_blob)`` persists it.
        """
        current = self._current_key_id(user_id)
        count = 0
        for place, blob, _key, save in records:
            if self.key_id_of(blob) != current:
                save(self.seal(user_id, place, self.open(user_id, place, blob)))
                count += 1
        return count

    # -- internals ---------------------------------------------------------------------------
    def _current_key_id(self, user_id: str) -> str:
        period = int(self._clock.now().timestamp() // self._period.total_seconds())
        return f"{_key_prefix(user_id)}{period}"

    def _primitive(self, user_id: str, key_id: str, *, create: bool) -> Any:
        if not key_id.startswith(_key_prefix(user_id)):
            raise TamperedOrMisplaced("sealed blob belongs to another user")
        now = self._clock.now()
        with self._lock:
            entry = self._cache.get(key_id)
            if entry and entry[1] > now and entry[2] < self._max_uses:
                entry[2] += 1
                self._cache.move_to_end(key_id)
                return entry[0]
        primitive = self._load(user_id, key_id, create)
        with self._lock:
            self._cache[key_id] = [primitive, now + self._ttl, 1]
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return primitive

    def _load(self, user_id: str, key_id: str, create: bool) -> Any:
        import tink
        from tink import aead, secret_key_access

        doc = self._store.get(COLLECTION, key_id)
        if doc is None:
            if not create:
                raise UnknownDataKey("data key not found (shredded or never existed)")
            handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
            raw = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            wrapped = self._kek.wrap(raw, _wrap_aad(key_id))
            new_doc = {"user_id": user_id, "key_id": key_id, "kek": self._kek.key_uri,
                       "created": to_rfc3339(self._clock.now()),
                       "wrapped": base64.b64encode(wrapped).decode()}
            if self._store.create(COLLECTION, key_id, new_doc):
                return handle.primitive(aead.Aead)
            doc = self._store.get(COLLECTION, key_id)  # a concurrent writer won: use theirs
            if doc is None:
                raise UnknownDataKey("data key vanished while being created")
        raw = self._kek.unwrap(base64.b64decode(doc["wrapped"]), _wrap_aad(key_id))
        handle = tink.proto_keyset_format.parse(raw, secret_key_access.TOKEN)
        return handle.primitive(aead.Aead)


def open_published(envelope: dict[str, str], kek: Any) -> dict[str, Any]:
    """What a consumer does with :meth:`Sealer.seal_for_publish`'s envelope."""
    import tink
    from tink import aead, secret_key_access

    aead.register()
    _version, key_id, body = envelope["sealed"].split(".", 2)
    raw = kek.unwrap(base64.b64decode(envelope["data_key"]), _wrap_aad(key_id))
    primitive = tink.proto_keyset_format.parse(raw, secret_key_access.TOKEN).primitive(aead.Aead)
    plaintext = primitive.decrypt(base64.urlsafe_b64decode(body.encode()),
                                  envelope["aad"].encode())
    return json.loads(plaintext)


def _key_prefix(user_id: str) -> str:
    return f"{user_id}~"


def _aad(user_id: str, place: str) -> bytes:
    return f"{user_id}|{place}".encode()


def _wrap_aad(key_id: str) -> bytes:
    return f"hybridcal-data-key|{key_id}".encode()


def period_start(clock_now: datetime, period: timedelta) -> datetime:
    return datetime.fromtimestamp((clock_now.timestamp() // period.total_seconds())
                                  * period.total_seconds(), tz=clock_now.tzinfo)
