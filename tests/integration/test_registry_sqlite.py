"""The registry on the real SQLite store: the semantics the unit tests check on the fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minikube13.controllers.runner import ControllerRunner
from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from minikube13.store.sqlite import SqliteStore

CONFIGMAPS = kinds.find("", "v1", "configmaps")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")
NAMESPACES = kinds.find("", "v1", "namespaces")
assert CONFIGMAPS and DEPLOYMENTS and NAMESPACES
W = WriteOptions()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(str(tmp_path / "state.db"))
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def registry(store: SqliteStore) -> ObjectRegistry:
    reg = ObjectRegistry(store)
    await reg.ensure_namespace("default")
    return reg


def deployment() -> dict[str, object]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "containers": [{"name": "app", "image": "nginx"}]}}}}


async def test_crud_and_patches(registry: ObjectRegistry) -> None:
    """Create, all three patch types, conflict on a stale update, delete."""
    created = (await registry.create(DEPLOYMENTS, "default", deployment(), W)).object
    await registry.patch(DEPLOYMENTS, "default", "web", JSON_PATCH,
                         [{"op": "replace", "path": "/spec/replicas", "value": 2}], W)
    await registry.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                         {"metadata": {"labels": {"tier": "front"}}}, W)
    result = await registry.patch(DEPLOYMENTS, "default", "web", STRATEGIC_MERGE_PATCH, {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}},
        W)
    assert result.object["spec"]["replicas"] == 2
    assert result.object["metadata"]["generation"] == 3
    with pytest.raises(StatusError) as err:
        await registry.update(DEPLOYMENTS, "default", "web", created, W)
    assert err.value.code == 409
    assert (await registry.delete(DEPLOYMENTS, "default", "web", DeleteOptions())).status_code \
        == 200


async def test_paging_and_watch_410(registry: ObjectRegistry, store: SqliteStore) -> None:
    """Paging reads one revision; a watch from a compacted revision is 410."""
    first_rv = ""
    for i in range(5):
        made = await registry.create(CONFIGMAPS, "default", {"metadata": {"name": f"c{i}"}}, W)
        first_rv = first_rv or made.object["metadata"]["resourceVersion"]
    page = await registry.list(CONFIGMAPS, "default", ListOptions(limit=3))
    rest = await registry.list(CONFIGMAPS, "default", ListOptions(
        limit=3, continue_token=page["metadata"]["continue"]))
    assert len(page["items"]) + len(rest["items"]) == 5
    await store.compact(await store.current_revision())
    with pytest.raises(StatusError) as err:
        await anext(registry.watch(CONFIGMAPS, "", ListOptions(resource_version=first_rv)))
    assert err.value.code == 410


async def test_watch_sees_changes(registry: ObjectRegistry) -> None:
    """A watch from now sees the creates that follow."""
    stream = registry.watch(CONFIGMAPS, "default", ListOptions(resource_version="0"))
    await registry.create(CONFIGMAPS, "default", {"metadata": {"name": "seen"}}, W)
    event = await asyncio.wait_for(anext(stream), 5)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "seen")
    await stream.aclose()


async def test_namespace_deletion_and_gc(registry: ObjectRegistry) -> None:
    """With the controllers running, a namespace delete empties and removes it, and a
    foreground delete removes dependents before the owner."""
    runner = ControllerRunner(registry)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.synced.wait(), 10)
        owner = (await registry.create(CONFIGMAPS, "default",
                                       {"metadata": {"name": "owner"}}, W)).object
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
               "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}
        await registry.create(CONFIGMAPS, "default",
                              {"metadata": {"name": "child", "ownerReferences": [ref]}}, W)
        await registry.ensure_namespace("team")
        await registry.create(CONFIGMAPS, "team", {"metadata": {"name": "x"}}, W)
        await registry.delete(CONFIGMAPS, "default", "owner",
                              DeleteOptions(propagation_policy="Foreground"))
        await registry.delete(NAMESPACES, "", "team", DeleteOptions())
        for _ in range(250):
            left = await registry.list(CONFIGMAPS, "", ListOptions())
            namespaces = await registry.list(NAMESPACES, "", ListOptions())
            if not left["items"] and "team" not in {
                    n["metadata"]["name"] for n in namespaces["items"]}:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail(f"left behind: {left['items']}")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
