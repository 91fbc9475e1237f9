"""An in-memory Store for unit tests: the same MVCC semantics as the SQLite backend.

History is a list of revisions (index = revision - 1, None once compacted); watchers get
every event through an unbounded queue, so a fake never drops a slow test's events.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator
from dataclasses import dataclass

from minikube13.store.interface import (
    Compacted,
    Conflict,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    StoreClosed,
    WatchEvent,
)


@dataclass(frozen=True)
class _Row:
    """One revision of one key, as the log stores it."""

    event: WatchEvent

    @property
    def deleted(self) -> bool:
        return self.event.type is EventType.DELETE


class MemoryStore:
    """The Store protocol on dicts and lists; not thread-safe, one asyncio loop only."""

    def __init__(self) -> None:
        self._revision = 0
        self._compacted = 0
        # key -> ascending list of (revision, row) for that key
        self._history: dict[str, list[tuple[int, _Row]]] = {}
        self._log: dict[int, _Row] = {}
        self._watchers: list[tuple[str, asyncio.Queue[WatchEvent | None]]] = []
        self._closed = False

    async def start(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        for _, queue in self._watchers:
            queue.put_nowait(None)
        self._watchers.clear()

    async def current_revision(self) -> int:
        self._check_open()
        return self._revision

    async def compacted_revision(self) -> int:
        self._check_open()
        return self._compacted

    async def create(self, key: str, value: bytes) -> int:
        self._check_open()
        if self._latest(key) is not None:
            raise KeyExists(key)
        rev = self._revision + 1
        kv = KeyValue(key, value, rev, rev)
        self._append(WatchEvent(EventType.PUT, kv, None))
        return rev

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        self._check_open()
        return self._at(key, self._read_revision(revision))

    async def list(self, prefix: str, *, revision: int = 0, start_after: str = "",
                   limit: int = 0) -> ListResult:
        self._check_open()
        rev = self._read_revision(revision)
        items: list[KeyValue] = []
        for key in sorted(k for k in self._history if k.startswith(prefix) and k > start_after):
            kv = self._at(key, rev)
            if kv is None:
                continue
            if limit and len(items) == limit:
                return ListResult(items, rev, True)
            items.append(kv)
        return ListResult(items, rev, False)

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        self._check_open()
        prev = self._checked_latest(key, expected_revision)
        rev = self._revision + 1
        kv = KeyValue(key, value, prev.create_revision, rev)
        self._append(WatchEvent(EventType.PUT, kv, prev))
        return rev

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        self._check_open()
        prev = self._checked_latest(key, expected_revision)
        rev = self._revision + 1
        kv = KeyValue(key, prev.value, prev.create_revision, rev)
        self._append(WatchEvent(EventType.DELETE, kv, prev))
        return kv

    async def watch(self, prefix: str, from_revision: int) -> AsyncIterator[WatchEvent]:
        self._check_open()
        if from_revision < self._compacted:
            raise Compacted(from_revision, self._compacted)
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        entry = (prefix, queue)
        # Replay and subscribe in one step: nothing can interleave without an await.
        for rev in range(from_revision + 1, self._revision + 1):
            row = self._log.get(rev)
            if row is not None and row.event.kv.key.startswith(prefix):
                queue.put_nowait(row.event)
        self._watchers.append(entry)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    raise StoreClosed("store closed")
                if event.revision > from_revision:  # a watch may start in the future
                    yield event
        finally:
            if entry in self._watchers:
                self._watchers.remove(entry)

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise FutureRevision(f"compact revision {revision} > current {self._revision}")
        if revision <= self._compacted:
            return
        for key in list(self._history):
            self._compact_key(key, revision)
        self._compacted = revision

    async def stats(self) -> dict[str, int]:
        return {
            "file_bytes": 0,
            "db_bytes": 0,
            "wal_bytes": 0,
            "rows": len(self._log),
            "current_revision": self._revision,
            "compacted_revision": self._compacted,
            "watchers": len(self._watchers),
        }

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("store closed")

    def _read_revision(self, revision: int) -> int:
        if revision == 0:
            return self._revision
        if revision > self._revision:
            raise FutureRevision(f"revision {revision} > current {self._revision}")
        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        return revision

    def _at(self, key: str, revision: int) -> KeyValue | None:
        rows = self._history.get(key, [])
        i = bisect.bisect_right(rows, revision, key=lambda r: r[0])
        if i == 0 or rows[i - 1][1].deleted:
            return None
        return rows[i - 1][1].event.kv

    def _latest(self, key: str) -> KeyValue | None:
        return self._at(key, self._revision)

    def _checked_latest(self, key: str, expected_revision: int) -> KeyValue:
        current = self._latest(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_revision and current.mod_revision != expected_revision:
            raise Conflict(key, current)
        return current

    def _append(self, event: WatchEvent) -> None:
        self._revision = event.revision
        row = _Row(event)
        self._history.setdefault(event.kv.key, []).append((event.revision, row))
        self._log[event.revision] = row
        for prefix, queue in self._watchers:
            if event.kv.key.startswith(prefix):
                queue.put_nowait(event)

    def _compact_key(self, key: str, revision: int) -> None:
        """Keep the newest row at or below `revision` unless it is a tombstone."""
        rows = self._history[key]
        i = bisect.bisect_right(rows, revision, key=lambda r: r[0])
        keep_from = i - 1 if i > 0 and not rows[i - 1][1].deleted else i
        for rev, _ in rows[:keep_from]:
            del self._log[rev]
        self._history[key] = rows[keep_from:]
        if not self._history[key]:
            del self._history[key]
