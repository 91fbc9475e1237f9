"""DELETE: grace periods, finalizers, preconditions, propagation policies, namespaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.patch import MERGE_PATCH
from minikube13.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONFIGMAPS = kinds.find("", "v1", "configmaps")
PODS = kinds.find("", "v1", "pods")
NAMESPACES = kinds.find("", "v1", "namespaces")
RCS = kinds.find("", "v1", "replicationcontrollers")
RS = kinds.find("apps", "v1", "replicasets")
EXT_RS = kinds.find("extensions", "v1beta1", "replicasets")
assert CONFIGMAPS and PODS and NAMESPACES and RCS and RS and EXT_RS
W = WriteOptions()


@pytest.fixture
async def registry() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    reg = ObjectRegistry(store, clock=lambda: NOW)
    await reg.ensure_namespace("default")
    yield reg
    await store.close()


def configmap(name: str = "cfg", finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "x"}}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def pod(name: str = "p", node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def replica_set(api_version: str = "apps/v1") -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "ReplicaSet", "metadata": {"name": "rs"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "rs"}},
                     "template": template("rs")}}


async def test_delete_returns_the_object(registry: ObjectRegistry) -> None:
    """A plain delete is 200 with the object, which is then gone."""
    await registry.create(CONFIGMAPS, "default", configmap(), W)
    result = await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions())
    assert result.status_code == 200 and result.object["metadata"]["name"] == "cfg"
    with pytest.raises(StatusError) as err:
        await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions())
    assert err.value.code == 404


async def test_unbound_pod_is_deleted_at_once(registry: ObjectRegistry) -> None:
    """A pod on no node has nothing to stop: it goes immediately."""
    await registry.create(PODS, "default", pod(), W)
    result = await registry.delete(PODS, "default", "p", DeleteOptions())
    assert result.status_code == 200


async def test_bound_pod_is_deleted_gracefully(registry: ObjectRegistry) -> None:
    """A pod on a node gets deletionTimestamp = now + grace and stays (202); a shorter
    grace period moves the deadline; grace 0 removes it."""
    await registry.create(PODS, "default", pod(node="n1"), W)
    first = await registry.delete(PODS, "default", "p", DeleteOptions())
    meta = first.object["metadata"]
    assert first.status_code == 202
    assert meta["deletionGracePeriodSeconds"] == 30
    assert meta["deletionTimestamp"] == "2026-01-02T03:04:35Z"
    again = await registry.delete(PODS, "default", "p", DeleteOptions(grace_period_seconds=60))
    assert again.object["metadata"]["deletionGracePeriodSeconds"] == 30
    shorter = await registry.delete(PODS, "default", "p", DeleteOptions(grace_period_seconds=5))
    assert shorter.object["metadata"]["deletionGracePeriodSeconds"] == 5
    assert shorter.object["metadata"]["deletionTimestamp"] == \
        (NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    final = await registry.delete(PODS, "default", "p", DeleteOptions(grace_period_seconds=0))
    assert final.status_code == 200
    with pytest.raises(StatusError):
        await registry.get(PODS, "default", "p")


async def test_finalizers_keep_the_object_until_removed(registry: ObjectRegistry) -> None:
    """With a finalizer, delete sets deletionTimestamp (202); removing the last finalizer
    deletes it."""
    await registry.create(CONFIGMAPS, "default", configmap(finalizers=["example.com/x"]), W)
    pending = await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions())
    assert pending.status_code == 202
    assert pending.object["metadata"]["deletionTimestamp"] == "2026-01-02T03:04:05Z"
    assert pending.object["metadata"]["deletionGracePeriodSeconds"] == 0
    again = await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions())
    assert again.status_code == 202
    assert again.object["metadata"]["resourceVersion"] == \
        pending.object["metadata"]["resourceVersion"]
    await registry.patch(CONFIGMAPS, "default", "cfg", MERGE_PATCH,
                         {"metadata": {"finalizers": None}}, W)
    with pytest.raises(StatusError) as err:
        await registry.get(CONFIGMAPS, "default", "cfg")
    assert err.value.code == 404


async def test_preconditions(registry: ObjectRegistry) -> None:
    """A uid or resourceVersion precondition that does not hold is 409."""
    created = (await registry.create(CONFIGMAPS, "default", configmap(), W)).object
    with pytest.raises(StatusError) as err:
        await registry.delete(CONFIGMAPS, "default", "cfg",
                              DeleteOptions(precondition_uid="other"))
    assert err.value.code == 409
    assert "Precondition failed: UID in precondition: other" in err.value.message
    with pytest.raises(StatusError) as err:
        await registry.delete(CONFIGMAPS, "default", "cfg",
                              DeleteOptions(precondition_resource_version="1"))
    assert "ResourceVersion in precondition: 1" in err.value.message
    ok = DeleteOptions(precondition_uid=created["metadata"]["uid"],
                       precondition_resource_version=created["metadata"]["resourceVersion"])
    assert (await registry.delete(CONFIGMAPS, "default", "cfg", ok)).status_code == 200


@pytest.mark.parametrize(("policy", "finalizer"), [
    ("Orphan", "orphan"), ("Foreground", "foregroundDeletion")])
async def test_propagation_policy_finalizers(registry: ObjectRegistry, policy: str,
                                             finalizer: str) -> None:
    """Orphan and Foreground keep the object with the garbage collector's finalizer."""
    await registry.create(RS, "default", replica_set(), W)
    result = await registry.delete(RS, "default", "rs", DeleteOptions(propagation_policy=policy))
    assert result.status_code == 202
    assert result.object["metadata"]["finalizers"] == [finalizer]


