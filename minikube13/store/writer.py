"""The one writer thread: group commit of queued writes, then automatic compaction.

Callers on the event loop enqueue a WriteRequest and await its future. The thread takes
everything queued (up to `max_batch`), applies it in one BEGIN IMMEDIATE transaction,
commits (one WAL fsync for the whole batch), and only then hands the outcomes and the
committed events back to the loop. Being the only writer, it owns the revision counter.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from minikube13.store.compactor import compact_rows, reclaim_space
from minikube13.store.connections import transaction
from minikube13.store.interface import (
    Conflict,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    StoreError,
    WatchEvent,
)

log = logging.getLogger(__name__)

# The statements of the hot path, run on one cursor per batch.
_LATEST_SQL = (
    "SELECT id, deleted, create_revision, value FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"
)
_INSERT_SQL = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class _Latest:
    """The newest row of a key, as the writer needs it."""

    id: int
    deleted: bool
    create_revision: int
    value: bytes


class Op(Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    COMPACT = "compact"


@dataclass
class WriteRequest:
    op: Op
    key: str = ""
    value: bytes = b""
    expected: int = 0  # CAS revision (0 = any); for COMPACT, the revision to compact to
    future: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


Outcome = tuple[asyncio.Future[Any], object]  # a result, or the exception to raise
Deliver = Callable[[list[Outcome], list[WatchEvent]], None]
_STOP = object()


class Writer:
    """Owns the revision counter and, while running, the write connection (opened with
    check_same_thread=False: its opener closes it after stop()); see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop,
                 deliver: Deliver, *, revision: int, compacted: int, compact_keep: int,
                 compact_every: int, max_batch: int = 1000):
        self._conn = conn
        self._loop = loop
        self._deliver = deliver
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._rev = revision
        self.committed_revision = revision  # read from the loop thread; ints swap atomically
        self.compacted_revision = compacted
        self._keep = compact_keep
        self._every = compact_every
        self._max_batch = max_batch
        self._since_compact = 0
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: WriteRequest) -> None:
        self._queue.put(request)

    def stop(self) -> list[WriteRequest]:
        """Finish queued work, stop the thread; returns requests that arrived too late."""
        self._queue.put(_STOP)
        self._thread.join()
        late: list[WriteRequest] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, WriteRequest):
                late.append(item)
        return late

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        conn = self._conn
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if batch:
                self._commit(conn, batch)
                try:
                    self._auto_compact(conn)
                except Exception:  # noqa: BLE001 - writes matter more than compaction
                    log.exception("compaction failed")

    def _next_batch(self) -> tuple[list[WriteRequest], bool]:
        batch: list[WriteRequest] = []
        item = self._queue.get()
        while True:
            if item is _STOP:
                return batch, True
            assert isinstance(item, WriteRequest)
            batch.append(item)
            if len(batch) >= self._max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _commit(self, conn: sqlite3.Connection, batch: list[WriteRequest]) -> None:
        outcomes: list[Outcome] = []
        events: list[WatchEvent] = []
        first_rev, first_compacted = self._rev, self.compacted_revision
        try:
            with transaction(conn, "BEGIN IMMEDIATE"):
                cursor = conn.cursor()
                latest: dict[str, _Latest | None] = {}  # keys written earlier in this batch
                for req in batch:
                    try:
                        result, event = self._apply(conn, cursor, latest, req)
                    except StoreError as err:
                        outcomes.append((req.future, err))
                        continue
                    outcomes.append((req.future, result))
                    if event is not None:
                        events.append(event)
        except Exception as err:  # noqa: BLE001 - the thread must outlive any one batch
            # Nothing of the batch committed: every caller hears so, the counters rewind.
            log.error("write batch failed size=%d error=%s", len(batch), err)
            self._rev, self.compacted_revision = first_rev, first_compacted
            failure = StoreError(f"write failed: {err}")
            outcomes, events = [(req.future, failure) for req in batch], []
        self.committed_revision = self._rev
        self._since_compact += len(events)
        if self.compacted_revision != first_compacted:
            reclaim_space(conn)
        self._post(outcomes, events)

    def _post(self, outcomes: list[Outcome], events: list[WatchEvent]) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, outcomes, events)
        except RuntimeError:
            log.warning("event loop closed; dropping outcomes count=%d", len(outcomes))

    def _apply(self, conn: sqlite3.Connection, cursor: sqlite3.Cursor,
               batch_latest: dict[str, _Latest | None],
               req: WriteRequest) -> tuple[object, WatchEvent | None]:
        if req.op is Op.COMPACT:
            self._compact(conn, req.expected)
            return None, None
        key = req.key
        if key in batch_latest:
            latest = batch_latest[key]
        else:
            found = cursor.execute(_LATEST_SQL, (key,)).fetchone()
            latest = _Latest(found[0], bool(found[1]), found[2], found[3]) if found else None
        if req.op is Op.CREATE:
            if latest is not None and not latest.deleted:
                raise KeyExists(key)
            rev = self._insert(cursor, key, req.value, False, latest.id if latest else 0, None)
            batch_latest[key] = _Latest(rev, False, rev, req.value)
            return rev, WatchEvent(EventType.PUT, KeyValue(key, req.value, rev, rev), None)
        if latest is None or latest.deleted:
            raise KeyNotFound(key)
        prev = KeyValue(key, latest.value, latest.create_revision, latest.id)
        if req.expected and req.expected != latest.id:
            raise Conflict(key, prev)
        deleting = req.op is Op.DELETE
        value = prev.value if deleting else req.value
        rev = self._insert(cursor, key, value, deleting, prev.mod_revision, prev)
        batch_latest[key] = _Latest(rev, deleting, prev.create_revision, value)
        now = KeyValue(key, value, prev.create_revision, rev)
        if deleting:
            return now, WatchEvent(EventType.DELETE, now, prev)
        return rev, WatchEvent(EventType.PUT, now, prev)

    def _insert(self, cursor: sqlite3.Cursor, key: str, value: bytes, deleted: bool,
                prev_rev: int, prev: KeyValue | None) -> int:
        """Append the key's next row; `prev` is None for a create."""
        rev = self._rev + 1
        row = (rev, key, int(prev is None), int(deleted),
               prev.create_revision if prev else rev, prev_rev, value)
        try:
            cursor.execute(_INSERT_SQL, row)
        except sqlite3.IntegrityError as err:
            # The (name, prev_revision) guard. Only another writer on the same file could
            # trip it, and the start-up lock rules that out; any other violation fails
            # the whole batch.
            if "prev_revision" not in str(err):
                raise
            raise Conflict(key, prev) from err
        self._rev = rev
        return rev

    def _compact(self, conn: sqlite3.Connection, revision: int) -> None:
        if revision > self._rev:
            raise FutureRevision(f"compact revision {revision} > current {self._rev}")
        if revision <= self.compacted_revision:
            return
        dropped = compact_rows(conn, revision)
        self.compacted_revision = revision
        log.debug("compacted revision=%d dropped=%d", revision, dropped)

    def _auto_compact(self, conn: sqlite3.Connection) -> None:
        if self._since_compact < self._every:
            return
        self._since_compact = 0
        target = self._rev - self._keep
        if target <= self.compacted_revision:
            return
        before = self.compacted_revision
        try:
            with transaction(conn, "BEGIN IMMEDIATE"):
                self._compact(conn, target)
        except sqlite3.Error as err:
            log.error("compaction failed revision=%d error=%s", target, err)
            self.compacted_revision = before
            return
        reclaim_space(conn)
