"""The controllers, the scheduler and hollow nodes together over a real registry: a
ReplicaSet's pods run on hollow nodes, and the pods of a node that dies are replaced on the
nodes that live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from minikube13.controllers import all_controllers
from minikube13.controllers.runner import ControllerRunner
from minikube13.model import kinds
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, WriteOptions
from minikube13.testing.hollow_node import HollowNode
from minikube13.testing.memory_store import MemoryStore
from minikube13.testing.waiting import eventually as _eventually

PODS = kinds.find("", "v1", "pods")
REPLICASETS = kinds.find("apps", "v1", "replicasets")
JOBS = kinds.find("batch", "v1", "jobs")
assert PODS and REPLICASETS and JOBS

@pytest.fixture
async def cluster() -> AsyncIterator[tuple[ObjectRegistry, list[HollowNode]]]:
    from minikube13.scheduler.runner import SchedulerRunner

    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    nodes = [HollowNode(registry, f"n{i}", zone=f"z{i}", heartbeat_s=0.1,
                        finish_after_s=0.1) for i in range(3)]
    for node in nodes:
        await node.start()
    runner = ControllerRunner(registry, all_controllers(node_grace_s=0.6,
                                                        eviction_timeout_s=0.3))
    scheduler = SchedulerRunner(registry, rng_seed=1, retry_interval=0.2)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.run(stop)), asyncio.create_task(scheduler.run(stop))]
    await asyncio.wait_for(runner.synced.wait(), 5)
    yield registry, nodes
    stop.set()
    for node in nodes:
        await node.close()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    await store.close()


async def pods(registry: ObjectRegistry) -> list[dict[str, Any]]:
    assert PODS is not None
    return list((await registry.list(PODS, "default", ListOptions()))["items"])


def replicaset(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_pods_of_a_dead_node_are_replaced_elsewhere(
        cluster: tuple[ObjectRegistry, list[HollowNode]]) -> None:
    """A ReplicaSet's 6 pods run on 3 hollow nodes; when one node stops reporting, its pods
    are deleted and the ReplicaSet's replacements run on the two others."""
    registry, nodes = cluster
    assert REPLICASETS is not None
    await registry.create(REPLICASETS, "default", replicaset(6), WriteOptions())

    async def running_on(allowed: set[str]) -> bool:
        items = await pods(registry)
        return len(items) == 6 and all(
            p["status"].get("phase") == "Running" and p["spec"].get("nodeName") in allowed
            for p in items)

    await eventually(lambda: running_on({"n0", "n1", "n2"}))
    doomed = {p["metadata"]["name"] for p in await pods(registry)
              if p["spec"]["nodeName"] == "n0"}
    assert doomed  # spread over the three nodes
    nodes[0].stop()
    await eventually(lambda: running_on({"n1", "n2"}))
    assert not doomed & {p["metadata"]["name"] for p in await pods(registry)}


async def test_job_completes_on_hollow_nodes(
        cluster: tuple[ObjectRegistry, list[HollowNode]]) -> None:
    """A Job with completions 5 and parallelism 2 completes with 5 succeeded pods."""
    registry, _ = cluster
    assert JOBS is not None
    await registry.create(JOBS, "default", {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
        "spec": {"completions": 5, "parallelism": 2, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}}}},
        WriteOptions())

    async def complete() -> bool:
        assert JOBS is not None
        job = (await registry.get(JOBS, "default", "pi")).object
        status = job.get("status") or {}
        return status.get("succeeded") == 5 and any(
            c.get("type") == "Complete" and c.get("status") == "True"
            for c in status.get("conditions") or [])

    await eventually(complete, timeout=15)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Nodes, heartbeats and controllers take longer here than the shared default."""
    await _eventually(check, timeout)
