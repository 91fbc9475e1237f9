"""Garbage collection and namespace lifecycle: the pure decisions, then the runner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from minikube13.controllers import garbage_collector as gc
from minikube13.controllers import namespace as nsc
from minikube13.controllers.object_cache import ObjectCache
from minikube13.controllers.runner import ControllerRunner
from minikube13.controllers.workqueue import WorkQueue
from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore
from minikube13.testing.waiting import eventually

NOW = datetime(2026, 1, 2, tzinfo=UTC)
CONFIGMAPS = kinds.find("", "v1", "configmaps")
NAMESPACES = kinds.find("", "v1", "namespaces")
PODS = kinds.find("", "v1", "pods")
assert CONFIGMAPS and NAMESPACES and PODS
W = WriteOptions()


def cm(name: str, uid: str, *owners: tuple[str, str, bool], deleting: bool = False,
       finalizers: tuple[str, ...] = ()) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid}
    if owners:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": o, "uid": u,
             "blockOwnerDeletion": block} for o, u, block in owners]
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = list(finalizers)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def view(*objs: dict[str, Any]) -> ObjectCache:
    cache = ObjectCache()
    for obj in objs:
        cache.put("configmaps", obj)
    return cache


def ref(name: str, uid: str = "") -> gc.ObjectRef:
    return gc.ObjectRef("configmaps", "ns", name, uid)


def test_dependent_of_a_missing_owner_is_deleted() -> None:
    """An object whose only owner is gone is deleted in the background, after a live
    check of that owner."""
    actions = gc.reconcile(ref("child"), view(cm("child", "c1", ("owner", "o1", False))), NOW)
    assert actions == [gc.DeleteObject(ref("child", "c1"), "Background", (ref("owner", "o1"),))]


def test_dependent_with_a_live_owner_stays() -> None:
    """An owner that exists with the referenced uid keeps its dependent."""
    cache = view(cm("owner", "o1"), cm("child", "c1", ("owner", "o1", False)))
    assert gc.reconcile(ref("child"), cache, NOW) == []


def test_owner_recreated_with_new_uid_counts_as_gone() -> None:
    """An owner of the same name but another uid is not the owner."""
    cache = view(cm("owner", "o2"), cm("child", "c1", ("owner", "o1", False)))
    assert [type(a) for a in gc.reconcile(ref("child"), cache, NOW)] == [gc.DeleteObject]


def test_dangling_reference_removed_when_another_owner_lives() -> None:
    """With one owner alive and one gone, only the dangling reference is removed."""
    cache = view(cm("a", "o1"), cm("child", "c1", ("a", "o1", False), ("b", "o2", False)))
    assert gc.reconcile(ref("child"), cache, NOW) == [
        gc.RemoveOwnerRefs(ref("child", "c1"), ("o2",), (ref("b", "o2"),))]


def test_foreground_owner_deletes_dependents_then_itself() -> None:
    """foregroundDeletion: dependents are deleted; the finalizer goes once no dependent
    blocks the owner."""
    owner = cm("owner", "o1", deleting=True, finalizers=("foregroundDeletion",))
    blocking = cm("child", "c1", ("owner", "o1", True))
    actions = gc.reconcile(ref("owner"), view(owner, blocking), NOW)
    assert actions == [gc.DeleteObject(ref("child", "c1"), "Background")]
    loose = cm("child", "c1", ("owner", "o1", False))
    actions = gc.reconcile(ref("owner"), view(owner, loose), NOW)
    assert actions == [gc.DeleteObject(ref("child", "c1"), "Background"),
                       gc.RemoveFinalizer(ref("owner", "o1"), "foregroundDeletion")]
    assert gc.reconcile(ref("owner"), view(owner), NOW) == [
        gc.RemoveFinalizer(ref("owner", "o1"), "foregroundDeletion")]


def test_orphan_owner_releases_dependents() -> None:
    """orphan: references are removed from dependents, then the finalizer."""
    owner = cm("owner", "o1", deleting=True, finalizers=("orphan",))
    child = cm("child", "c1", ("owner", "o1", True))
    assert gc.reconcile(ref("owner"), view(owner, child), NOW) == [
        gc.RemoveOwnerRefs(ref("child", "c1"), ("o1",)),
        gc.RemoveFinalizer(ref("owner", "o1"), "orphan")]


def test_dependent_of_a_foreground_owner_is_deleted() -> None:
    """A dependent whose owner waits on it is deleted (foreground if it has dependents)."""
    owner = cm("owner", "o1", deleting=True, finalizers=("foregroundDeletion",))
    child = cm("child", "c1", ("owner", "o1", True))
    grandchild = cm("grand", "g1", ("child", "c1", True))
    assert gc.reconcile(ref("child"), view(owner, child, grandchild), NOW) == [
        gc.DeleteObject(ref("child", "c1"), "Foreground", ())]


def test_namespace_controller_empties_then_finalizes() -> None:
    """A terminating namespace has its contents deleted, then is finalized when empty."""
    cache = ObjectCache()
    ns = {"metadata": {"name": "ns", "uid": "n1", "deletionTimestamp": "x"},
          "spec": {"finalizers": ["kubernetes"]}}
    cache.put("namespaces", ns)
    cache.put("configmaps", cm("a", "a1"))
    cache.put("configmaps", cm("b", "b1", deleting=True, finalizers=("x",)))
    assert nsc.reconcile("ns", cache, NOW) == [
        gc.DeleteObject(ref("a", "a1"), "Background")]
    cache.remove("configmaps", cm("a", "a1"))
    cache.remove("configmaps", cm("b", "b1"))
    assert nsc.reconcile("ns", cache, NOW) == [nsc.FinalizeNamespace("ns", "n1")]
    cache.put("namespaces", {"metadata": {"name": "ns", "uid": "n1"}})
    assert nsc.reconcile("ns", cache, NOW) == []


async def test_work_queue_serialises_and_retries() -> None:
    """A key queued twice is handed out once; a failed key comes back after a delay."""
    queue: WorkQueue[str] = WorkQueue(base_delay=0.01)
    queue.add("a")
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")  # while processing: held back until done()
    assert len(queue) == 1
    queue.done("a")
    assert await queue.get() == "a"
    queue.add_rate_limited("a")
    queue.done("a")
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    assert queue.failures("a") == 1


# -- the runner against a real registry ------------------------------------------------------


@pytest.fixture
async def cluster() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    runner = ControllerRunner(registry)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(runner.synced.wait(), 5)
    yield registry
    stop.set()
    await asyncio.wait_for(task, 5)
    await store.close()


async def exists(registry: ObjectRegistry, name: str, info: Any = CONFIGMAPS,
                 namespace: str = "default") -> bool:
    try:
        await registry.get(info, namespace, name)
    except StatusError as err:
        assert err.code == 404
        return False
    return True


async def family(registry: ObjectRegistry, block: bool = True) -> str:
    owner = await registry.create(CONFIGMAPS, "default", {"metadata": {"name": "owner"}}, W)
    uid = owner.object["metadata"]["uid"]
    for name in ("child-1", "child-2"):
        await registry.create(CONFIGMAPS, "default", {"metadata": {
            "name": name, "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                               "name": "owner", "uid": uid,
                                               "blockOwnerDeletion": block}]}}, W)
    return str(uid)


async def test_background_deletion_removes_dependents(cluster: ObjectRegistry) -> None:
    """Deleting an owner in the background removes its dependents soon after."""
    await family(cluster)
    await cluster.delete(CONFIGMAPS, "default", "owner", DeleteOptions())
    await eventually(lambda: _none(cluster, "child-1", "child-2"))


async def test_foreground_deletion_removes_dependents_first(cluster: ObjectRegistry) -> None:
    """Foreground: the owner stays until its blocking dependents are gone, then goes."""
    await family(cluster)
    result = await cluster.delete(CONFIGMAPS, "default", "owner",
                                  DeleteOptions(propagation_policy="Foreground"))
    assert result.status_code == 202
    await eventually(lambda: _none(cluster, "child-1", "child-2", "owner"))


async def test_orphan_deletion_keeps_dependents(cluster: ObjectRegistry) -> None:
    """Orphan: dependents stay, without the owner reference; the owner goes."""
    await family(cluster)
    await cluster.delete(CONFIGMAPS, "default", "owner",
                         DeleteOptions(propagation_policy="Orphan"))
    await eventually(lambda: _none(cluster, "owner"))
    child = (await cluster.get(CONFIGMAPS, "default", "child-1")).object
    assert not child["metadata"].get("ownerReferences")


async def test_namespace_deletion_removes_contents(cluster: ObjectRegistry) -> None:
    """Deleting a namespace deletes everything in it, then the namespace itself."""
    await cluster.ensure_namespace("team")
    for name in ("a", "b"):
        await cluster.create(CONFIGMAPS, "team", {"metadata": {"name": name}}, W)
    await cluster.create(PODS, "team", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "nginx"}]}}, W)
    await cluster.delete(NAMESPACES, "", "team", DeleteOptions())
    await eventually(lambda: _none(cluster, "team", info=NAMESPACES, namespace=""))
    left = await cluster.list(CONFIGMAPS, "team", ListOptions())
    assert left["items"] == []


async def _none(registry: ObjectRegistry, *names: str, info: Any = CONFIGMAPS,
                namespace: str = "default") -> bool:
    for name in names:
        if await exists(registry, name, info, namespace):
            return False
    return True
