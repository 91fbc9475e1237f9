"""The store contract: an MVCC key-value log in the shape of etcd v3 and kine.

Every write appends one revision; the revision of an object's last write is its
resourceVersion. Keys are `/registry/<storage resource>/<namespace>/<name>` (cluster-scoped:
`/registry/<storage resource>/<name>`); values are JSON bytes of the canonical object
without `metadata.resourceVersion` (the layer above fills it in from `mod_revision`).
A SQLite backend implements it now; an etcd v3 backend can later, without touching callers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class StoreError(Exception):
    """Root of the store's errors."""


class KeyExists(StoreError):
    """create() of a key that is live."""


class KeyNotFound(StoreError):
    """update()/delete() of a key that is absent."""


class Conflict(StoreError):
    """Compare-and-swap failed: the key's mod_revision is not the expected one."""

    def __init__(self, key: str, current: KeyValue | None):
        super().__init__(key)
        self.current = current


class Compacted(StoreError):
    """A read or watch asked for a revision older than the compacted revision."""

    def __init__(self, requested: int, compacted: int):
        super().__init__(f"required revision {requested} has been compacted (now {compacted})")
        self.requested = requested
        self.compacted = compacted


class FutureRevision(StoreError):
    """A read asked for a revision newer than the current one."""


class StoreClosed(StoreError):
    """The store was closed."""


class WatchLagged(StoreError):
    """A watcher fell too far behind the writer and was ended; re-watch from the last
    revision it saw (or relist if that revision has been compacted since)."""

    def __init__(self, last_revision: int):
        super().__init__(f"watcher fell behind after revision {last_revision}")
        self.last_revision = last_revision


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(Enum):
    PUT = "PUT"  # create or update: `prev` is None on create
    DELETE = "DELETE"


@dataclass(frozen=True)
class WatchEvent:
    type: EventType
    kv: KeyValue  # for DELETE: the key's last value, with mod_revision = the delete revision
    prev: KeyValue | None  # the value before this event (None for a create)

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list was read at
    more: bool  # true when `limit` cut the list short


class Store(Protocol):
    """What every backend provides. All methods are safe to call from one asyncio loop."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def create(self, key: str, value: bytes) -> int:
        """Insert if absent; return the new revision. Raises KeyExists."""
        ...

    async def get(self, key: str, revision: int = 0) -> KeyValue | None:
        """The key at `revision` (0 = latest), or None."""
        ...

    async def list(self, prefix: str, *, revision: int = 0, start_after: str = "",
                   limit: int = 0) -> ListResult:
        """Live keys under `prefix` in key order, at `revision` (0 = latest), after
        `start_after`, at most `limit` (0 = all). Raises Compacted, FutureRevision."""
        ...

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace if the key's mod_revision is `expected_revision` (0 = any); return the
        new revision. Raises KeyNotFound, Conflict."""
        ...

    async def delete(self, key: str, expected_revision: int = 0) -> KeyValue:
        """Delete if mod_revision matches (0 = any); return the deleted value with
        mod_revision = the delete revision. Raises KeyNotFound, Conflict."""
        ...

    def watch(self, prefix: str, from_revision: int) -> AsyncIterator[WatchEvent]:
        """Every event under `prefix` with revision > `from_revision`, in order, then live
        ones until the iterator is closed. Raises Compacted (when first iterated) if
        `from_revision` < the compacted revision."""
        ...

    async def compact(self, revision: int) -> None:
        """Drop history at or below `revision` (the latest value of each live key stays)."""
        ...

    async def stats(self) -> dict[str, int]:
        """Sizes for metrics: file bytes, rows, current and compacted revision."""
        ...
