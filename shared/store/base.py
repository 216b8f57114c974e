"""The storage contract every adapter honours.

Documents are JSON-compatible dicts addressed by ``(collection, key)``. The contract is narrow on
purpose: the features need point reads and writes, conditional creates (idempotency keys),
read-modify-write transactions (leases, pending flags, state machines) and a few indexed queries
(channels expiring soon, users by status, a user's meetings in a time window). Anything wider
would be hard to give the same meaning on SQLite and Firestore, and the shared contract tests in
``tests/shared/store/`` would stop proving the adapters interchangeable.

Values: str, int, float, bool, None, lists and dicts of those. Datetimes are stored as RFC 3339
strings in UTC (``Z``) by the caller, so that string order is time order in both backends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from shared.errors import TransientError

Document = dict[str, Any]
Op = Literal["==", "!=", "<", "<=", ">", ">=", "in"]
T = TypeVar("T")


@dataclass(frozen=True)
class Filter:
    """One ``field op value`` condition; ``field`` is a top-level document field."""

    field: str
    op: Op
    value: Any  # Any: a JSON scalar (a list of them for "in"), compared with stored values


class Conflict(TransientError):
    """A transaction could not commit because of concurrent writers, even after retries.

    Transient: the same write succeeds once the contention passes, so a Pub/Sub handler is
    redelivered and an HTTP caller is told to retry (503), never given a bare 500."""


class Store(Protocol):
    """Document store used by every feature. All methods are safe to call concurrently."""

    def get(self, collection: str, key: str) -> Document | None:
        """The document, or None when absent."""

    def put(self, collection: str, key: str, doc: Document) -> None:
        """Create or replace the whole document."""

    def merge(self, collection: str, key: str, fields: Document) -> None:
        """Set top-level fields (creating the document if absent); other fields are kept."""

    def delete(self, collection: str, key: str) -> bool:
        """Delete; True when something was deleted. Deleting a missing document is not an error."""

    def create(self, collection: str, key: str, doc: Document) -> bool:
        """Create only if absent: True if this call created it, False if it already existed.

        This is the primitive behind idempotency keys: of many concurrent callers exactly one
        gets True.
        """

    def transact(
        self, collection: str, key: str, fn: Callable[[Document | None], tuple[Document | None, T]]
    ) -> T:
        """Atomically read-modify-write one document.

        ``fn`` receives the current document (or None) and returns ``(new_doc, result)``;
        ``new_doc`` None deletes (or leaves absent), otherwise it replaces the document. ``fn``
        may run more than once under contention and must not have side effects. Returns
        ``result`` of the committed attempt; raises :class:`Conflict` if it cannot commit.
        """

    def query(
        self,
        collection: str,
        filters: Iterable[Filter] = (),
        *,
        order_by: str | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> list[tuple[str, Document]]:
        """Documents matching every filter as ``(key, doc)`` pairs.

        Ordered by ``order_by`` (ascending) then key; ``start_after`` is the key of the last item
        of the previous page and requires ordering by key only (``order_by`` None), which is how
        callers page through large collections.
        """

    def delete_where(self, collection: str, filters: Iterable[Filter]) -> int:
        """Delete every matching document; returns how many were deleted."""

    def iter_all(self, collection: str, page_size: int = 500) -> Iterator[tuple[str, Document]]:
        """Every document of a collection in key order, fetched in pages."""


FIRESTORE_MAX_IN_VALUES = 30  # Firestore's limit of values in an ``in`` filter
INEQUALITIES = frozenset({"<", "<=", ">", ">=", "!="})


def answered_on_server(filters: Iterable[Filter], order_by: str | None) -> bool:
    """Whether Firestore answers this query shape itself (ordered and limited on the server).

    Otherwise the Firestore adapter streams every document matching :func:`streamed_filters`
    and orders, pages and limits in Python: Firestore then bills every streamed document, and
    the SQLite adapter counts the same (see ``docs/cost.md``)."""
    order_field = order_by or "_key"
    for flt in filters:
        if flt.op in INEQUALITIES and flt.field != order_field:
            return False
        if flt.op == "in" and len(list(flt.value)) > FIRESTORE_MAX_IN_VALUES:
            return False
    return True


def streamed_filters(filters: Iterable[Filter]) -> list[Filter]:
    """The filters Firestore applies when the adapter orders in Python (``in`` lists above
    Firestore's limit are checked in Python only)."""
    return [f for f in filters if f.op != "in" or len(list(f.value)) <= FIRESTORE_MAX_IN_VALUES]


def matches(doc: Document, filters: Iterable[Filter]) -> bool:
    """Evaluate filters in Python, with Firestore's rule that a missing field never matches."""
    for flt in filters:
        if flt.field not in doc:
            return False
        value = doc[flt.field]
        try:
            if flt.op == "==" and not value == flt.value:
                return False
            if flt.op == "!=" and not value != flt.value:
                return False
            if flt.op == "<" and not value < flt.value:
                return False
            if flt.op == "<=" and not value <= flt.value:
                return False
            if flt.op == ">" and not value > flt.value:
                return False
            if flt.op == ">=" and not value >= flt.value:
                return False
            if flt.op == "in" and value not in flt.value:
                return False
        except TypeError:
            return False
    return True
