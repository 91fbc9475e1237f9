"""The scheduler runner over an ObjectRegistry on the in-memory store (no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.scheduler.runner import EVENTS, NODES, PODS, VOLUMES, SchedulerRunner
from minikube13.testing.memory_store import MemoryStore
from minikube13.testing.waiting import eventually

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
W = WriteOptions()
Object = dict[str, Any]


def node(name: str, cpu: str = "2", zone: str = "a") -> Object:
    resources = {"cpu": cpu, "memory": "4Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str = "100m", **spec: Any) -> Object:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "resources": {"requests": {"cpu": cpu}}}], **spec}}


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[ObjectRegistry, SchedulerRunner]]:
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store, clock=lambda: NOW)
    await registry.ensure_namespace("default")
    runner = SchedulerRunner(registry, rng_seed=1, clock=lambda: NOW, retry_interval=5.0)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    yield registry, runner
    stop.set()
    await task
    await store.close()


async def node_of(registry: ObjectRegistry, name: str) -> str:
    got = await registry.get(PODS, "default", name)
    return str(got.object["spec"].get("nodeName") or "")


async def test_pods_get_bound_to_nodes(
        cluster: tuple[ObjectRegistry, SchedulerRunner]) -> None:
    """Pods created on a cluster of nodes are bound, spread over the nodes."""
    registry, _ = cluster
    for i, zone in enumerate("abc"):
        await registry.create(NODES, "", node(f"n{i}", zone=zone), W)
    for i in range(3):
        await registry.create(PODS, "default", pod(f"p{i}"), W)
    placed = [await eventually(lambda i=i: node_of(registry, f"p{i}")) for i in range(3)]
    assert sorted(placed) == ["n0", "n1", "n2"]
    got = (await registry.get(PODS, "default", "p0")).object
    assert {"type": "PodScheduled", "status": "True"}.items() <= \
        got["status"]["conditions"][0].items()


async def test_other_schedulers_pods_are_left_alone(
        cluster: tuple[ObjectRegistry, SchedulerRunner]) -> None:
    """A pod naming another schedulerName stays unbound."""
    registry, _ = cluster
    await registry.create(NODES, "", node("n0"), W)
    await registry.create(PODS, "default", pod("mine"), W)
    await registry.create(PODS, "default", pod("theirs", schedulerName="other"), W)
    assert await eventually(lambda: node_of(registry, "mine")) == "n0"
    await asyncio.sleep(0.1)
    assert await node_of(registry, "theirs") == ""


async def test_unschedulable_pod_reported_then_bound_when_a_node_comes(
        cluster: tuple[ObjectRegistry, SchedulerRunner]) -> None:
    """A pod too big for every node gets PodScheduled=False and an Event; a big node binds it."""
    registry, _ = cluster
    await registry.create(NODES, "", node("small", cpu="1"), W)
    await registry.create(PODS, "default", pod("big", cpu="4"), W)

    async def condition() -> Object | None:
        got = (await registry.get(PODS, "default", "big")).object
        for c in (got.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled":
                return dict(c)
        return None

    found = await eventually(condition)
    text = "0/1 nodes are available: 1 Insufficient cpu."
    assert (found["status"], found["reason"], found["message"]) == ("False", "Unschedulable",
                                                                     text)
    events = (await registry.list(EVENTS, "default", ListOptions()))["items"]
    assert [(e["reason"], e["message"], e["source"]["component"],
             e["involvedObject"]["name"]) for e in events] == [
        ("FailedScheduling", text, "default-scheduler", "big")]
    await registry.create(NODES, "", node("large", cpu="8"), W)
    assert await eventually(lambda: node_of(registry, "big")) == "large"
    events = (await registry.list(EVENTS, "default", ListOptions()))["items"]
    assert len(events) == 1


async def test_deleted_pods_free_their_node(
        cluster: tuple[ObjectRegistry, SchedulerRunner]) -> None:
    """When a bound pod is deleted, a waiting pod takes its room."""
    registry, runner = cluster
    await registry.create(NODES, "", node("n0", cpu="1"), W)
    await registry.create(PODS, "default", pod("first", cpu="800m"), W)
    assert await eventually(lambda: node_of(registry, "first")) == "n0"
    await registry.create(PODS, "default", pod("second", cpu="800m"), W)

    async def waiting() -> bool:
        return "default/second" in runner.failed

    await eventually(waiting)
    await registry.delete(PODS, "default", "first", DeleteOptions(grace_period_seconds=0))
    assert await eventually(lambda: node_of(registry, "second")) == "n0"


async def test_pod_follows_its_zoned_volume(
        cluster: tuple[ObjectRegistry, SchedulerRunner]) -> None:
    """A pod whose claim is bound to a volume in zone c is bound to the node in zone c."""
    registry, _ = cluster
    for i, zone in enumerate("abc"):
        await registry.create(NODES, "", node(f"n{i}", zone=zone), W)
    volume = {"apiVersion": "v1", "kind": "PersistentVolume",
              "metadata": {"name": "pv1", "labels": {"topology.kubernetes.io/zone": "c"}},
              "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                       "hostPath": {"path": "/tmp/pv1"},
                       "claimRef": {"namespace": "default", "name": "data"}}}
    await registry.create(VOLUMES, "", volume, W)
    claim = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    await registry.create(PODS, "default", pod("db", volumes=claim), W)
    assert await eventually(lambda: node_of(registry, "db")) == "n2"


async def test_one_failure_does_not_stop_the_loop(
        cluster: tuple[ObjectRegistry, SchedulerRunner],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """If reporting one pod breaks, the scheduler still binds the next pods."""
    registry, runner = cluster

    async def broken(pod: Object, message: str) -> None:
        raise RuntimeError("event write failed")

    monkeypatch.setattr(runner, "_report", broken)
    await registry.create(NODES, "", node("n0", cpu="1"), W)
    await registry.create(PODS, "default", pod("huge", cpu="64"), W)
    await registry.create(PODS, "default", pod("small"), W)
    assert await eventually(lambda: node_of(registry, "small")) == "n0"
    assert await node_of(registry, "huge") == ""
