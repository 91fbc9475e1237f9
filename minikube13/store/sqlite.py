"""The SQLite backend of the Store: kine's one-table MVCC log on the stdlib sqlite3.

Writes go to the single writer thread (writer.py) and are acknowledged after COMMIT with
synchronous=FULL. Reads run on a small thread pool, each on a read-only WAL connection and
snapshot. Watches subscribe to the in-process fan-out first, then replay history rows from
the table, then stream live events, dropping any revision already delivered.
"""

from __future__ import annotations

import asyncio
import builtins
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, TypeVar

from minikube13.store import reads
from minikube13.store.connections import ReaderPool, open_writer
from minikube13.store.fanout import Fanout
from minikube13.store.interface import (
    KeyValue,
    ListResult,
    StoreClosed,
    StoreError,
    WatchEvent,
    WatchLagged,
)
from minikube13.store.writer import Op, Outcome, Writer, WriteRequest

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteStore:
    """See the module docstring. `start()` opens (creating if needed) the file at `path`."""

    def __init__(self, path: str, *, compact_keep_revisions: int = 10000,
                 compact_every_writes: int = 1000, readers: int = 4,
                 watch_buffer: int = 10000, watch_page: int = 1000, max_batch: int = 1000):
        self._path = path
        self._keep = compact_keep_revisions
        self._every = compact_every_writes
        self._reader_threads = readers
        self._watch_page = watch_page
        self._max_batch = max_batch
        self._fanout = Fanout(watch_buffer)
        self._writer: Writer | None = None
        self._readers: ReaderPool | None = None
        self._conn: sqlite3.Connection | None = None  # the writer's
        self._pool: ThreadPoolExecutor | None = None
        self._lock_file: IO[bytes] | None = None
        self._closed = True

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._lock_file = _lock(self._path + ".lock")
        self._pool = ThreadPoolExecutor(self._reader_threads, thread_name_prefix="store-read")
        try:
            self._conn = await loop.run_in_executor(self._pool, open_writer, self._path)
        except BaseException:
            self._pool.shutdown()
            self._lock_file.close()
            self._lock_file = None
            raise
        self._readers = ReaderPool(self._path)
        self._closed = False
        current, compacted = await self._read(reads.snapshot_revisions)
        self._writer = Writer(self._conn, loop, self._deliver, revision=current,
                              compacted=compacted, compact_keep=self._keep,
                              compact_every=self._every, max_batch=self._max_batch)
        self._writer.start()
        log.info("store opened path=%s revision=%d compacted=%d", self._path, current, compacted)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        assert self._writer is not None and self._pool is not None
        late = await asyncio.to_thread(self._writer.stop)
        for req in late:
            if not req.future.done():
                req.future.set_exception(StoreClosed("store closed"))
        self._fanout.close()
        await asyncio.to_thread(self._pool.shutdown, True)
        if self._readers is not None:
            self._readers.close()
        if self._conn is not None:
            self._conn.close()  # the last connection: folds the WAL into the file
            self._conn = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None
        log.info("store closed path=%s", self._path)

    async def current_revision(self) -> int:
        return self._live_writer().committed_revision

    async def compacted_revision(self) -> int:
        return self._live_writer().compacted_revision

    async def create(self, key: str, value: bytes) -> int:
        rev: int = await self._write(WriteRequest(Op.CREATE, key, value))
        return rev

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        return await self._read(reads.get_at, key, revision)

    async def list(self, prefix: str, *, revision: int = 0, start_after: str = "",
                   limit: int = 0) -> ListResult:
        return await self._read(reads.list_at, prefix, revision, start_after, limit)

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        rev: int = await self._write(WriteRequest(Op.UPDATE, key, value, expected_revision))
        return rev

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        kv: KeyValue = await self._write(WriteRequest(Op.DELETE, key, b"", expected_revision))
        return kv

    async def compact(self, revision: int) -> None:
        await self._write(WriteRequest(Op.COMPACT, expected=revision))

    async def watch(self, prefix: str, from_revision: int) -> AsyncIterator[WatchEvent]:
        self._live_writer()
        sub = self._fanout.subscribe(prefix)
        last = from_revision
        try:
            # Replay from the table until a short page shows we are caught up; the
            # subscription (taken first) holds everything committed since.
            while True:
                if sub.lagged:  # fell behind while replaying: the table still has it all
                    self._fanout.unsubscribe(sub)
                    sub = self._fanout.subscribe(prefix)
                events, covered, complete = await self._read(
                    reads.history_page, prefix, last, self._watch_page)
                for event in events:
                    yield event
                last = max(last, covered)
                if complete and not sub.lagged:
                    break
            while True:
                try:
                    event = await sub.next()
                except WatchLagged:
                    raise WatchLagged(last) from None
                if event.revision > last:
                    yield event
                    last = event.revision
        finally:
            self._fanout.unsubscribe(sub)

    async def stats(self) -> dict[str, int]:
        db, wal = _file_size(self._path), _file_size(self._path + "-wal")
        rows = await self._read(reads.count_rows)
        writer = self._live_writer()
        return {
            "file_bytes": db + wal,
            "db_bytes": db,
            "wal_bytes": wal,
            "rows": rows,
            "current_revision": writer.committed_revision,
            "compacted_revision": writer.compacted_revision,
            "watchers": len(self._fanout),
        }

    # -- plumbing ------------------------------------------------------------------------

    def _live_writer(self) -> Writer:
        if self._closed or self._writer is None:
            raise StoreClosed("store closed")
        return self._writer

    async def _write(self, request: WriteRequest) -> Any:
        self._live_writer().submit(request)
        return await request.future

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed or self._pool is None or self._readers is None:
            raise StoreClosed("store closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._readers.read, fn, *args)

    def _deliver(self, outcomes: builtins.list[Outcome],
                 events: builtins.list[WatchEvent]) -> None:
        """On the loop: publish committed events, then wake the writers' callers."""
        self._fanout.publish(events)
        for future, result in outcomes:
            if future.done():
                continue  # the caller gave up waiting; the write stands regardless
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _lock(path: str) -> IO[bytes]:
    """Hold an exclusive lock for this process's lifetime: the writer owns the revision
    counter, so a second process writing the same file would corrupt the history."""
    handle = open(path, "ab")  # noqa: SIM115 - held open until close()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreError(f"{path} is held by another process") from None
    return handle


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0

