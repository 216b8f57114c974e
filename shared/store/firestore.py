"""Firestore adapter: the deployed :class:`shared.store.base.Store`.

Mapping. ``(collection, key)`` is the document ``{prefix}{collection}/{encode_key(key)}``. Keys
may hold ``/`` and any unicode, which Firestore document ids cannot, so ids are percent-encoded
(see :func:`encode_key`) and the original key is stored in the reserved field ``_key``. Queries
order and page on ``_key`` (not on the document id) because percent-encoding does not preserve
order; Firestore compares strings by UTF-8 bytes, like SQLite and Python, so key order is the
same in every adapter.

Composite indexes (read by the infra helper). A query runs on the server when every inequality
filter (``<``, ``<=``, ``>``, ``>=``, ``!=``) is on the ordering field and ``in`` lists hold at
most 30 values; it then orders by ``(order_by, _key)`` and needs this composite index,
ascending, in this field order (:func:`required_index` computes it)::

    [each equality/in field, in filter order] + [order_by, if given] + ["_key"]

A composite index is needed whenever that list has two or more fields (a single field uses
Firestore's automatic index), e.g. ``users: status ==, paged by key`` needs ``(status, _key)``
and ``channels: state ==, order_by expires`` needs ``(state, expires, _key)``. Other shapes (a
range filter on a field other than the ordering field, ``in`` with more than 30 values) are
answered by streaming every match and ordering/paging in Python: correct, but it reads all
matches, so keep such queries narrow.

Writes. ``create`` is a create-with-precondition (one of many concurrent callers wins);
``transact`` is a Firestore transaction; an attempt aborted by contention (at a read or at the
commit) is retried after a random pause that grows with each attempt (full-jitter exponential
backoff, as Firestore's Node.js client does; the Python client alone retries at once, into the
same contention), keeping the first attempt's place in line where the client allows (commit
aborts), and :class:`~shared.store.base.Conflict` is raised when ``max_attempts`` run out;
``delete_where`` deletes in batches of at most 500 writes and, unlike SQLite, is not atomic as a
whole (each batch is). Lists of lists cannot be stored (a Firestore limit).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from shared.billing import Meter
from shared.store.base import (
    FIRESTORE_MAX_IN_VALUES,
    INEQUALITIES,
    Conflict,
    Document,
    Filter,
    answered_on_server,
    matches,
    streamed_filters,
)

if TYPE_CHECKING:
    from google.cloud.firestore_v1.base_document import DocumentSnapshot
    from google.cloud.firestore_v1.collection import CollectionReference
    from google.cloud.firestore_v1.document import DocumentReference
    from google.cloud.firestore_v1.query import Query
    from google.cloud.firestore_v1.transaction import Transaction

    Snapshot = DocumentSnapshot[DocumentReference]

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

KEY_FIELD = "_key"
TTL_FIELD = "expire_at"  # infra/firestore.tf's TTL policy field
MAX_BATCH = 500  # Firestore's limit of writes per commit
MAX_IN_VALUES = FIRESTORE_MAX_IN_VALUES
BACKOFF_BASE = 0.5  # seconds: the longest pause after the first aborted attempt (full jitter)
BACKOFF_CAP = 2.0  # seconds: the longest pause between two attempts
_INEQUALITIES = INEQUALITIES
_RESERVED_ID = re.compile(r"^__.*__$", re.DOTALL)


def encode_key(key: str) -> str:
    """A valid Firestore document id for ``key``, reversible by :func:`decode_key`.

    Firestore ids cannot contain ``/``, cannot be ``.``, ``..`` or match ``__.*__``, and are at
    most 1500 bytes. ``%`` and ``/`` are percent-encoded; a reserved form gets its first
    character encoded, which makes it unreserved and still decodable.
    """
    if not key:
        raise ValueError("store keys must be non-empty")
    encoded = key.replace("%", "%25").replace("/", "%2F")
    if encoded in (".", "..") or _RESERVED_ID.match(encoded):
        encoded = f"%{ord(encoded[0]):02X}{encoded[1:]}"
    if len(encoded.encode()) > 1500:
        raise ValueError(f"store key too long for a Firestore document id ({len(key)} chars)")
    return encoded


def decode_key(doc_id: str) -> str:
    """Inverse of :func:`encode_key` (only ``%XX`` escapes that it produces occur)."""
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), doc_id)


def required_index(
    filters: Iterable[Filter] = (), order_by: str | None = None
) -> tuple[str, ...] | None:
    """Fields (all ascending) of the composite index a query needs; None if none is needed.

    Returns None too for query shapes answered in Python (see the module docstring), which only
    use Firestore's automatic single-field indexes.
    """
    filters = list(filters)
    if not _server_side(filters, order_by):
        return None
    fields: list[str] = []
    for flt in filters:
        if flt.op not in _INEQUALITIES and flt.field not in fields:
            fields.append(flt.field)
    if order_by:
        fields.append(order_by)
    fields.append(KEY_FIELD)
    return tuple(fields) if len(fields) > 1 else None


def _server_side(filters: list[Filter], order_by: str | None) -> bool:
    return answered_on_server(filters, order_by)  # KEY_FIELD is the default order, "_key"


class FirestoreStore:
    """:class:`shared.store.base.Store` over Cloud Firestore (native mode)."""

    def __init__(
        self,
        client: firestore.Client | None = None,
        *,
        project: str | None = None,
        database: str = "(default)",
        prefix: str = "",
        max_attempts: int = 10,
        meter: Meter | None = None,
    ) -> None:
        """``prefix`` is prepended to collection names (tests and side-by-side deployments);
        ``meter`` counts billed reads, writes and deletes (:mod:`shared.billing`)."""
        self.meter = meter or Meter()
        self._client = client or firestore.Client(project=project, database=database)
        self._prefix = prefix
        self._max_attempts = max_attempts
        self._sleep: Callable[[float], None] = time.sleep  # replaceable in tests

    # -- mapping -------------------------------------------------------------------------------
    def _collection(self, collection: str) -> CollectionReference:
        return self._client.collection(self._prefix + collection)

    def _ref(self, collection: str, key: str) -> DocumentReference:
        return self._collection(collection).document(encode_key(key))

    @staticmethod
    def _to_firestore(key: str, doc: Document) -> Document:
        if KEY_FIELD in doc:
            raise ValueError(f"the field {KEY_FIELD!r} is reserved by the Firestore store")
        data = {**doc, KEY_FIELD: key}
        if isinstance(data.get(TTL_FIELD), str):
            # Firestore's TTL policy only acts on Timestamp values; callers write RFC 3339
            # strings like every other time, so the conversion happens here, both ways.
            from shared.clock import from_rfc3339

            data[TTL_FIELD] = from_rfc3339(data[TTL_FIELD])
        return data

    @staticmethod
    def _from_snapshot(snapshot: Snapshot) -> Document | None:
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        data.pop(KEY_FIELD, None)
        expire_at = data.get(TTL_FIELD)
        if expire_at is not None and not isinstance(expire_at, str):
            from shared.clock import to_rfc3339

            data[TTL_FIELD] = to_rfc3339(expire_at)
        return data

    @staticmethod
    def _key_of(snapshot: Snapshot) -> str:
        data = snapshot.to_dict() or {}
        return data.get(KEY_FIELD) or decode_key(snapshot.id)

    # -- Store ---------------------------------------------------------------------------------
    def get(self, collection: str, key: str) -> Document | None:
        self.meter.add("firestore.reads", detail=collection)
        return self._from_snapshot(self._ref(collection, key).get())

    def put(self, collection: str, key: str, doc: Document) -> None:
        self.meter.add("firestore.writes", detail=collection)
        self._ref(collection, key).set(self._to_firestore(key, doc))

    def merge(self, collection: str, key: str, fields: Document) -> None:
        # Merge with an explicit field list: each named top-level field is replaced as a whole
        # (merge=True would merge nested maps too, which SQLite does not do).
        data = self._to_firestore(key, fields)
        paths = [FieldPath(name) for name in data]
        self.meter.add("firestore.writes", detail=collection)
        # merge= is annotated bool, but Firestore documents and accepts a list of field paths.
        self._ref(collection, key).set(data, merge=paths)  # type: ignore[arg-type]

    def delete(self, collection: str, key: str) -> bool:
        # An exists precondition tells in one atomic write whether there was something to delete.
        # Counted whether or not the document existed: the request is the billed operation.
        self.meter.add("firestore.deletes", detail=collection)
        try:
            self._ref(collection, key).delete(option=self._client.write_option(exists=True))
        except gexc.NotFound:
            return False
        return True

    def create(self, collection: str, key: str, doc: Document) -> bool:
        self.meter.add("firestore.writes", detail=collection)
        try:
            self._ref(collection, key).create(self._to_firestore(key, doc))
        except gexc.AlreadyExists:
            return False
        return True

    def transact(
        self, collection: str, key: str, fn: Callable[[Document | None], tuple[Document | None, T]]
    ) -> T:
        ref = self._ref(collection, key)
        attempts = 0
        outcome = [""]  # what the last attempt's commit writes: counted once it commits

        @firestore.transactional
        def attempt(transaction: Transaction) -> T:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                # Pause before a retry: the client retries an aborted commit at once, into the
                # same contention. The pause is inside the retried transaction (begun, no reads
                # yet, so no locks held), which keeps the first attempt's place in line.
                pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 2)))
                _LOGGER.debug("transaction on %s aborted, attempt %d in %.2f s", collection,
                              attempts, pause)
                self._sleep(pause)
            snapshot = ref.get(transaction=transaction)
            self.meter.add("firestore.reads", detail=collection)  # every attempt's read is billed
            new_doc, result = fn(self._from_snapshot(snapshot))
            if new_doc is None:
                if snapshot.exists:
                    transaction.delete(ref)
                    outcome[0] = "firestore.deletes"
                else:
                    outcome[0] = ""
            else:
                transaction.set(ref, self._to_firestore(key, new_doc))
                outcome[0] = "firestore.writes"
            return result

        while True:
            before = attempts
            try:
                committed: T = attempt(
                    self._client.transaction(max_attempts=self._max_attempts - attempts))
            except gexc.Aborted as exc:
                # A read aborted by contention: the client retries aborted commits only.
                failure: Exception = exc
            except ValueError as exc:
                # The client reports aborted commits after its last attempt as a ValueError.
                if not isinstance(exc.__cause__, gexc.Aborted):
                    raise
                failure = exc
            else:
                if outcome[0]:
                    self.meter.add(outcome[0], detail=collection)
                return committed
            attempts = max(attempts, before + 1)  # an abort before fn ran counts too
            if attempts >= self._max_attempts:
                raise Conflict(f"{collection}/{key}: aborted by contention {attempts} times "
                               f"({failure})") from failure

    def query(
        self,
        collection: str,
        filters: Iterable[Filter] = (),
        *,
        order_by: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[tuple[str, Document]]:
        filters = list(filters)
        if start_after is not None and order_by is not None:
            raise ValueError("start_after pages by key; it cannot be combined with order_by")
        if any(f.op == "in" and not list(f.value) for f in filters):
            return []
        if _server_side(filters, order_by):
            return self._query_server(collection, filters, order_by, limit, start_after)
        return self._query_local(collection, filters, order_by, limit, start_after)

    def _base_query(self, collection: str, filters: list[Filter]) -> CollectionReference | Query:
        q: CollectionReference | Query = self._collection(collection)
        for flt in filters:
            value = list(flt.value) if flt.op == "in" else flt.value
            q = q.where(filter=FieldFilter(flt.field, flt.op, value))
        return q

    def _query_server(
        self,
        collection: str,
        filters: list[Filter],
        order_by: str | None,
        limit: int | None,
        start_after: str | None,
    ) -> list[tuple[str, Document]]:
        q = self._base_query(collection, filters)
        if order_by:
            q = q.order_by(order_by)
        q = q.order_by(KEY_FIELD)
        if start_after is not None:
            # A cursor on the ordering field: the next page begins after the last key seen.
            q = q.start_after({KEY_FIELD: start_after})
        if limit is not None:
            q = q.limit(int(limit))
        rows = [(self._key_of(s), self._from_snapshot(s) or {}) for s in q.stream()]
        self._count_query(collection, len(rows))
        return [(key, doc) for key, doc in rows if matches(doc, filters)]

    def _query_local(
        self,
        collection: str,
        filters: list[Filter],
        order_by: str | None,
        limit: int | None,
        start_after: str | None,
    ) -> list[tuple[str, Document]]:
        _LOGGER.debug("query on %s ordered in Python (shape not indexable)", collection)
        server_filters = streamed_filters(filters)
        rows = [
            (self._key_of(s), self._from_snapshot(s) or {})
            for s in self._base_query(collection, server_filters).stream()
        ]
        self._count_query(collection, len(rows))  # every streamed match is billed
        rows = [(key, doc) for key, doc in rows if matches(doc, filters)]
        if start_after is not None:
            rows = [(key, doc) for key, doc in rows if key > start_after]
        if order_by:
            rows = [(key, doc) for key, doc in rows if order_by in doc]
            rows.sort(key=lambda row: (_type_order(row[1][order_by]), row[0]))
        else:
            rows.sort(key=lambda row: row[0])
        return rows[:limit] if limit is not None else rows

    def delete_where(self, collection: str, filters: Iterable[Filter]) -> int:
        filters = list(filters)
        if any(f.op == "in" and not list(f.value) for f in filters):
            return 0
        server_filters = streamed_filters(filters)
        deleted = 0
        batch = self._client.batch()
        pending = 0
        streamed = 0
        for snapshot in self._base_query(collection, server_filters).stream():
            streamed += 1
            if not matches(self._from_snapshot(snapshot) or {}, filters):
                continue
            batch.delete(snapshot.reference)
            self.meter.add("firestore.deletes", detail=collection)
            pending += 1
            if pending == MAX_BATCH:
                batch.commit()
                deleted += pending
                batch, pending = self._client.batch(), 0
        if pending:
            batch.commit()
            deleted += pending
        self._count_query(collection, streamed)
        return deleted

    def _count_query(self, collection: str, documents: int) -> None:
        """Firestore bills every document a query returns, and one read when it returns none."""
        self.meter.add("firestore.reads", max(1, documents), detail=collection)

    def iter_all(self, collection: str, page_size: int = 500) -> Iterator[tuple[str, Document]]:
        last: str | None = None
        while True:
            page = self.query(collection, limit=page_size, start_after=last)
            yield from page
            if len(page) < page_size:
                return
            last = page[-1][0]


def _type_order(value: Any) -> tuple[int, Any]:  # Any: stored JSON; compared within a rank
    """Firestore's cross-type value order: null < bool < number < string < list < map."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (4, len(value))
    return (5, len(value))
