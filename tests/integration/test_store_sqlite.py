"""What only the SQLite backend promises: restart, concurrency, kill -9, bounded size."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from minikube13.store import open_store
from minikube13.store.interface import (
    Compacted,
    EventType,
    KeyValue,
    Store,
    StoreError,
    WatchLagged,
)
from minikube13.store.sqlite import SqliteStore

CM = "/registry/configmaps/default/"
REPO = Path(__file__).resolve().parents[2]


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def test_reopen_keeps_data_and_revision(tmp_path: Path) -> None:
    """After a restart every object, its resourceVersion and the revision counter are back."""
    path = str(tmp_path / "state.db")
    store = open_store(path)
    await store.start()
    r1 = await store.create(CM + "a", b"a")
    await store.update(CM + "a", b"a2", r1)
    await store.create(CM + "b", b"b")
    gone = await store.delete(CM + "b")
    await store.compact(gone.mod_revision)  # the newest row (a tombstone) is dropped
    before = await store.list(CM)
    await store.close()

    store = open_store(path)
    await store.start()
    try:
        assert await store.current_revision() == gone.mod_revision
        assert await store.compacted_revision() == gone.mod_revision
        assert await store.list(CM) == before
        assert await store.create(CM + "c", b"c") == gone.mod_revision + 1
    finally:
        await store.close()


async def test_many_concurrent_writers(tmp_path: Path) -> None:
    """200 clients writing at once: every acknowledged write is there, revisions unique."""
    store = SqliteStore(str(tmp_path / "state.db"))
    await store.start()
    try:
        async def client(n: int) -> list[int]:
            rev = await store.create(f"{CM}c{n:03d}", b"0")
            revs = [rev]
            for i in range(1, 10):
                rev = await store.update(f"{CM}c{n:03d}", str(i).encode(), rev)
                revs.append(rev)
            return revs

        results = await asyncio.gather(*(client(n) for n in range(200)))
        all_revs = [r for revs in results for r in revs]
        assert len(set(all_revs)) == 2000 and max(all_revs) == await store.current_revision()
        listed = await store.list(CM)
        assert len(listed.items) == 200 and all(kv.value == b"9" for kv in listed.items)
    finally:
        await store.close()


_CHILD = textwrap.dedent("""
    import asyncio, sys
    from minikube13.store.sqlite import SqliteStore

    async def writer(store, n):
        for i in range(100000):
            key = f"/registry/configmaps/default/w{n}-{i}"
            await store.create(key, b"x" * 512)
            sys.stdout.write(key + "\\n")
            sys.stdout.flush()

    async def main():
        store = SqliteStore(sys.argv[1], compact_keep_revisions=500, compact_every_writes=200)
        await store.start()
        await asyncio.gather(*(writer(store, n) for n in range(50)))

    asyncio.run(main())
""")


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL mid-write loses no write it acknowledged."""
    path = tmp_path / "state.db"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], cwd=REPO,
                             stdout=subprocess.PIPE, text=True)
    acked: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acked.append(line.strip())
            if len(acked) == 3000:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert len(acked) == 3000
    assert _integrity(path) == "ok"
    store = SqliteStore(str(path))
    await store.start()
    try:
        listed = await store.list(CM)
        present = {kv.key for kv in listed.items}
        assert set(acked) <= present
        assert await store.current_revision() >= len(present)
    finally:
        await store.close()
    assert _integrity(path) == "ok"


async def _follow(store: Store, prefix: str, last_key: str,
                  state: dict[str, KeyValue]) -> int:
    """An informer: apply events to `state` until `last_key` shows up; re-watch after a
    lag, relist after Compacted. Returns how many times it had to start over."""
    rev = (await store.list(prefix)).revision
    restarts = 0
    while True:
        try:
            async for ev in store.watch(prefix, rev):
                if ev.type is EventType.DELETE:
                    state.pop(ev.kv.key, None)
                else:
                    state[ev.kv.key] = ev.kv
                rev = ev.revision
                if ev.kv.key == last_key:
                    return restarts
        except WatchLagged:
            restarts += 1
        except Compacted:
            restarts += 1
            listed = await store.list(prefix)
            state.clear()
            state.update({kv.key: kv for kv in listed.items})
            rev = listed.revision
            if last_key in state:
                return restarts


@pytest.mark.slow
async def test_size_stays_bounded_under_churn(tmp_path: Path) -> None:
    """100,000 updates to 100 ~1 KiB objects keep db+wal under 8 MiB; a watcher keeps up."""
    path = tmp_path / "state.db"
    store = SqliteStore(str(path), compact_keep_revisions=1000, compact_every_writes=1000)
    await store.start()
    try:
        keys = [f"{CM}obj-{i:03d}" for i in range(100)]
        for key in keys:
            await store.create(key, b"{}")
        seen: dict[str, KeyValue] = {}
        watcher = asyncio.ensure_future(_follow(store, CM, CM + "zz-last", seen))
        peak = 0

        async def churn(key: str, n: int) -> None:
            nonlocal peak
            for i in range(100):
                await store.update(key, f'{{"i":{i},"pad":"{"x" * 1000}"}}'.encode(), 0)
                if n == 0 and i % 5 == 0:
                    peak = max(peak, (await store.stats())["file_bytes"])

        started = time.monotonic()
        # 1,000 writers (ten per object) so that group commit has full batches.
        await asyncio.gather(*(churn(keys[n % 100], n) for n in range(1000)))
        elapsed = time.monotonic() - started
        await store.create(CM + "zz-last", b"{}")
        restarts = await asyncio.wait_for(watcher, 30)
        stats = await store.stats()
        peak = max(peak, stats["file_bytes"])
        assert stats["current_revision"] == 100_101
        assert stats["compacted_revision"] >= 100_100 - 2000
        assert peak < 8 * 1024 * 1024, stats
        assert stats["rows"] <= 1000 + 1000 + 100
        final = await store.list(CM)
        assert seen == {kv.key: kv for kv in final.items}
        print(f"\n100k updates in {elapsed:.1f} s; peak db+wal {peak / 1e6:.2f} MB;"
              f" watcher restarts {restarts}; final {stats}")
    finally:
        await store.close()
    assert _integrity(path) == "ok"


