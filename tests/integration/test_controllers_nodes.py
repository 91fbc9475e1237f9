"""Node lifecycle over a real registry: hollow nodes heartbeat, a silent one goes NotReady,
is tainted unreachable, loses its pods after the eviction timeout, and recovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from minikube13.controllers import all_controllers
from minikube13.controllers.node_lifecycle import UNREACHABLE
from minikube13.controllers.runner import ControllerRunner
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, WriteOptions
from minikube13.testing.hollow_node import HollowNode
from minikube13.testing.memory_store import MemoryStore
from minikube13.testing.waiting import eventually as _eventually


def _info(plural: str) -> ResourceInfo:
    info = kinds.find("", "v1", plural)
    assert info is not None
    return info


NODES, PODS, EVENTS = _info("nodes"), _info("pods"), _info("events")
W = WriteOptions()


@pytest.fixture
async def cluster() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    await registry.ensure_namespace("kube-node-lease")
    runner = ControllerRunner(registry, all_controllers(node_grace_s=0.6,
                                                        eviction_timeout_s=0.5))
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(runner.synced.wait(), 5)
    yield registry
    stop.set()
    await asyncio.wait_for(task, 5)
    await store.close()


async def node(registry: ObjectRegistry, name: str) -> dict[str, Any]:
    return (await registry.get(NODES, "", name)).object


def ready_status(obj: dict[str, Any]) -> str:
    return next(c["status"] for c in obj["status"]["conditions"] if c["type"] == "Ready")


def taints(obj: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in obj.get("spec", {}).get("taints") or []}


async def bound_pod(registry: ObjectRegistry, name: str, node_name: str,
                    **spec: Any) -> None:
    await registry.create(PODS, "default", {"metadata": {"name": name}, "spec": {
        "nodeName": node_name, "containers": [{"name": "c", "image": "nginx"}], **spec}}, W)


async def phase(registry: ObjectRegistry, name: str) -> str | None:
    try:
        pod = (await registry.get(PODS, "default", name)).object
    except StatusError as err:
        assert err.code == 404
        return None
    return str((pod.get("status") or {}).get("phase"))


async def test_hollow_node_runs_and_finishes_pods(cluster: ObjectRegistry) -> None:
    """A hollow node reports Ready, runs its pods, and completes or fails Job-style pods."""
    hollow = HollowNode(cluster, "n1", zone="z1", heartbeat_s=0.1, finish_after_s=0.1)
    await hollow.start()
    try:
        assert ready_status(await node(cluster, "n1")) == "True"
        await bound_pod(cluster, "web", "n1")
        await bound_pod(cluster, "ok", "n1", restartPolicy="Never")
        await cluster.create(PODS, "default", {"metadata": {
            "name": "bad", "annotations": {"minikube13.test/exit-code": "1"}}, "spec": {
            "nodeName": "n1", "restartPolicy": "OnFailure",
            "containers": [{"name": "c", "image": "busybox"}]}}, W)

        async def settled() -> bool:
            return [await phase(cluster, n) for n in ("web", "ok", "bad")] == [
                "Running", "Succeeded", "Failed"]

        await eventually(settled)
        web = (await cluster.get(PODS, "default", "web")).object
        assert web["status"]["podIP"]
        assert web["status"]["containerStatuses"][0]["restartCount"] == 0
    finally:
        await hollow.close()


async def test_silent_node_goes_not_ready_and_loses_its_pods(cluster: ObjectRegistry) -> None:
    """A node that stops heartbeating goes NotReady with the unreachable taints, and after
    the eviction timeout its pods are deleted; a pod tolerating longer stays."""
    hollow = HollowNode(cluster, "n1", heartbeat_s=0.1)
    await hollow.start()
    try:
        await bound_pod(cluster, "victim", "n1", terminationGracePeriodSeconds=1)
        await bound_pod(cluster, "patient", "n1", tolerations=[{
            "key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 60}])
        await eventually(lambda: _is(phase(cluster, "victim"), "Running"))
        await asyncio.sleep(1.0)
        assert ready_status(await node(cluster, "n1")) == "True"  # heartbeats keep it Ready
        hollow.stop()

        async def not_ready() -> bool:
            obj = await node(cluster, "n1")
            return ready_status(obj) == "Unknown" and taints(obj) == {
                (UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}

        await eventually(not_ready)
        await eventually(lambda: _terminating(cluster, "victim"))  # no kubelet finishes it,
        await eventually(lambda: _is(phase(cluster, "victim"), None))  # so it is forced
        assert await phase(cluster, "patient") == "Running"
        reasons = {e["reason"] for e in
                   (await cluster.list(EVENTS, "default", ListOptions()))["items"]}
        assert {"NodeNotReady", "TaintManagerEviction"} <= reasons

        await hollow.resume()

        async def ready_again() -> bool:
            obj = await node(cluster, "n1")
            return ready_status(obj) == "True" and not taints(obj)

        await eventually(ready_again)
    finally:
        await hollow.close()


async def _is(value: Awaitable[Any], wanted: Any) -> bool:
    return await value == wanted


async def _terminating(registry: ObjectRegistry, name: str) -> bool:
    try:
        pod = (await registry.get(PODS, "default", name)).object
    except StatusError:
        return True  # already gone
    return bool(pod["metadata"].get("deletionTimestamp"))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 8.0) -> None:
    """Nodes, heartbeats and controllers take longer here than the shared default."""
    await _eventually(check, timeout)
