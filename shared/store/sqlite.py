"""SQLite adapter: the embedded default.

One table of JSON documents. Transactions are real (``BEGIN IMMEDIATE``), so the lease and
idempotency logic is proven here under true concurrency; WAL lets readers proceed while a writer
commits. A connection per thread because sqlite3 connections must not be shared across threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from shared import failpoints
from shared.billing import Meter
from shared.store.base import (
    Conflict,
    Document,
    Filter,
    answered_on_server,
    matches,
    streamed_filters,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key        TEXT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;
"""
_SQL_OPS = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class SqliteStore:
    """:class:`shared.store.base.Store` over a SQLite file."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000,
                 meter: Meter | None = None) -> None:
        """``meter`` counts operations as Firestore would bill them (see :mod:`shared.billing`):
        the embedded stack stands for the deployed one, so its counts are the cost model's."""
        self.path = Path(path)
        self.meter = meter or Meter()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # thread -> its connection; connections of finished threads are closed on the next
        # connect (a threaded HTTP server starts a thread per request: keeping them all would
        # exhaust file descriptors).
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._connections_lock = threading.Lock()
        with self._connection() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    # -- connection handling ---------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._connections_lock:
                finished = [t for t in self._connections if not t.is_alive()]
                for thread in finished:
                    self._connections.pop(thread).close()
                self._connections[threading.current_thread()] = conn
        return conn

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # database is locked beyond busy_timeout
            raise Conflict(str(exc)) from exc
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        failpoints.hit("store.after_write")
        return result

    # -- Store -------------------------------------------------------------------------------
    def get(self, collection: str, key: str) -> Document | None:
        self.meter.add("firestore.reads", detail=collection)
        row = self._connection().execute(
            "SELECT data FROM documents WHERE collection=? AND key=?", (collection, key)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, collection: str, key: str, doc: Document) -> None:
        data = _dumps(doc)
        self.meter.add("firestore.writes", detail=collection)
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO documents(collection, key, data) VALUES (?,?,?) "
                "ON CONFLICT(collection, key) DO UPDATE SET data=excluded.data",
                (collection, key, data),
            )
        )

    def merge(self, collection: str, key: str, fields: Document) -> None:
        def apply(current: Document | None) -> tuple[Document, None]:
            return {**(current or {}), **fields}, None

        # Firestore merges without reading (one set with a field mask): one write, no read.
        self.meter.add("firestore.writes", detail=collection)
        self._write(self._transaction(collection, key, apply))

    def delete(self, collection: str, key: str) -> bool:
        # Counted whether or not the document existed: the request is the billed operation.
        self.meter.add("firestore.deletes", detail=collection)
        cur = self._write(
            lambda conn: conn.execute(
                "DELETE FROM documents WHERE collection=? AND key=?", (collection, key)
            )
        )
        return cur.rowcount > 0

    def create(self, collection: str, key: str, doc: Document) -> bool:
        data = _dumps(doc)
        self.meter.add("firestore.writes", detail=collection)
        cur = self._write(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO documents(collection, key, data) VALUES (?,?,?)",
                (collection, key, data),
            )
        )
        return cur.rowcount == 1

    def transact(
        self, collection: str, key: str, fn: Callable[[Document | None], tuple[Document | None, T]]
    ) -> T:
        self.meter.add("firestore.reads", detail=collection)
        return self._write(self._transaction(collection, key, fn, count=True))

    def _transaction(
        self, collection: str, key: str, fn: Callable[[Document | None], tuple[Document | None, T]],
        *, count: bool = False,
    ) -> Callable[[sqlite3.Connection], T]:
        def run(conn: sqlite3.Connection) -> T:
            row = conn.execute(
                "SELECT data FROM documents WHERE collection=? AND key=?", (collection, key)
            ).fetchone()
            new_doc, result = fn(json.loads(row[0]) if row else None)
            if count and (new_doc is not None or row):
                self.meter.add("firestore.writes" if new_doc is not None else "firestore.deletes",
                               detail=collection)
            if new_doc is None:
                if row:
                    conn.execute(
                        "DELETE FROM documents WHERE collection=? AND key=?", (collection, key)
                    )
            else:
                conn.execute(
                    "INSERT INTO documents(collection, key, data) VALUES (?,?,?) "
                    "ON CONFLICT(collection, key) DO UPDATE SET data=excluded.data",
                    (collection, key, _dumps(new_doc)),
                )
            return result

        return run

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
            return []  # matches nothing: like the Firestore adapter, asks (and bills) nothing
        result = self._select(collection, filters, order_by, limit, start_after)
        # Firestore bills the documents a query returns, and one read for a query returning none;
        # for a shape it cannot answer itself, every document the Firestore adapter streams.
        billed = len(result)
        if not answered_on_server(filters, order_by):
            billed = len(self._select(collection, streamed_filters(filters), None, None, None))
        self.meter.add("firestore.reads", max(1, billed), detail=collection)
        return result

    def _select(self, collection: str, filters: list[Filter], order_by: str | None,
                limit: int | None, start_after: str | None) -> list[tuple[str, Document]]:
        if start_after is not None and order_by is not None:
            raise ValueError("start_after pages by key; it cannot be combined with order_by")
        sql = ["SELECT key, data FROM documents WHERE collection=?"]
        params: list[object] = [collection]
        for flt in filters:
            path = _json_path(flt.field)
            if flt.op == "in":
                values = list(flt.value)
                if not values:
                    return []
                sql.append(f"AND json_extract(data, ?) IN ({','.join('?' * len(values))})")
                params.append(path)
                params.extend(_sql_value(v) for v in values)
            else:
                sql.append(f"AND json_extract(data, ?) {_SQL_OPS[flt.op]} ?")
                params.extend([path, _sql_value(flt.value)])
                # SQLite compares across types; Firestore only within a type.
                kinds = _json_types(flt.value)
                sql.append(f"AND json_type(data, ?) IN ({','.join('?' * len(kinds))})")
                params.extend([path, *kinds])
        if start_after is not None:
            sql.append("AND key > ?")
            params.append(start_after)
        if order_by:
            sql.append("AND json_type(data, ?) IS NOT NULL ORDER BY json_extract(data, ?), key")
            params.extend([_json_path(order_by), _json_path(order_by)])
        else:
            sql.append("ORDER BY key")
        if limit is not None:
            sql.append("LIMIT ?")
            params.append(int(limit))
        rows = self._connection().execute(" ".join(sql), params).fetchall()
        result = [(key, json.loads(data)) for key, data in rows]
        # Belt and braces: the SQL filter is authoritative, this keeps None/bool semantics
        # identical to the shared matcher used by the contract tests.
        return [(key, doc) for key, doc in result if matches(doc, filters)]

    def delete_where(self, collection: str, filters: Iterable[Filter]) -> int:
        filters = list(filters)

        def run(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT key, data FROM documents WHERE collection=?", (collection,)
            ).fetchall()
            doomed = [key for key, data in rows if matches(json.loads(data), filters)]
            # as on Firestore: a query for the matches (at least one read), a delete for each
            self.meter.add("firestore.reads", max(1, len(doomed)), detail=collection)
            if doomed:
                self.meter.add("firestore.deletes", len(doomed), detail=collection)
            conn.executemany(
                "DELETE FROM documents WHERE collection=? AND key=?",
                [(collection, key) for key in doomed],
            )
            return len(doomed)

        return self._write(run)

    def iter_all(self, collection: str, page_size: int = 500) -> Iterator[tuple[str, Document]]:
        last: str | None = None
        while True:
            page = self.query(collection, limit=page_size, start_after=last)
            yield from page
            if len(page) < page_size:
                return
            last = page[-1][0]


def _dumps(doc: Document) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def _json_path(field: str) -> str:
    if not field.replace("_", "").isalnum():
        raise ValueError(f"unsupported field name {field!r}")
    return f"$.{field}"


def _sql_value(value: object) -> object:
    if isinstance(value, bool):
        return 1 if value else 0
    return value


def _json_types(value: object) -> tuple[str, ...]:
    """JSON types a value compares with (Firestore orders numbers together, bools apart)."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("true", "false")
    if isinstance(value, int | float):
        return ("integer", "real")
    if isinstance(value, str):
        return ("text",)
    raise ValueError(f"unsupported filter value {value!r}")