async def test_slow_watcher_is_ended_and_can_rewatch(tmp_path: Path) -> None:
    """A watcher that stops reading is cut off with WatchLagged, never slowing writers;
    re-watching from its last revision resumes without a gap."""
    store = SqliteStore(str(tmp_path / "state.db"), watch_buffer=10, watch_page=7)
    await store.start()
    try:
        start = await store.create(CM + "a", b"0")
        events = store.watch(CM, start)
        waiting = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0.1)  # the watcher has caught up and waits for live events
        rev = start
        for i in range(50):
            rev = await store.update(CM + "a", str(i).encode(), rev)
        got = [(await waiting).revision]
        with pytest.raises(WatchLagged) as lagged:
            async for ev in events:
                got.append(ev.revision)
        assert len(got) <= 1 + 10  # what its buffer held, then the error
        assert lagged.value.last_revision == got[-1]
        resumed = store.watch(CM, got[-1])
        async for ev in resumed:
            got.append(ev.revision)
            if ev.revision == rev:
                break
        await resumed.aclose()  # type: ignore[attr-defined]
        assert got == list(range(start + 1, rev + 1))
    finally:
        await store.close()


async def test_watch_replays_long_history_in_pages(tmp_path: Path) -> None:
    """A watch from far back pages through history (and other prefixes) without gaps."""
    store = SqliteStore(str(tmp_path / "state.db"), watch_page=7)
    await store.start()
    try:
        mine = []
        for i in range(40):
            mine.append(await store.create(f"{CM}k{i}", b"v"))
            await store.create(f"/registry/secrets/default/s{i}", b"s")
        events = store.watch(CM, 0)
        got = []
        async for ev in events:
            got.append(ev.revision)
            if len(got) == 40:
                break
        await events.aclose()  # type: ignore[attr-defined]
        assert got == mine
    finally:
        await store.close()


async def test_stats_and_automatic_compaction(tmp_path: Path) -> None:
    """Metrics show file size, rows and revisions; old history goes away on its own."""
    path = tmp_path / "state.db"
    store = SqliteStore(str(path), compact_keep_revisions=20, compact_every_writes=10)
    await store.start()
    try:
        rev = await store.create(CM + "a", b"x")
        for _ in range(100):
            rev = await store.update(CM + "a", b"y" * 100, rev)
        stats = await store.stats()
        assert stats["current_revision"] == rev and stats["compacted_revision"] >= rev - 30
        assert stats["rows"] <= 31
        assert stats["file_bytes"] == os.path.getsize(path) + stats["wal_bytes"]
        with pytest.raises(Compacted):
            await store.get(CM + "a", revision=1)
    finally:
        await store.close()


async def test_second_process_cannot_open_the_same_file(tmp_path: Path) -> None:
    """Starting a second daemon on the same data directory fails instead of corrupting it."""
    path = str(tmp_path / "state.db")
    first = SqliteStore(path)
    await first.start()
    try:
        probe = "import asyncio, sys\nfrom minikube13.store.sqlite import SqliteStore\n" \
                "asyncio.run(SqliteStore(sys.argv[1]).start())"
        child = subprocess.run([sys.executable, "-c", probe, path], cwd=REPO,
                               capture_output=True, text=True, timeout=30)
        assert child.returncode != 0 and "held by another process" in child.stderr
    finally:
        await first.close()


async def test_a_file_that_is_not_a_database_fails_start(tmp_path: Path) -> None:
    """A corrupt state file stops start-up with a store error, and a retry is not refused
    as locked by the failed attempt."""
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database" * 512)
    for _ in range(2):
        with pytest.raises(StoreError, match="not a database"):
            await SqliteStore(str(path)).start()


async def test_sqlite_failures_reach_callers_as_store_errors(tmp_path: Path) -> None:
    """A read that SQLite cannot answer fails with the store's own error, and the store
    keeps serving once the cause is gone."""
    path = str(tmp_path / "state.db")
    store = SqliteStore(path, readers=1)
    await store.start()
    try:
        await store.create(CM + "a", b"a")
        with sqlite3.connect(path) as other:
            other.execute("ALTER TABLE store_meta RENAME TO moved")
        with pytest.raises(StoreError, match="no such table"):
            await store.get(CM + "a")
        with sqlite3.connect(path) as other:
            other.execute("ALTER TABLE moved RENAME TO store_meta")
        kv = await store.get(CM + "a")
        assert kv is not None and kv.value == b"a"
    finally:
        await store.close()
