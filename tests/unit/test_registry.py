"""ObjectRegistry create/get/update/patch semantics over the in-memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, WriteOptions
from minikube13.registry.patch import JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from minikube13.testing.memory_store import MemoryStore

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONFIGMAPS = kinds.find("", "v1", "configmaps")
PODS = kinds.find("", "v1", "pods")
NAMESPACES = kinds.find("", "v1", "namespaces")
DEPLOYMENTS = kinds.find("apps", "v1", "deployments")
EXT_DEPLOYMENTS = kinds.find("extensions", "v1beta1", "deployments")
assert CONFIGMAPS and PODS and NAMESPACES and DEPLOYMENTS and EXT_DEPLOYMENTS
W = WriteOptions()


@pytest.fixture
async def registry() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    reg = ObjectRegistry(store, clock=lambda: NOW)
    await reg.ensure_namespace("default")
    yield reg
    await store.close()


def configmap(name: str = "cfg", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": data or {"k": "v"}}


def deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "containers": [{"name": "app", "image": "nginx"}]}}}}


def pod(name: str = "p", node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_create_fills_server_metadata(registry: ObjectRegistry) -> None:
    """A created object comes back 201 with uid, creationTimestamp and resourceVersion."""
    result = await registry.create(CONFIGMAPS, "default", configmap(), W)
    meta = result.object["metadata"]
    assert result.status_code == 201
    assert meta["namespace"] == "default"
    assert meta["creationTimestamp"] == "2026-01-02T03:04:05Z"
    assert len(meta["uid"]) == 36 and int(meta["resourceVersion"]) > 0
    got = await registry.get(CONFIGMAPS, "default", "cfg")
    assert got.object == result.object


async def test_generation_starts_at_one_for_workloads(registry: ObjectRegistry) -> None:
    """Deployments get metadata.generation 1; config maps get none."""
    created = await registry.create(DEPLOYMENTS, "default", deployment(), W)
    assert created.object["metadata"]["generation"] == 1
    cm = await registry.create(CONFIGMAPS, "default", configmap(), W)
    assert "generation" not in cm.object["metadata"]


async def test_generate_name(registry: ObjectRegistry) -> None:
    """generateName gets five characters from the apiserver's alphabet."""
    obj = configmap()
    obj["metadata"] = {"generateName": "cfg-"}
    result = await registry.create(CONFIGMAPS, "default", obj, W)
    name = result.object["metadata"]["name"]
    assert name.startswith("cfg-") and len(name) == 9
    assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


async def test_create_twice_is_already_exists(registry: ObjectRegistry) -> None:
    """A second create of one name is 409 AlreadyExists."""
    await registry.create(CONFIGMAPS, "default", configmap(), W)
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "default", configmap(), W)
    assert (err.value.code, err.value.reason) == (409, "AlreadyExists")
    assert err.value.message == 'configmaps "cfg" already exists'


async def test_create_namespace_mismatch(registry: ObjectRegistry) -> None:
    """An object naming another namespace than the URL is 400."""
    obj = configmap()
    obj["metadata"]["namespace"] = "other"
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "default", obj, W)
    assert err.value.code == 400
    assert err.value.message == ("the namespace of the provided object does not match the "
                                 "namespace sent on the request")


async def test_create_in_missing_namespace(registry: ObjectRegistry) -> None:
    """Creating in a namespace that does not exist is 404 namespaces "x" not found."""
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "nowhere", configmap(), W)
    assert (err.value.code, err.value.message) == (404, 'namespaces "nowhere" not found')


async def test_create_in_terminating_namespace(registry: ObjectRegistry) -> None:
    """Creating in a namespace being deleted is 403 Forbidden."""
    await registry.ensure_namespace("doomed")
    await registry.delete(NAMESPACES, "", "doomed", DeleteOptions())
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "doomed", configmap(), W)
    assert err.value.code == 403
    assert "unable to create new content in namespace doomed because it is being " \
           "terminated" in err.value.message


async def test_create_without_name_is_invalid(registry: ObjectRegistry) -> None:
    """No name and no generateName is 422 naming metadata.name."""
    obj = configmap()
    obj["metadata"] = {}
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "default", obj, W)
    assert err.value.code == 422
    assert "metadata.name: Required value" in err.value.message


async def test_strict_field_validation(registry: ObjectRegistry) -> None:
    """Unknown fields are a 400 under Strict and a warning under Warn."""
    obj = configmap()
    obj["bogus"] = 1
    with pytest.raises(StatusError) as err:
        await registry.create(CONFIGMAPS, "default", obj, WriteOptions(field_validation="Strict"))
    assert err.value.code == 400 and 'unknown field "bogus"' in err.value.message
    result = await registry.create(CONFIGMAPS, "default", obj, W)
    assert result.warnings == ['unknown field "bogus"']
    assert "bogus" not in result.object


async def test_get_missing(registry: ObjectRegistry) -> None:
    """A missing object is 404 with the apiserver's message, group-qualified."""
    with pytest.raises(StatusError) as err:
        await registry.get(DEPLOYMENTS, "default", "nope")
    assert err.value.message == 'deployments.apps "nope" not found'