async def test_background_is_immediate(registry: ObjectRegistry) -> None:
    """Background (the apps/v1 default) deletes the owner now."""
    await registry.create(RS, "default", replica_set(), W)
    assert (await registry.delete(RS, "default", "rs", DeleteOptions())).status_code == 200


async def test_old_versions_orphan_by_default(registry: ObjectRegistry) -> None:
    """extensions/v1beta1 ReplicaSets and v1 RCs orphan dependents unless told otherwise."""
    await registry.create(EXT_RS, "default", replica_set("extensions/v1beta1"), W)
    result = await registry.delete(EXT_RS, "default", "rs", DeleteOptions())
    assert result.object["metadata"]["finalizers"] == ["orphan"]
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 1, "selector": {"app": "rc"}, "template": template("rc")}}
    await registry.create(RCS, "default", rc, W)
    result = await registry.delete(RCS, "default", "rc", DeleteOptions())
    assert result.object["metadata"]["finalizers"] == ["orphan"]
    await registry.create(RCS, "default", dict(rc, metadata={"name": "rc2"}), W)
    result = await registry.delete(RCS, "default", "rc2",
                                   DeleteOptions(orphan_dependents=False))
    assert result.status_code == 200


async def test_bad_delete_options(registry: ObjectRegistry) -> None:
    """Both orphanDependents and propagationPolicy, or an unknown policy, is 422."""
    with pytest.raises(StatusError) as err:
        await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions(
            propagation_policy="Orphan", orphan_dependents=True))
    assert err.value.code == 422
    with pytest.raises(StatusError) as err:
        await registry.delete(CONFIGMAPS, "default", "cfg",
                              DeleteOptions(propagation_policy="Sideways"))
    assert err.value.code == 422 and "Unsupported value" in err.value.message


async def test_namespace_delete_marks_terminating(registry: ObjectRegistry) -> None:
    """Deleting a namespace makes it Terminating; finalize with no finalizers removes it."""
    await registry.ensure_namespace("team")
    result = await registry.delete(NAMESPACES, "", "team", DeleteOptions())
    ns = result.object
    assert result.status_code == 202
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    again = await registry.delete(NAMESPACES, "", "team", DeleteOptions())
    assert again.status_code == 202
    ns["spec"]["finalizers"] = []
    await registry.update(NAMESPACES, "", "team", ns, W, "finalize")
    with pytest.raises(StatusError) as err:
        await registry.get(NAMESPACES, "", "team")
    assert err.value.code == 404


async def test_namespace_update_cannot_change_finalizers(registry: ObjectRegistry) -> None:
    """spec.finalizers changes only through the finalize subresource."""
    await registry.ensure_namespace("team")
    ns = (await registry.get(NAMESPACES, "", "team")).object
    ns["spec"]["finalizers"] = []
    result = await registry.update(NAMESPACES, "", "team", ns, W)
    assert result.object["spec"]["finalizers"] == ["kubernetes"]


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_system_namespaces_cannot_be_deleted(registry: ObjectRegistry,
                                                   name: str) -> None:
    """default, kube-system and kube-public are Forbidden to delete."""
    await registry.ensure_namespace(name)
    with pytest.raises(StatusError) as err:
        await registry.delete(NAMESPACES, "", name, DeleteOptions())
    assert err.value.code == 403
    assert err.value.message == f'namespaces "{name}" is forbidden: this namespace may not ' \
                                "be deleted"


async def test_delete_collection_with_selector(registry: ObjectRegistry) -> None:
    """deletecollection removes what the selector picks and returns those objects."""
    for name in ("a", "b"):
        await registry.create(CONFIGMAPS, "default", configmap(name), W)
    other = configmap("c")
    other["metadata"]["labels"] = {"app": "y"}
    await registry.create(CONFIGMAPS, "default", other, W)
    deleted = await registry.delete_collection(CONFIGMAPS, "default",
                                               ListOptions(label_selector="app=x"),
                                               DeleteOptions())
    assert deleted["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["a", "b"]
    left = await registry.list(CONFIGMAPS, "default", ListOptions())
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]
