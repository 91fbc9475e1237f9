"""Random operation sequences give the same answers from the fake and from SQLite."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikube13.store.interface import Store, StoreError, WatchEvent
from minikube13.store.sqlite import SqliteStore
from minikube13.testing.memory_store import MemoryStore

KEYS = st.sampled_from(["/r/a/1", "/r/a/2", "/r/a/3", "/r/b/1", "/r/ab/1"])
PREFIXES = st.sampled_from(["", "/r/", "/r/a/", "/r/a", "/r/b/"])
VALUES = st.binary(max_size=8)
# A revision argument is drawn relative to the current one: 0 (latest/any), the current
# revision, an older one, or one from the future.
REVS = st.sampled_from(["zero", "current", "old", "older", "future"])

OPS = st.one_of(
    st.tuples(st.just("create"), KEYS, VALUES),
    st.tuples(st.just("update"), KEYS, VALUES, REVS),
    st.tuples(st.just("delete"), KEYS, REVS),
    st.tuples(st.just("get"), KEYS, REVS),
    st.tuples(st.just("list"), PREFIXES, REVS, st.integers(0, 3)),
    st.tuples(st.just("compact"), REVS),
)


async def _revision(store: Store, key: str | None, which: str) -> int:
    current = await store.current_revision()
    if key is not None and which == "current":
        kv = await store.get(key)
        return kv.mod_revision if kv else current
    return {"zero": 0, "current": current, "old": max(current - 2, 1),
            "older": max(current - 6, 1), "future": current + 5}[which]


async def _run(store: Store, op: tuple[Any, ...]) -> object:
    name = op[0]
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "create": lambda: store.create(op[1], op[2]),
        "update": lambda: _with_rev(store, op[1], op[3],
                                    lambda r: store.update(op[1], op[2], r)),
        "delete": lambda: _with_rev(store, op[1], op[2], lambda r: store.delete(op[1], r)),
        "get": lambda: _with_rev(store, None, op[2], lambda r: store.get(op[1], r)),
        "list": lambda: _with_rev(store, None, op[2],
                                  lambda r: store.list(op[1], revision=r, limit=op[3])),
        "compact": lambda: _with_rev(store, None, op[1], store.compact),
    }
    try:
        return await calls[name]()
    except StoreError as err:
        return type(err).__name__


async def _with_rev(store: Store, key: str | None, which: str,
                    call: Callable[[int], Awaitable[object]]) -> object:
    return await call(await _revision(store, key, which))


async def _history(store: Store) -> list[WatchEvent]:
    current = await store.current_revision()
    out: list[WatchEvent] = []
    if current == await store.compacted_revision():
        return out
    async with asyncio.timeout(5):
        async for ev in store.watch("/r/", await store.compacted_revision()):
            out.append(ev)
            if ev.revision >= current:
                break
    # Events for keys outside "/r/" do not exist, so the last one is at `current`.
    return out


async def _compare(ops: list[tuple[Any, ...]], directory: str) -> None:
    memory, sqlite = MemoryStore(), SqliteStore(f"{directory}/state.db")
    await memory.start()
    await sqlite.start()
    try:
        for op in ops:
            assert await _run(memory, op) == await _run(sqlite, op), op
        assert await memory.list("") == await sqlite.list("")
        assert await _history(memory) == await _history(sqlite)
        assert (await memory.stats())["rows"] == (await sqlite.stats())["rows"]
    finally:
        await memory.close()
        await sqlite.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPS, max_size=40))
def test_sqlite_matches_memory_model(ops: list[tuple[Any, ...]]) -> None:
    """Every create/update/delete/get/list/compact answers the same in both stores."""
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(_compare(ops, directory))