async def test_update_with_stale_resource_version(registry: ObjectRegistry) -> None:
    """Two writers with one resourceVersion: the second gets 409 Conflict."""
    first = (await registry.create(CONFIGMAPS, "default", configmap(), W)).object
    second = dict(first, data={"k": "2"})
    await registry.update(CONFIGMAPS, "default", "cfg", dict(first, data={"k": "1"}), W)
    with pytest.raises(StatusError) as err:
        await registry.update(CONFIGMAPS, "default", "cfg", second, W)
    assert err.value.code == 409
    assert err.value.message == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
        "please apply your changes to the latest version and try again")


async def test_update_without_resource_version_is_unconditional(
        registry: ObjectRegistry) -> None:
    """An update with no resourceVersion writes over whatever is there."""
    created = (await registry.create(CONFIGMAPS, "default", configmap(), W)).object
    result = await registry.update(CONFIGMAPS, "default", "cfg", configmap(k="new"), W)
    assert result.object["data"] == {"k": "new"}
    assert result.object["metadata"]["uid"] == created["metadata"]["uid"]
    assert result.object["metadata"]["creationTimestamp"] == \
        created["metadata"]["creationTimestamp"]


async def test_noop_update_keeps_resource_version(registry: ObjectRegistry) -> None:
    """Writing back an unchanged object does not create a new resourceVersion."""
    created = (await registry.create(CONFIGMAPS, "default", configmap(), W)).object
    result = await registry.update(CONFIGMAPS, "default", "cfg", created, W)
    assert result.object["metadata"]["resourceVersion"] == \
        created["metadata"]["resourceVersion"]


async def test_update_name_mismatch(registry: ObjectRegistry) -> None:
    """A body naming another object than the URL is 400."""
    await registry.create(CONFIGMAPS, "default", configmap(), W)
    with pytest.raises(StatusError) as err:
        await registry.update(CONFIGMAPS, "default", "cfg", configmap("other"), W)
    assert err.value.code == 400


async def test_update_missing_is_not_found(registry: ObjectRegistry) -> None:
    """PUT of a missing config map is 404 (config maps are not created on update)."""
    with pytest.raises(StatusError) as err:
        await registry.update(CONFIGMAPS, "default", "cfg", configmap(), W)
    assert err.value.code == 404


async def test_generation_bumps_only_on_spec_change(registry: ObjectRegistry) -> None:
    """A label change keeps metadata.generation; a replicas change bumps it."""
    await registry.create(DEPLOYMENTS, "default", deployment(), W)
    labelled = await registry.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                                    {"metadata": {"labels": {"x": "1"}}}, W)
    assert labelled.object["metadata"]["generation"] == 1
    scaled = await registry.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                                  {"spec": {"replicas": 3}}, W)
    assert scaled.object["metadata"]["generation"] == 2


async def test_status_subresource_split(registry: ObjectRegistry) -> None:
    """The main endpoint ignores status; the status endpoint changes only status."""
    created = (await registry.create(DEPLOYMENTS, "default", deployment(), W)).object
    with_status = dict(created, status={"replicas": 5})
    main = await registry.update(DEPLOYMENTS, "default", "web", with_status, W)
    assert main.object.get("status", {}).get("replicas") is None
    assert main.object["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    changed = dict(with_status, spec=dict(created["spec"], replicas=9))
    status = await registry.update(DEPLOYMENTS, "default", "web", changed, W, "status")
    assert status.object["status"]["replicas"] == 5
    assert status.object["spec"]["replicas"] == 1
    got = await registry.get(DEPLOYMENTS, "default", "web", "status")
    assert got.object["status"]["replicas"] == 5


async def test_patch_all_three_types(registry: ObjectRegistry) -> None:
    """JSON, merge and strategic merge patches all reach the stored object."""
    await registry.create(DEPLOYMENTS, "default", deployment(), W)
    await registry.patch(DEPLOYMENTS, "default", "web", JSON_PATCH,
                         [{"op": "replace", "path": "/spec/replicas", "value": 2}], W)
    await registry.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                         {"metadata": {"annotations": {"a": "b"}}}, W)
    result = await registry.patch(DEPLOYMENTS, "default", "web", STRATEGIC_MERGE_PATCH, {
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "x"}]}}}}, W)
    spec = result.object["spec"]
    assert spec["replicas"] == 2
    assert result.object["metadata"]["annotations"] == {"a": "b"}
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["app", "side"]


async def test_patch_with_stale_resource_version(registry: ObjectRegistry) -> None:
    """A patch that pins an old resourceVersion is 409."""
    created = (await registry.create(CONFIGMAPS, "default", configmap(), W)).object
    await registry.patch(CONFIGMAPS, "default", "cfg", MERGE_PATCH, {"data": {"k": "2"}}, W)
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
             "data": {"k": "3"}}
    with pytest.raises(StatusError) as err:
        await registry.patch(CONFIGMAPS, "default", "cfg", MERGE_PATCH, stale, W)
    assert err.value.code == 409


