"""The store stays bounded: 100,000 updates to 100 objects through the API leave the database
(db + wal) under the size README.md states, a watch opened before the storm ends with every
object's final state, and a watch from the compacted past is told 410 Gone."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .e2e_support import admin_credentials, configmap

OBJECTS = 100
UPDATES_PER_OBJECT = 1000  # 100 x 1,000 = 100,000 updates
LABEL = "e2e=bounded"
NS = "default"


@dataclass
class FollowedState:
    """What a client following one watch (resuming, relisting on 410) believes is stored."""

    data: dict[str, str] = field(default_factory=dict)  # name -> data["n"]
    last_rv: int = 0
    events: int = 0
    resumes: int = 0
    relists: int = 0
    out_of_order: int = 0


async def _relist(s: aiohttp.ClientSession, url: str, state: FollowedState) -> None:
    async with s.get(url, params={"labelSelector": LABEL}) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    state.data = {i["metadata"]["name"]: i["data"]["n"] for i in body["items"]}
    state.last_rv = int(body["metadata"]["resourceVersion"])
    state.relists += 1


async def _follow(s: aiohttp.ClientSession, url: str, state: FollowedState,
                  stop: asyncio.Event) -> None:
    """Follow the watch like an informer: resume from the last revision, relist on 410."""
    while not stop.is_set():
        params = {"watch": "true", "labelSelector": LABEL,
                  "resourceVersion": str(state.last_rv), "timeoutSeconds": "30"}
        try:
            async with s.get(url, params=params) as r:
                if r.status == 410:
                    await _relist(s, url, state)
                    continue
                assert r.status == 200, await r.text()
                while not stop.is_set():
                    line = await r.content.readline()
                    if not line:
                        break
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        if event["object"].get("code") == 410:
                            await _relist(s, url, state)
                        break
                    _apply_event(state, event)
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
            pass
        state.resumes += 1


def _apply_event(state: FollowedState, event: dict[str, Any]) -> None:
    obj = event["object"]
    rv = int(obj["metadata"]["resourceVersion"])
    if event["type"] == "BOOKMARK":
        state.last_rv = max(state.last_rv, rv)
        return
    if rv <= state.last_rv:
        state.out_of_order += 1
    state.last_rv = rv
    state.events += 1
    name = obj["metadata"]["name"]
    if event["type"] == "DELETED":
        state.data.pop(name, None)
    else:
        state.data[name] = obj["data"]["n"]


async def _update_storm(s: aiohttp.ClientSession, url: str) -> int:
    failures = 0

    async def writer(i: int) -> None:
        nonlocal failures
        headers = {"Content-Type": "application/merge-patch+json"}
        for n in range(1, UPDATES_PER_OBJECT + 1):
            body = json.dumps({"data": {"n": str(n)}})
            async with s.patch(f"{url}/bounded-{i:03d}", data=body, headers=headers) as r:
                await r.read()
                failures += r.status != 200

    await asyncio.gather(*(writer(i) for i in range(OBJECTS)))
    return failures


def readme_bound() -> int:
    """The size README.md promises for 100,000 updates to 100 objects ("... under 40 MB")."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    text = readme.read_text() if readme.exists() else ""
    m = re.search(r"100,000\s+updates.{0,200}?under\s+(\d+(?:\.\d+)?)\s*(MiB|MB)", text,
                  re.DOTALL)
    assert m is not None, "README.md must state the size bound for 100,000 updates"
    return int(float(m.group(1)) * (1024 * 1024 if m.group(2) == "MiB" else 1_000_000))


def _db_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in data_dir.glob("state.db*") if p.is_file())


@pytest.mark.slow
async def test_100k_updates_keep_store_bounded_and_watch_correct(fresh_daemon: Any) -> None:
    """100,000 updates leave db+wal under the README bound and the watch ends on the final state."""
    creds = admin_credentials(fresh_daemon.kubeconfig)
    url = f"{creds.server}/api/v1/namespaces/{NS}/configmaps"
    connector = aiohttp.TCPConnector(ssl=creds.ssl_context(), limit=OBJECTS + 10)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=None)) as s:
        for i in range(OBJECTS):
            body = configmap(f"bounded-{i:03d}", NS, n="0")
            body["metadata"]["labels"] = {"e2e": "bounded"}
            async with s.post(url, json=body) as r:
                assert r.status == 201, await r.text()
        state = FollowedState()
        await _relist(s, url, state)
        start_rv = state.last_rv
        stop = asyncio.Event()
        follower = asyncio.create_task(_follow(s, url, state, stop))
        began = time.monotonic()
        failures = await _update_storm(s, url)
        took = time.monotonic() - began
        final = str(UPDATES_PER_OBJECT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and \
                sorted(set(state.data.values())) != [final]:
            await asyncio.sleep(0.2)
        stop.set()
        follower.cancel()
    print(f"\n100,000 updates in {took:.1f}s ({100_000 / took:.0f}/s); watch saw "
          f"{state.events} events, {state.resumes} resumes, {state.relists - 1} relists; "
          f"db+wal {_db_bytes(fresh_daemon.data_dir) / 1e6:.1f} MB")
    assert failures == 0
    assert len(state.data) == OBJECTS and set(state.data.values()) == {final}, \
        f"watch ended on {sorted(set(state.data.values()))[:5]}..."
    assert state.out_of_order == 0
    _assert_bounded(fresh_daemon.data_dir)
    _assert_compacted_watch_is_gone(fresh_daemon.kubeconfig, start_rv)


def _assert_bounded(data_dir: Path) -> None:
    bound = readme_bound()
    # compaction runs in the background: give it a moment to catch up with the storm
    deadline = time.monotonic() + 30
    while _db_bytes(data_dir) > bound and time.monotonic() < deadline:
        time.sleep(1)
    size = _db_bytes(data_dir)
    assert size <= bound, f"db+wal {size / 1e6:.1f} MB > README's {bound / 1e6:.1f} MB"


def _assert_compacted_watch_is_gone(kubeconfig: Path, start_rv: int) -> None:
    """The official client's watch from the revision before the storm gets 410."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        core = client.CoreV1Api(api)
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, NS,
                                          resource_version=str(start_rv),
                                          label_selector=LABEL, timeout_seconds=5):
                pass
        assert err.value.status == 410, err.value
    finally:
        api.close()
