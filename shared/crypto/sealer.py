"""Envelope encryption of user data: the data rule made hard to forget.

Each user has a data key per rotation period (Tink AES-256-GCM), wrapped by the key-encryption
key (Cloud KMS deployed, a local keyset embedded) and stored wrapped in ``data_keys``. Unwrapped
keys are cached for a bounded time, number of uses and cache size, so KMS is called about once
per user per period instead of once per record (Tink's per-record ``KmsEnvelopeAead`` calls it
for every record; see ``bench/bench_crypto.py``). The associated data ``user|place`` binds each
ciphertext to its owner and record: a blob copied elsewhere fails to open. Deleting a user's
wrapped keys (:meth:`Sealer.shred_user`) makes everything left behind unreadable.

A sealed blob is ``v1.<key id>.<base64url Tink ciphertext>``; the key id is
``<user id>~<period number>`` (``~p<period>`` for publishing keys), which is why user ids must be
pseudonyms (:mod:`shared.pseudonym`): they appear in the clear in blobs and key records.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import tink
from tink import aead, secret_key_access

from shared.clock import Clock, to_rfc3339
from shared.keys.base import KeyEncryptionKey, UnwrapFailed
from shared.store import names
from shared.store.base import Filter, Store

_LOGGER = logging.getLogger(__name__)
COLLECTION = names.DATA_KEYS
VERSION = "v1"
_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KEY_ID = re.compile(r"^([A-Za-z0-9_-]{1,64})~(p?)(\d{1,12})$")
_LOAD_LOCKS = 64  # striped locks: concurrent misses on one key make one KEK call, bounded memory

# (place, blob, document key, save(new_blob)) -- see Sealer.rotate_user
ResealItem = tuple[str, str, str, Callable[[str], None]]


class SealedDataError(Exception):
    """A blob cannot be opened. Messages never include plaintext, blobs or places."""


class TamperedOrMisplaced(SealedDataError):
    """Authentication failed: altered, truncated, or copied to another user/record."""


class UnknownDataKey(SealedDataError):
    """The blob names a data key that does not exist (never did, or was shredded)."""


class MalformedBlob(SealedDataError):
    """Not a sealed blob of a known version."""


class DataKeyUnwrapError(SealedDataError):
    """The stored wrapped data key did not unwrap: its record was altered, or the KEK is not the
    one that wrapped it (e.g. a regenerated local keyset, or the wrong KMS key configured)."""


@dataclass
class _Entry:
    """An unwrapped data key in the cache, with what a published envelope needs to carry."""

    primitive: aead.Aead
    wrapped: str
    kek_uri: str
    expires: datetime
    uses: int = 0


class Sealer:
    """Seals and opens user records with per-user, per-period data keys.

    ``rotation_period`` decides when a new data key is made (old ones keep opening old records);
    ``cache_ttl``, ``cache_max_uses`` and ``cache_size`` bound how long, how often and how many
    unwrapped keys stay in memory. Thread-safe.
    """

    def __init__(self, store: Store, kek: KeyEncryptionKey, clock: Clock, *,
                 rotation_period: timedelta = timedelta(days=30),
                 cache_ttl: timedelta = timedelta(minutes=10), cache_max_uses: int = 10_000,
                 cache_size: int = 4096) -> None:
        if rotation_period <= timedelta(0) or cache_max_uses < 1 or cache_size < 1:
            raise ValueError("rotation period, cache uses and cache size must be positive")
        aead.register()
        self._store, self._kek, self._clock = store, kek, clock
        self._period = rotation_period
        self._ttl, self._max_uses, self._size = cache_ttl, cache_max_uses, cache_size
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        # Wrapped publishing keys (not secret: KMS must unwrap them) for :meth:`envelope`.
        self._wrapped: OrderedDict[str, tuple[str, str, datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks = [threading.Lock() for _ in range(_LOAD_LOCKS)]

    # -- sealing -------------------------------------------------------------------------------
    def seal(self, user_id: str, place: str, record: dict[str, Any]) -> str:
        """Encrypt ``record`` (JSON-able) for ``user_id`` at ``place`` (e.g. ``meetings|<key>``).

        The same ``(user_id, place)`` must be given to :meth:`open`.
        """
        return self._seal(user_id, place, record, self.current_key_id(user_id))[0]

    def open(self, user_id: str, place: str, blob: str) -> dict[str, Any]:
        """Decrypt a blob made by :meth:`seal` for the same user and place.

        Raises a :class:`SealedDataError` subclass, never returns garbage.
        """
        key_id, ciphertext = _parse(blob)
        owner, _purpose, _period = _split_key_id(key_id)
        if owner != user_id:
            raise TamperedOrMisplaced("sealed blob belongs to another user")
        entry = self._entry(user_id, key_id, create=False)
        try:
            plaintext = entry.primitive.decrypt(ciphertext, _aad(user_id, place))
        except tink.TinkError:
            raise TamperedOrMisplaced("sealed blob failed authentication (altered, truncated, "
                                      "or not this user's/record's)") from None
        record: dict[str, Any] = json.loads(plaintext)  # sealed from a dict, authenticated
        return record

    def seal_for_publish(self, user_id: str, place: str, record: dict[str, Any]) -> dict[str, str]:
        """A self-contained envelope for the collaboration cloud.

        ``{"sealed", "data_key", "kek", "aad"}``: the blob, its data key wrapped by the KEK
        (base64), the KEK's URI and the associated data. A consumer with decrypt rights on the
        KEK opens it without access to our store (:func:`open_published` is the reference):

        1. ``key_id`` = the middle field of ``sealed`` (``v1.<key id>.<ciphertext>``);
        2. KMS ``decrypt(name=<kek without gcp-kms://>, ciphertext=b64decode(data_key),
           additionalAuthenticatedData="hybridcal-data-key|<key id>")`` gives a Tink binary
           keyset holding one AES256_GCM key;
        3. Tink AEAD ``decrypt(b64url_decode(<ciphertext>), associated_data=aad)`` gives the
           JSON record.

        Publishing uses a separate data key per user and period (``~p`` key ids), so a consumer
        that unwraps a message's key can read messages, never our stored records.
        """
        blob, entry = self._seal(user_id, place, record, self.current_key_id(user_id, "p"))
        return {"sealed": blob, "data_key": entry.wrapped, "kek": entry.kek_uri,
                "aad": f"{user_id}|{place}"}

    def seal_notice(self, user_id: str, place: str, record: dict[str, Any]) -> str:
        """Seal now, with the user's publishing key, what another instance publishes later.

        A join notification is sealed when its meeting is indexed (the indexing instance holds
        the user's keys already) and published by the minute tick, which then needs neither
        the stored record opened nor a key unwrapped: :meth:`envelope` adds the *wrapped* data
        key from its key record, no KMS call. Only the blob is stored, so a shredded user's
        stored notices never open: their key record is gone.
        """
        return self._seal(user_id, place, record, self.current_key_id(user_id, "p"))[0]

    def envelope(self, user_id: str, place: str, blob: str) -> dict[str, str]:
        """:meth:`seal_for_publish`'s envelope for a blob :meth:`seal_notice` made.

        Reads the key record at most once per ``cache_ttl`` (wrapped keys are cached like
        unwrapped ones, so a shredding elsewhere is seen within that time) and never calls the
        KEK. Raises :class:`TamperedOrMisplaced` for a blob that is not this user's publishing
        blob, :class:`UnknownDataKey` when the key was shredded.
        """
        key_id, _ciphertext = _parse(blob)
        owner, purpose, _period = _split_key_id(key_id)
        if owner != user_id or purpose != "p":
            raise TamperedOrMisplaced("not a publishing blob of this user")
        wrapped, kek_uri = self._wrapped_key(key_id)
        return {"sealed": blob, "data_key": wrapped, "kek": kek_uri,
                "aad": f"{user_id}|{place}"}

    def _wrapped_key(self, key_id: str) -> tuple[str, str]:
        now = self._clock.now()
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is not None and entry.expires > now:
                return entry.wrapped, entry.kek_uri
            hit = self._wrapped.get(key_id)
            if hit is not None and hit[2] > now:
                self._wrapped.move_to_end(key_id)
                return hit[0], hit[1]
        doc = self._store.get(COLLECTION, key_id)
        if doc is None or not doc.get("wrapped"):
            raise UnknownDataKey("data key not found (shredded or never existed)")
        wrapped, kek_uri = str(doc["wrapped"]), str(doc["kek"])
        with self._lock:
            self._wrapped[key_id] = (wrapped, kek_uri, now + self._ttl)
            self._wrapped.move_to_end(key_id)
            while len(self._wrapped) > self._size:
                self._wrapped.popitem(last=False)
        return wrapped, kek_uri

    # -- key lifecycle -------------------------------------------------------------------------
    def current_key_id(self, user_id: str, purpose: str = "") -> str:
        """The data key id new records of this user get now (``purpose`` ``p``: publishing)."""
        if not _USER_ID.match(user_id):
            raise ValueError("user ids must be pseudonyms (shared.pseudonym), never emails")
        return f"{user_id}~{purpose}{self.period_of(self._clock.now())}"

    def period_of(self, when: datetime) -> int:
        """The rotation period number containing ``when`` (periods count from the epoch)."""
        return int(when.timestamp() // self._period.total_seconds())

    @staticmethod
    def key_id_of(blob: str) -> str:
        """The data key id a blob was sealed with (raises :class:`MalformedBlob`)."""
        return _parse(blob)[0]

    def rotate_user(self, user_id: str, records: Iterable[ResealItem]) -> int:
        """Re-seal records not sealed with the user's current key; returns how many.

        Each item is ``(place, blob, document key, save)``; ``save(new_blob)`` persists the new
        blob (the caller knows its collection and field, see :mod:`shared.crypto.reseal`). Old keys keep
        opening old records, so this is never needed for correctness: it lets an operator retire
        old keys (:meth:`retire_keys`) after a suspected exposure.
        """
        current = self.current_key_id(user_id)
        count = 0
        for place, blob, _key, save in records:
            if self.key_id_of(blob) != current:
                save(self._seal(user_id, place, self.open(user_id, place, blob), current)[0])
                count += 1
        _LOGGER.info("re-sealed records", extra={"json_fields": {"user": user_id,
                                                                 "resealed": count}})
        return count

    def retire_keys(self, user_id: str, keep: Iterable[str]) -> int:
        """Delete the user's storage data keys except ``keep`` and the current one.

        Run after :meth:`rotate_user` with the key ids still referenced by stored blobs.
        Publishing keys are left alone: they only matter to messages already delivered.
        """
        keep_ids = {*keep, self.current_key_id(user_id)}
        retired = 0
        for key_id, doc in self._store.query(COLLECTION, [Filter("user_id", "==", user_id)]):
            if doc.get("purpose", "") == "" and key_id not in keep_ids:
                retired += self._store.delete(COLLECTION, key_id)
                self._forget(key_id)
        return retired

    def shred_user(self, user_id: str) -> int:
        """Crypto-shredding: delete every wrapped data key of the user; returns how many.

        Afterwards nothing sealed for the user opens (:class:`UnknownDataKey`), wherever copies
        of the blobs survive (backups, exports, dead-letter queues).
        """
        with self._lock:
            for key_id in [k for k in self._cache if k.startswith(f"{user_id}~")]:
                del self._cache[key_id]
            for key_id in [k for k in self._wrapped if k.startswith(f"{user_id}~")]:
                del self._wrapped[key_id]
        shredded = self._store.delete_where(COLLECTION, [Filter("user_id", "==", user_id)])
        _LOGGER.info("data keys shredded", extra={"json_fields": {"user": user_id,
                                                                  "data_keys": shredded}})
        return shredded

    # -- internals -----------------------------------------------------------------------------
    def _seal(self, user_id: str, place: str, record: dict[str, Any],
              key_id: str) -> tuple[str, _Entry]:
        entry = self._entry(user_id, key_id, create=True)
        plaintext = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
        ciphertext = entry.primitive.encrypt(plaintext, _aad(user_id, place))
        return f"{VERSION}.{key_id}.{base64.urlsafe_b64encode(ciphertext).decode()}", entry

    def _entry(self, user_id: str, key_id: str, *, create: bool) -> _Entry:
        """The cached unwrapped key, loading (and for sealing, creating) it on a miss."""
        hit = self._cached(key_id)
        if hit:
            return hit
        with self._load_locks[hash(key_id) % _LOAD_LOCKS]:
            hit = self._cached(key_id)  # another thread may have loaded it while we waited
            if hit:
                return hit
            entry = self._load(user_id, key_id, create)
            with self._lock:
                self._cache[key_id] = entry
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            return entry

    def _cached(self, key_id: str) -> _Entry | None:
        now = self._clock.now()
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is None:
                return None
            if entry.expires <= now or entry.uses >= self._max_uses:
                del self._cache[key_id]
                return None
            entry.uses += 1
            self._cache.move_to_end(key_id)
            return entry

    def _forget(self, key_id: str) -> None:
        with self._lock:
            self._cache.pop(key_id, None)

    def _load(self, user_id: str, key_id: str, create: bool) -> _Entry:
        doc = self._store.get(COLLECTION, key_id)
        if doc is None:
            if not create:
                raise UnknownDataKey("data key not found (shredded or never existed)")
            created = self._create(user_id, key_id)
            if created:
                return created
            doc = self._store.get(COLLECTION, key_id)  # a concurrent writer won: use theirs
            if doc is None:
                raise UnknownDataKey("data key vanished while being created (shredded)")
        try:
            raw = self._kek.unwrap(base64.b64decode(doc["wrapped"]), _wrap_aad(key_id))
            handle = tink.proto_keyset_format.parse(raw, secret_key_access.TOKEN)
        except (UnwrapFailed, tink.TinkError, KeyError, binascii.Error):
            _LOGGER.error("stored data key does not unwrap", extra={"json_fields": {
                "user": user_id, "key_id": key_id, "kek": doc.get("kek")}})
            raise DataKeyUnwrapError("the stored data key does not unwrap with the configured "
                                     "key-encryption key") from None
        return _Entry(handle.primitive(aead.Aead), doc["wrapped"], str(doc.get("kek", "")),
                      self._clock.now() + self._ttl, 1)

    def _create(self, user_id: str, key_id: str) -> _Entry | None:
        _owner, purpose, period = _split_key_id(key_id)
        handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
        raw = tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
        wrapped = base64.b64encode(self._kek.wrap(raw, _wrap_aad(key_id))).decode()
        now = self._clock.now()
        doc = {"user_id": user_id, "key_id": key_id, "period": period, "purpose": purpose,
               "kek": self._kek.key_uri, "created": to_rfc3339(now), "wrapped": wrapped}
        if not self._store.create(COLLECTION, key_id, doc):
            return None
        _LOGGER.info("data key created", extra={"json_fields": {"user": user_id,
                                                                "key_id": key_id}})
        return _Entry(handle.primitive(aead.Aead), wrapped, self._kek.key_uri,
                      now + self._ttl, 1)


def open_published(envelope: dict[str, Any], kek: KeyEncryptionKey) -> dict[str, Any]:
    """What a consumer does with :meth:`Sealer.seal_for_publish`'s envelope (no store needed).

    When the message also carries ``user_id`` and ``place`` in the clear (as ``meetings-updated``
    does), they must match the sealed associated data: a consumer never trusts one without the
    other.
    """
    aead.register()
    try:
        key_id, ciphertext = _parse(envelope["sealed"])
        aad = str(envelope["aad"])
        wrapped = base64.b64decode(envelope["data_key"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        raise MalformedBlob("not a published envelope") from None
    if "user_id" in envelope and "place" in envelope and \
            aad != f"{envelope['user_id']}|{envelope['place']}":
        raise TamperedOrMisplaced("envelope associated data does not match its user and place")
    try:
        raw = kek.unwrap(wrapped, _wrap_aad(key_id))
        primitive = tink.proto_keyset_format.parse(raw, secret_key_access.TOKEN).primitive(
            aead.Aead)
    except (UnwrapFailed, tink.TinkError):
        raise DataKeyUnwrapError("the envelope's data key does not unwrap with this "
                                 "key-encryption key") from None
    try:
        record: dict[str, Any] = json.loads(primitive.decrypt(ciphertext, aad.encode()))
    except tink.TinkError:
        raise TamperedOrMisplaced("published envelope failed authentication") from None
    return record


def _parse(blob: str) -> tuple[str, bytes]:
    """``(key id, ciphertext)``; nothing of the input is echoed in errors (it may be plaintext
    passed by mistake)."""
    try:
        version, key_id, body = blob.split(".", 2)
        ciphertext = base64.b64decode(body, altchars=b"-_", validate=True)
    except (ValueError, AttributeError, TypeError):
        raise MalformedBlob("not a sealed blob") from None
    if version != VERSION:
        raise MalformedBlob("unknown sealed blob version")
    if not _KEY_ID.match(key_id) or not ciphertext:
        raise MalformedBlob("sealed blob has no valid data key id or ciphertext")
    return key_id, ciphertext


def _split_key_id(key_id: str) -> tuple[str, str, int]:
    match = _KEY_ID.match(key_id)
    if not match:
        raise MalformedBlob("invalid data key id")
    return match.group(1), match.group(2), int(match.group(3))


def _aad(user_id: str, place: str) -> bytes:
    return f"{user_id}|{place}".encode()


def _wrap_aad(key_id: str) -> bytes:
    """Binds a wrapped data key to its id (which names its user): a wrapped key copied into
    another user's key record does not unwrap."""
    return f"hybridcal-data-key|{key_id}".encode()