async def test_patch_invalid_result_is_422(registry: ObjectRegistry) -> None:
    """A patch that makes the object invalid is 422 with the field path."""
    await registry.create(DEPLOYMENTS, "default", deployment(), W)
    with pytest.raises(StatusError) as err:
        await registry.patch(DEPLOYMENTS, "default", "web", MERGE_PATCH,
                             {"spec": {"replicas": -1}}, W)
    assert err.value.code == 422 and "spec.replicas" in err.value.message


async def test_dry_run_writes_nothing(registry: ObjectRegistry) -> None:
    """dryRun create, update and delete answer as if done and leave the store alone."""
    dry = WriteOptions(dry_run=True)
    result = await registry.create(CONFIGMAPS, "default", configmap(), dry)
    assert result.status_code == 201 and result.object["metadata"]["uid"]
    with pytest.raises(StatusError):
        await registry.get(CONFIGMAPS, "default", "cfg")
    await registry.create(CONFIGMAPS, "default", configmap(), W)
    changed = await registry.update(CONFIGMAPS, "default", "cfg", configmap(k="dry"), dry)
    assert changed.object["data"] == {"k": "dry"}
    assert (await registry.get(CONFIGMAPS, "default", "cfg")).object["data"] == {"k": "v"}
    await registry.delete(CONFIGMAPS, "default", "cfg", DeleteOptions(dry_run=True))
    assert (await registry.get(CONFIGMAPS, "default", "cfg")).object["data"] == {"k": "v"}


async def test_served_versions_share_one_object(registry: ObjectRegistry) -> None:
    """A Deployment created through apps/v1 is read through extensions/v1beta1."""
    await registry.create(DEPLOYMENTS, "default", deployment(), W)
    got = await registry.get(EXT_DEPLOYMENTS, "default", "web")
    assert (got.object["apiVersion"], got.object["kind"]) == ("extensions/v1beta1",
                                                               "Deployment")


async def test_scale_subresource(registry: ObjectRegistry) -> None:
    """GET/PUT/PATCH scale speak autoscaling/v1 Scale (extensions: extensions/v1beta1)."""
    await registry.create(DEPLOYMENTS, "default", deployment(replicas=2), W)
    scale = (await registry.get(DEPLOYMENTS, "default", "web", "scale")).object
    assert scale["apiVersion"] == "autoscaling/v1" and scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 4
    updated = await registry.update(DEPLOYMENTS, "default", "web", scale, W, "scale")
    assert updated.object["spec"]["replicas"] == 4
    patched = await registry.patch(EXT_DEPLOYMENTS, "default", "web", MERGE_PATCH,
                                   {"spec": {"replicas": 5}}, W, "scale")
    assert patched.object["apiVersion"] == "extensions/v1beta1"
    assert patched.object["status"]["selector"] == {"app": "web"}
    assert patched.object["status"]["targetSelector"] == "app=web"
    got = await registry.get(DEPLOYMENTS, "default", "web")
    assert got.object["spec"]["replicas"] == 5
    with pytest.raises(StatusError) as err:
        await registry.update(DEPLOYMENTS, "default", "web",
                              {"metadata": {"name": "web"}, "spec": {"replicas": -1}}, W,
                              "scale")
    assert err.value.code == 422


async def test_pod_binding(registry: ObjectRegistry) -> None:
    """POST pods/{name}/binding sets spec.nodeName once; a second binding is 409."""
    await registry.create(PODS, "default", pod(), W)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"kind": "Node", "name": "node-1"}}
    result = await registry.create(PODS, "default", binding, W, "binding", "p")
    assert result.status_code == 201 and result.object["status"] == "Success"
    bound = (await registry.get(PODS, "default", "p")).object
    assert bound["spec"]["nodeName"] == "node-1"
    assert {"type": "PodScheduled", "status": "True"}.items() <= \
        bound["status"]["conditions"][0].items()
    with pytest.raises(StatusError) as err:
        await registry.create(PODS, "default", binding, W, "binding", "p")
    assert err.value.code == 409
    assert 'pod p is already assigned to node "node-1"' in err.value.message


async def test_unknown_subresource(registry: ObjectRegistry) -> None:
    """A subresource the kind does not have is 404; one it has but not for GET is 405."""
    await registry.create(CONFIGMAPS, "default", configmap(), W)
    with pytest.raises(StatusError) as err:
        await registry.get(CONFIGMAPS, "default", "cfg", "scale")
    assert err.value.code == 404
    with pytest.raises(StatusError) as err:
        await registry.get(PODS, "default", "p", "binding")
    assert err.value.code == 405


async def test_namespace_defaults(registry: ObjectRegistry) -> None:
    """A new namespace is Active with the kubernetes finalizer."""
    ns = (await registry.get(NAMESPACES, "", "default")).object
    assert ns["status"]["phase"] == "Active"
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert "namespace" not in ns["metadata"]
