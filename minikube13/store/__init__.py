"""The MVCC store: the contract (interface.py) and its SQLite backend."""

from __future__ import annotations

from typing import Any

from minikube13.store.interface import Store
from minikube13.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "Store", "open_store"]


def open_store(path: str, **options: Any) -> Store:
    """The store for the file at `path` (created on first start). Call `await start()`
    before use and `await close()` at shutdown; `options` go to SqliteStore."""
    return SqliteStore(path, **options)
