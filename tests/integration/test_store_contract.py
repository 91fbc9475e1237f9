"""The Store contract, run against the in-memory fake and the SQLite backend alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from minikube13.store.interface import (
    Compacted,
    Conflict,
    EventType,
    FutureRevision,
    KeyExists,
    KeyNotFound,
    Store,
    StoreClosed,
    WatchEvent,
)
from minikube13.store.sqlite import SqliteStore
from minikube13.testing.memory_store import MemoryStore

PODS = "/registry/pods/default/"


def _memory(_: Path) -> Store:
    return MemoryStore()


def _sqlite(tmp: Path) -> Store:
    return SqliteStore(str(tmp / "state.db"))


@pytest.fixture(params=[_memory, _sqlite], ids=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    factory: Callable[[Path], Store] = request.param
    s = factory(tmp_path)
    await s.start()
    yield s
    await s.close()


async def _take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    out: list[WatchEvent] = []
    async with asyncio.timeout(5):
        async for ev in events:
            out.append(ev)
            if len(out) == n:
                break
    return out


async def test_create_get_update_delete(store: Store) -> None:
    """A created object reads back, updates bump its revision, delete returns the last value."""
    r1 = await store.create(PODS + "a", b"v1")
    kv = await store.get(PODS + "a")
    assert kv is not None and kv.value == b"v1"
    assert kv.create_revision == kv.mod_revision == r1 == await store.current_revision()
    r2 = await store.update(PODS + "a", b"v2", r1)
    assert r2 > r1
    kv = await store.get(PODS + "a")
    assert kv is not None and (kv.value, kv.create_revision, kv.mod_revision) == (b"v2", r1, r2)
    gone = await store.delete(PODS + "a", r2)
    assert gone.value == b"v2" and gone.create_revision == r1 and gone.mod_revision > r2
    assert await store.get(PODS + "a") is None
    assert await store.current_revision() == gone.mod_revision


async def test_create_twice_and_missing_keys(store: Store) -> None:
    """Creating a live key says AlreadyExists; updating or deleting a missing one, NotFound."""
    await store.create(PODS + "a", b"v1")
    with pytest.raises(KeyExists):
        await store.create(PODS + "a", b"again")
    with pytest.raises(KeyNotFound):
        await store.update(PODS + "missing", b"x", 0)
    with pytest.raises(KeyNotFound):
        await store.delete(PODS + "missing")
    await store.delete(PODS + "a")
    r = await store.create(PODS + "a", b"reborn")
    kv = await store.get(PODS + "a")
    assert kv is not None and kv.create_revision == r and kv.value == b"reborn"


async def test_cas_exactly_one_wins(store: Store) -> None:
    """Two updates against the same resourceVersion: one succeeds, the other gets Conflict."""
    r1 = await store.create(PODS + "a", b"v1")
    results = await asyncio.gather(store.update(PODS + "a", b"x", r1),
                                   store.update(PODS + "a", b"y", r1), return_exceptions=True)
    wins = [r for r in results if isinstance(r, int)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].current is not None and losses[0].current.mod_revision == wins[0]
    with pytest.raises(Conflict):
        await store.delete(PODS + "a", r1)
    await store.update(PODS + "a", b"any", 0)


async def test_list_at_old_revision(store: Store) -> None:
    """A list at an earlier resourceVersion shows the objects as they were then."""
    ra = await store.create(PODS + "a", b"a1")
    rb = await store.create(PODS + "b", b"b1")
    await store.update(PODS + "a", b"a2", ra)
    await store.delete(PODS + "b", rb)
    await store.create("/registry/services/default/s", b"s")
    old = await store.list(PODS, revision=rb)
    assert [(kv.key, kv.value) for kv in old.items] == [(PODS + "a", b"a1"), (PODS + "b", b"b1")]
    assert old.revision == rb and not old.more
    now = await store.list(PODS)
    assert [(kv.key, kv.value) for kv in now.items] == [(PODS + "a", b"a2")]
    assert now.revision == await store.current_revision()
    assert (await store.get(PODS + "b", revision=rb)) is not None
    with pytest.raises(FutureRevision):
        await store.list(PODS, revision=now.revision + 10)


async def test_paging(store: Store) -> None:
    """Listing with a limit pages through every key once, in key order."""
    for i in range(25):
        await store.create(f"{PODS}p{i:02d}", b"x")
    await store.delete(PODS + "p05")
    seen: list[str] = []
    after, rev = "", 0
    while True:
        page = await store.list(PODS, revision=rev, start_after=after, limit=10)
        rev = page.revision
        seen += [kv.key for kv in page.items]
        if not page.more:
            break
        assert len(page.items) == 10
        after = page.items[-1].key
    assert seen == [f"{PODS}p{i:02d}" for i in range(25) if i != 5]
    exact = await store.list(PODS, limit=24)
    assert len(exact.items) == 24 and not exact.more


async def test_watch_history_then_live(store: Store) -> None:
    """A watch from an old revision replays history in order, then streams new events."""
    r1 = await store.create(PODS + "a", b"a1")
    r2 = await store.update(PODS + "a", b"a2", r1)
    await store.create("/registry/services/default/s", b"s")
    events = store.watch(PODS, r1 - 1)
    first = await _take(events, 2)
    r3 = await store.create(PODS + "b", b"b1")
    gone = await store.delete(PODS + "a")
    rest = await _take(events, 2)
    await events.aclose()  # type: ignore[attr-defined]
    got = [(e.type, e.kv.key, e.revision) for e in first + rest]
    assert got == [(EventType.PUT, PODS + "a", r1), (EventType.PUT, PODS + "a", r2),
                   (EventType.PUT, PODS + "b", r3),
                   (EventType.DELETE, PODS + "a", gone.mod_revision)]
    assert first[0].prev is None
    assert first[1].prev is not None and first[1].prev.value == b"a1"
    assert rest[1].kv.value == b"a2" and rest[1].prev is not None


async def test_watch_from_now_sees_only_new(store: Store) -> None:
    """A watch from the current revision sees only later writes."""
    await store.create(PODS + "old", b"x")
    events = store.watch(PODS, await store.current_revision())
    task = asyncio.ensure_future(_take(events, 1))
    await asyncio.sleep(0.05)
    r = await store.create(PODS + "new", b"y")
    got = await task
    assert [(e.kv.key, e.revision) for e in got] == [(PODS + "new", r)]
    await events.aclose()  # type: ignore[attr-defined]


async def test_watch_compacted_revision(store: Store) -> None:
    """Watching or listing from before the compacted revision fails with Compacted (410)."""
    r1 = await store.create(PODS + "a", b"1")
    r2 = await store.update(PODS + "a", b"2", r1)
    r3 = await store.update(PODS + "a", b"3", r2)
    await store.compact(r2)
    assert await store.compacted_revision() == r2
    with pytest.raises(Compacted):
        await _take(store.watch(PODS, r1 - 1), 1)
    with pytest.raises(Compacted):
        await store.list(PODS, revision=r1)
    got = await _take(store.watch(PODS, r2), 1)
    assert got[0].revision == r3 and got[0].prev is not None and got[0].prev.value == b"2"
    listed = await store.list(PODS, revision=r2)
    assert [kv.value for kv in listed.items] == [b"2"]


async def test_compaction_keeps_live_keys(store: Store) -> None:
    """After compaction every live object is still there and deleted ones stay gone."""
    ra = await store.create(PODS + "a", b"a")
    rb = await store.create(PODS + "b", b"b")
    await store.delete(PODS + "b", rb)
    for _ in range(5):
        ra = await store.update(PODS + "a", b"a", ra)
    await store.compact(await store.current_revision())
    listed = await store.list(PODS)
    assert [kv.key for kv in listed.items] == [PODS + "a"]
    assert (await store.get(PODS + "a")) is not None
    stats = await store.stats()
    assert stats["rows"] == 1 and stats["compacted_revision"] == stats["current_revision"]
    await store.create(PODS + "b", b"again")


async def test_delete_event_carries_last_value(store: Store) -> None:
    """A DELETE event shows the object as it was just before it went away."""
    r1 = await store.create(PODS + "a", b"last")
    events = store.watch(PODS, r1)
    task = asyncio.ensure_future(_take(events, 1))
    await asyncio.sleep(0.05)
    await store.delete(PODS + "a")
    [ev] = await task
    assert ev.type is EventType.DELETE and ev.kv.value == b"last" and ev.kv.create_revision == r1
    assert ev.prev is not None and ev.prev.mod_revision == r1


async def test_close_ends_watches(store: Store) -> None:
    """Shutting the store down ends open watches with StoreClosed instead of hanging."""
    r1 = await store.create(PODS + "a", b"x")
    events = store.watch(PODS, r1)
    task = asyncio.ensure_future(_take(events, 1))
    await asyncio.sleep(0.05)
    await store.close()
    with pytest.raises(StoreClosed):
        await task
    with pytest.raises(StoreClosed):
        await store.create(PODS + "b", b"y")


async def test_watch_from_future_revision(store: Store) -> None:
    """A watch from a revision not yet written starts with the first write after it."""
    now = await store.current_revision()
    events = store.watch(PODS, now + 2)
    task = asyncio.ensure_future(_take(events, 1))
    await asyncio.sleep(0.05)
    revs = [await store.create(f"{PODS}f{i}", b"x") for i in range(3)]
    [ev] = await task
    assert ev.revision == revs[2] == now + 3
