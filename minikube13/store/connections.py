"""The store's SQLite connections: the writer's, the readers' pool, and transactions.

Every connection runs with the sqlite3 module's own transaction handling off
(`isolation_level=None`), so that each transaction starts with exactly the BEGIN we choose:
`BEGIN IMMEDIATE` for the writer (it takes the write lock up front, so a batch never fails
half-way on a lock upgrade), a deferred `BEGIN` for readers (one snapshot per read).
Opening and reading map sqlite3 errors to StoreError here; the writer maps its own.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from minikube13.store.interface import StoreError
from minikube13.store.schema import BUSY_TIMEOUT_MS, create_schema

log = logging.getLogger(__name__)

T = TypeVar("T")

_WRITER_PRAGMAS = (
    # auto_vacuum only takes effect before the first table exists: i.e. at creation.
    "PRAGMA auto_vacuum=INCREMENTAL",
    "PRAGMA journal_mode=WAL",
    # FULL: fsync the WAL on every commit, so an acknowledged write survives power loss.
    "PRAGMA synchronous=FULL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    # After a checkpoint, truncate a WAL that grew past 4 MiB back down.
    "PRAGMA journal_size_limit=4194304",
)


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str) -> Iterator[None]:
    """Run the block in one transaction started by `begin`: COMMIT when it ends, ROLLBACK
    when it (or the COMMIT) raises."""
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error as err:
                log.warning("rollback failed error=%s", err)
        raise


def open_writer(path: str) -> sqlite3.Connection:
    """The one read-write connection (creating the file and its tables if needed). It is
    opened on one thread and used on the writer thread, hence check_same_thread=False."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as err:
        raise StoreError(f"cannot open {path}: {err}") from err
    try:
        for pragma in _WRITER_PRAGMAS:
            conn.execute(pragma).fetchall()
        with transaction(conn, "BEGIN IMMEDIATE"):
            create_schema(conn)
    except sqlite3.Error as err:
        conn.close()
        raise StoreError(f"cannot open {path}: {err}") from err
    return conn


class ReaderPool:
    """Read-only connections to the WAL file, opened as needed and reused: a reading thread
    holds one for the span of one read, so there are at most as many as reading threads.
    The writer's connection must be open first (it creates the file and the WAL)."""

    def __init__(self, path: str):
        self._uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(conn, *args)` inside one deferred transaction (one snapshot)."""
        conn = self._checkout()
        try:
            with transaction(conn, "BEGIN"):
                result = fn(conn, *args)
        except sqlite3.Error as err:
            conn.close()  # a fresh one replaces it, whatever state the error left
            raise StoreError(f"read failed: {err}") from err
        except BaseException:
            self._checkin(conn)
            raise
        self._checkin(conn)
        return result

    def close(self) -> None:
        """Close the idle connections; call once no read is running."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _checkout(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            # Used by whichever pool thread checks it out next, one thread at a time;
            # `timeout` is the busy timeout.
            return sqlite3.connect(self._uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open a reader: {err}") from err

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()
