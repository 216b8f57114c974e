"""Persistence behind one small Protocol (see :mod:`shared.store.base`).

Adapters: :mod:`shared.store.sqlite` (embedded default, real transactions) and
:mod:`shared.store.firestore` (deployed). Import the adapter you need directly so that the
Firestore client is only loaded by code that uses it.
"""

from shared.store.base import Conflict, Filter, Store

__all__ = ["Conflict", "Filter", "Store"]
