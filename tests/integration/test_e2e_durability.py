"""Concurrent writers and crashes at the API level: optimistic concurrency gives exactly one
winner, and `kill -9` in the middle of 1,000 concurrent creates loses no acknowledged write."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import aiohttp

from .e2e_support import admin_credentials, configmap, ensure_namespace

NS = "e2e-conflict"


def test_same_resource_version_update_one_wins_one_conflicts(daemon: Any) -> None:
    """Two clients PUT one object with the same resourceVersion: one 200, the other 409."""
    ensure_namespace(daemon, NS)
    creds = admin_credentials(daemon.kubeconfig)
    url = f"{creds.server}/api/v1/namespaces/{NS}/configmaps"
    with creds.session() as setup:
        created = setup.post(url, json=configmap("race", NS, owner="nobody"), timeout=10)
        assert created.status_code == 201, created.text
    for round_no in range(5):
        with creds.session() as s:
            current = s.get(f"{url}/race", timeout=10).json()
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        # each body differs from what is stored: a no-op PUT would rightly succeed unchanged
        bodies = {w: dict(current, data={"owner": w, "round": str(round_no)})
                  for w in ("alice", "bob")}
        threads = [threading.Thread(target=_put_at_once,
                                    args=(creds, f"{url}/race", body, barrier, results, w))
                   for w, body in bodies.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        codes = sorted(r.status_code for r in results.values())
        assert codes == [200, 409], f"round {round_no}: {[r.text for r in results.values()]}"
        loser = next(r for r in results.values() if r.status_code == 409).json()
        assert loser["kind"] == "Status" and loser["reason"] == "Conflict"
        winner = next(w for w, r in results.items() if r.status_code == 200)
        with creds.session() as s:
            stored = s.get(f"{url}/race", timeout=10).json()
        assert stored["data"]["owner"] == winner
        assert int(stored["metadata"]["resourceVersion"]) > \
            int(current["metadata"]["resourceVersion"])


def _put_at_once(creds: Any, url: str, body: dict[str, Any], barrier: threading.Barrier,
                 results: dict[str, Any], who: str) -> None:
    with creds.session() as mine:
        barrier.wait()
        results[who] = mine.put(url, json=body, timeout=10)


TOTAL_WRITES = 1000
IN_FLIGHT = 50
KILL_AFTER_ACKS = 300


async def test_kill9_during_concurrent_creates_keeps_acknowledged(fresh_daemon: Any) -> None:
    """After kill -9 amid 1,000 concurrent creates, every acknowledged object is there and the
    database passes PRAGMA integrity_check."""
    creds = admin_credentials(fresh_daemon.kubeconfig)
    url = f"{creds.server}/api/v1/namespaces/default/configmaps"
    acked: set[str] = set()
    failed = 0
    enough = asyncio.Event()
    sem = asyncio.Semaphore(IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(ssl=creds.ssl_context(), limit=IN_FLIGHT)

    async def create(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal failed
        name = f"crash-{i:04d}"
        async with sem:
            try:
                async with session.post(url, json=configmap(name, "default", i=str(i))) as r:
                    await r.read()
                    if 200 <= r.status < 300:
                        acked.add(name)
                    else:
                        failed += 1
            except (TimeoutError, aiohttp.ClientError, OSError):
                failed += 1
        if len(acked) >= KILL_AFTER_ACKS:
            enough.set()

    async def killer() -> None:
        await enough.wait()
        await asyncio.to_thread(fresh_daemon.kill9)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        kill = asyncio.create_task(killer())
        await asyncio.gather(*(create(session, i) for i in range(TOTAL_WRITES)))
        enough.set()
        await kill
    assert KILL_AFTER_ACKS <= len(acked) < TOTAL_WRITES, \
        f"kill did not land mid-stream: acked={len(acked)} failed={failed}"

    await asyncio.to_thread(fresh_daemon.start)
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=creds.ssl_context()), timeout=timeout) as s:
        async with s.get(url) as r:
            assert r.status == 200
            items = (await r.json())["items"]
    stored = {item["metadata"]["name"]: item for item in items}
    lost = sorted(acked - stored.keys())
    assert not lost, f"{len(lost)} acknowledged creates lost after kill -9: {lost[:10]}"
    for name, item in stored.items():  # no torn objects either
        assert item["data"] == {"i": str(int(name.removeprefix("crash-")))}
    db = sqlite3.connect(f"file:{fresh_daemon.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()
