"""The agent's local copy over an in-memory store: servers' objects kept as they are, newer
ones only, a relist that touches only what changed, and deletes of the same incarnation."""

from __future__ import annotations

from typing import Any

from minikube13.cluster.copy import LocalCopy
from minikube13.cluster.forward import CopyRegistry
from minikube13.cluster.policy import UPSTREAM_RV
from minikube13.model import kinds
from minikube13.registry import metadata as md
from minikube13.registry.options import ListOptions
from minikube13.testing.memory_store import MemoryStore

PODS = kinds.find("", "v1", "pods")
assert PODS is not None


def pod(name: str, rv: int, uid: str = "", phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                         "resourceVersion": str(rv),
                         "creationTimestamp": "2026-11-26T10:00:00Z"},
            "spec": {"nodeName": "edge", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": phase}}


async def revision(store: MemoryStore, name: str) -> int | None:
    kv = await store.get(md.key(PODS, "default", name))
    return None if kv is None else kv.mod_revision


async def test_a_copied_object_keeps_the_servers_identity(store: MemoryStore) -> None:
    copy = LocalCopy(store)
    assert await copy.put(PODS, pod("a", 40))
    served = (await CopyRegistry(store).get(PODS, "default", "a")).object
    assert served["metadata"]["uid"] == "uid-a"
    assert served["metadata"]["creationTimestamp"] == "2026-11-26T10:00:00Z"
    assert served["metadata"]["resourceVersion"] == "40"
    assert UPSTREAM_RV not in (served["metadata"].get("annotations") or {})
    listed = await CopyRegistry(store).list(PODS, "", ListOptions())
    assert [i["metadata"]["resourceVersion"] for i in listed["items"]] == ["40"]


async def test_only_a_newer_or_different_object_is_written(store: MemoryStore) -> None:
    copy = LocalCopy(store)
    await copy.put(PODS, pod("a", 40))
    first = await revision(store, "a")
    assert not await copy.put(PODS, pod("a", 40))
    assert not await copy.put(PODS, pod("a", 39, phase="Pending"))
    assert await revision(store, "a") == first
    assert await copy.put(PODS, pod("a", 41, phase="Succeeded"))
    assert await revision(store, "a") != first


async def test_a_relist_drops_what_vanished_and_leaves_the_rest_alone(store: MemoryStore
                                                                      ) -> None:
    copy = LocalCopy(store)
    for name in ("keep", "gone", "changed"):
        await copy.put(PODS, pod(name, 10))
    kept = await revision(store, "keep")
    written, dropped = await copy.replace(PODS, [pod("keep", 10), pod("changed", 12, phase="Failed"),
                                                 pod("new", 13)])
    assert (written, dropped) == (2, 1)
    assert await revision(store, "keep") == kept
    assert await revision(store, "gone") is None
    assert await revision(store, "new") is not None


async def test_a_delete_removes_only_the_same_incarnation(store: MemoryStore) -> None:
    copy = LocalCopy(store)
    await copy.put(PODS, pod("a", 10, uid="second"))
    assert not await copy.drop(PODS, pod("a", 9, uid="first"))
    assert await revision(store, "a") is not None
    assert await copy.drop(PODS, pod("a", 11, uid="second"))
    assert await revision(store, "a") is None
