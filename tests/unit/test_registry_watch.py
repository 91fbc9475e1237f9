"""WATCH: initial state, resuming, selectors, 410, bookmarks and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.patch import MERGE_PATCH
from minikube13.registry.watch import INITIAL_EVENTS_END
from minikube13.testing.memory_store import MemoryStore

CONFIGMAPS = kinds.find("", "v1", "configmaps")
assert CONFIGMAPS
W = WriteOptions()


@pytest.fixture
async def registry(store: MemoryStore) -> ObjectRegistry:
    reg = ObjectRegistry(store, bookmark_interval=0.05)
    await reg.ensure_namespace("default")
    await reg.ensure_namespace("other")
    return reg


async def make(reg: ObjectRegistry, name: str, ns: str = "default", **labels: str) -> str:
    created = await reg.create(CONFIGMAPS, ns, {"metadata": {"name": name, "labels": labels}}, W)
    return str(created.object["metadata"]["resourceVersion"])


async def take(stream: AsyncIterator[dict[str, Any]], count: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(count):
        event = await asyncio.wait_for(anext(stream), 2)
        out.append((event["type"], event["object"]["metadata"].get("name", "")))
    return out


async def test_watch_from_now_starts_with_current_state(registry: ObjectRegistry) -> None:
    """Without a resourceVersion, existing objects arrive as ADDED, then live changes."""
    await make(registry, "a")
    stream = registry.watch(CONFIGMAPS, "default", ListOptions())
    assert await take(stream, 1) == [("ADDED", "a")]
    await make(registry, "b")
    await registry.patch(CONFIGMAPS, "default", "a", MERGE_PATCH, {"data": {"x": "1"}}, W)
    await registry.delete(CONFIGMAPS, "default", "b", DeleteOptions())
    assert await take(stream, 3) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    await stream.aclose()


async def test_watch_resumes_after_resource_version(registry: ObjectRegistry) -> None:
    """From resourceVersion N come exactly the changes after N, each with its own RV."""
    rv = await make(registry, "a")
    await make(registry, "b")
    stream = registry.watch(CONFIGMAPS, "", ListOptions(resource_version=rv))
    event = await asyncio.wait_for(anext(stream), 2)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "b")
    assert int(event["object"]["metadata"]["resourceVersion"]) > int(rv)
    assert event["object"]["apiVersion"] == "v1"
    await stream.aclose()


async def test_watch_from_compacted_revision_is_410(registry: ObjectRegistry,
                                                    store: MemoryStore) -> None:
    """A watch from a compacted resourceVersion fails with 410 Expired."""
    rv = await make(registry, "a")
    await make(registry, "b")
    await store.compact(await store.current_revision())
    stream = registry.watch(CONFIGMAPS, "", ListOptions(resource_version=rv))
    with pytest.raises(StatusError) as err:
        await anext(stream)
    assert (err.value.code, err.value.reason) == (410, "Expired")
    assert err.value.message.startswith(f"too old resource version: {rv} (")


async def test_watch_namespace_and_selector(registry: ObjectRegistry) -> None:
    """Other namespaces are not seen; an object leaving the selector is DELETED and one
    entering it is ADDED."""
    stream = registry.watch(CONFIGMAPS, "default", ListOptions(label_selector="app=web",
                                                                resource_version="0"))
    await make(registry, "elsewhere", "other", app="web")
    await make(registry, "db", app="db")
    await make(registry, "web", app="web")
    assert await take(stream, 1) == [("ADDED", "web")]
    await registry.patch(CONFIGMAPS, "default", "web", MERGE_PATCH,
                         {"metadata": {"labels": {"app": "gone"}}}, W)
    await registry.patch(CONFIGMAPS, "default", "db", MERGE_PATCH,
                         {"metadata": {"labels": {"app": "web"}}}, W)
    assert await take(stream, 2) == [("DELETED", "web"), ("ADDED", "db")]
    await stream.aclose()


async def test_watch_field_selector_on_name(registry: ObjectRegistry) -> None:
    """kubectl get cm NAME -w watches with fieldSelector metadata.name=NAME."""
    await make(registry, "a")
    await make(registry, "b")
    stream = registry.watch(CONFIGMAPS, "default",
                            ListOptions(field_selector="metadata.name=b"))
    assert await take(stream, 1) == [("ADDED", "b")]
    await stream.aclose()


async def test_bookmarks(registry: ObjectRegistry) -> None:
    """With allowWatchBookmarks, BOOKMARK events carry the latest resourceVersion."""
    rv = await make(registry, "a")
    stream = registry.watch(CONFIGMAPS, "default", ListOptions(
        resource_version=rv, allow_bookmarks=True))
    event = await asyncio.wait_for(anext(stream), 2)
    assert event["type"] == "BOOKMARK"
    assert event["object"]["metadata"] == {"resourceVersion": rv}
    assert event["object"]["kind"] == "ConfigMap"
    await stream.aclose()


async def test_send_initial_events_ends_with_bookmark(registry: ObjectRegistry) -> None:
    """sendInitialEvents sends the state, then a bookmark marking its end."""
    await make(registry, "a")
    stream = registry.watch(CONFIGMAPS, "default", ListOptions(
        send_initial_events=True, allow_bookmarks=True,
        resource_version_match="NotOlderThan"))
    added = await asyncio.wait_for(anext(stream), 2)
    marker = await asyncio.wait_for(anext(stream), 2)
    assert added["type"] == "ADDED"
    assert marker["type"] == "BOOKMARK"
    assert marker["object"]["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    await stream.aclose()


async def test_timeout_ends_the_stream(registry: ObjectRegistry) -> None:
    """timeoutSeconds ends the watch cleanly."""
    stream = registry.watch(CONFIGMAPS, "default", ListOptions(timeout_seconds=1,
                                                                resource_version="1"))
    events = [e async for e in stream]
    assert all(e["type"] != "ERROR" for e in events)


async def test_bad_selector_fails_the_watch(registry: ObjectRegistry) -> None:
    """A malformed selector on a watch is 400 before any event."""
    stream = registry.watch(CONFIGMAPS, "", ListOptions(label_selector="!!"))
    with pytest.raises(StatusError) as err:
        await anext(stream)
    assert err.value.code == 400
