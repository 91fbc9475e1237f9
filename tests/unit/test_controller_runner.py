"""The generic controller runner: actions run in order and stop at the first failure, a
failing key comes back with back-off, timed requeues, and events aggregate like kube's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube13.controllers.actions import (
    CreateObject,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
    ReplaceObject,
    ReplaceStatus,
)
from minikube13.controllers.runner import Controller, ControllerRunner
from minikube13.controllers.workqueue import WorkQueue
from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore

CONFIGMAPS = kinds.find("", "v1", "configmaps")
EVENTS = kinds.find("", "v1", "events")
PODS = kinds.find("", "v1", "pods")
assert CONFIGMAPS and EVENTS and PODS
NOW = datetime(2026, 1, 2, tzinfo=UTC)
KEY = ObjectRef("configmaps", "default", "k")


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": data}


@pytest.fixture
async def registry() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    reg = ObjectRegistry(store)
    await reg.ensure_namespace("default")
    yield reg
    await store.close()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def scripted(actions: Sequence[Any], requeue: float | None = None,
             ) -> tuple[Controller, list[datetime]]:
    calls: list[datetime] = []

    def reconcile(key: Any, view: Any, now: datetime) -> list[Any]:
        calls.append(now)
        return list(actions)

    return Controller("test", "configmaps", reconcile,
                      requeue_after=None if requeue is None else lambda k, v, n: requeue,
                      queue_options={"base_delay": 0.01}), calls


async def once(registry: ObjectRegistry, controller: Controller,
               clock: Clock | None = None) -> tuple[ControllerRunner, WorkQueue[Any]]:
    runner = ControllerRunner(registry, [controller], clock=clock or Clock())
    queue = runner.queues[controller.name]
    await runner.reconcile_once(controller, queue, KEY)
    return runner, queue


async def names(registry: ObjectRegistry) -> list[str]:
    assert CONFIGMAPS is not None
    listed = await registry.list(CONFIGMAPS, "default", ListOptions())
    return [item["metadata"]["name"] for item in listed["items"]]


async def test_actions_run_in_order_and_stop_at_first_failure(registry: ObjectRegistry) -> None:
    """A failing action stops the rest of the reconcile's actions and requeues the key."""
    assert CONFIGMAPS is not None
    await registry.create(CONFIGMAPS, "default", cm("b"), WriteOptions())
    controller, _ = scripted([CreateObject("configmaps", "default", cm("a")),
                              CreateObject("configmaps", "default", cm("b")),
                              CreateObject("configmaps", "default", cm("c"))])
    _, queue = await once(registry, controller)
    assert await names(registry) == ["a", "b"]
    assert queue.failures(KEY) == 1


async def test_create_exists_ok_is_idempotent(registry: ObjectRegistry) -> None:
    """A create of a name that exists counts as done when the controller says so."""
    controller, _ = scripted([CreateObject("configmaps", "default", cm("a"), exists_ok=True),
                              CreateObject("configmaps", "default", cm("a"), exists_ok=True),
                              CreateObject("configmaps", "default", cm("z"))])
    _, queue = await once(registry, controller)
    assert await names(registry) == ["a", "z"]
    assert queue.failures(KEY) == 0


async def test_conflict_requeues(registry: ObjectRegistry) -> None:
    """A replace against a stale resourceVersion is not written; the key comes back."""
    assert CONFIGMAPS is not None
    made = (await registry.create(CONFIGMAPS, "default", cm("a", v="1"),
                                  WriteOptions())).object
    stale = dict(made, data={"v": "2"})
    await registry.patch(CONFIGMAPS, "default", "a", "application/merge-patch+json",
                         {"data": {"v": "3"}}, WriteOptions())
    controller, _ = scripted([ReplaceObject(ObjectRef("configmaps", "default", "a"), stale),
                              CreateObject("configmaps", "default", cm("never"))])
    _, queue = await once(registry, controller)
    current = (await registry.get(CONFIGMAPS, "default", "a")).object
    assert current["data"] == {"v": "3"}
    assert await names(registry) == ["a"]
    assert queue.failures(KEY) == 1


async def test_patch_status_and_delete(registry: ObjectRegistry) -> None:
    """Merge patches, status replacement and deletion all go through one executor."""
    assert PODS is not None and CONFIGMAPS is not None
    await registry.create(CONFIGMAPS, "default", cm("a", x="1", y="2"), WriteOptions())
    await registry.create(PODS, "default", {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "nginx"}]}}, WriteOptions())
    pod = ObjectRef("pods", "default", "p")
    controller, _ = scripted([
        PatchObject(ObjectRef("configmaps", "default", "a"), {"data": {"y": None, "z": "3"}}),
        ReplaceStatus(pod, {"phase": "Running", "podIP": "10.0.0.9"}),
        DeleteObject(ObjectRef("configmaps", "default", "gone"), "Background"),
    ])
    _, queue = await once(registry, controller)
    assert queue.failures(KEY) == 0
    assert (await registry.get(CONFIGMAPS, "default", "a")).object["data"] == {"x": "1", "z": "3"}
    status = (await registry.get(PODS, "default", "p")).object["status"]
    assert (status["phase"], status["podIP"]) == ("Running", "10.0.0.9")


async def test_repeated_events_aggregate(registry: ObjectRegistry) -> None:
    """The same event twice is one Event with count 2 and a later lastTimestamp; another
    message is another Event."""
    assert EVENTS is not None
    clock = Clock()
    pod = ObjectRef("pods", "default", "p", "u1")
    same = RecordEvent(pod, "Pod", "Warning", "FailedScheduling", "0/3 nodes are available",
                       "default-scheduler")
    controller, _ = scripted([same])
    runner, queue = await once(registry, controller, clock)
    clock.now = NOW + timedelta(seconds=5)
    await runner.reconcile_once(controller, queue, KEY)
    other = RecordEvent(pod, "Pod", "Normal", "Scheduled", "assigned", "default-scheduler")
    other_controller, _ = scripted([other])
    await runner.reconcile_once(other_controller, queue, KEY)
    items = (await registry.list(EVENTS, "default", ListOptions()))["items"]
    by_reason = {e["reason"]: e for e in items}
    assert set(by_reason) == {"FailedScheduling", "Scheduled"}
    event = by_reason["FailedScheduling"]
    assert event["count"] == 2
    assert event["firstTimestamp"] == "2026-01-02T00:00:00Z"
    assert event["lastTimestamp"] == "2026-01-02T00:00:05Z"
    assert event["involvedObject"] == {"kind": "Pod", "namespace": "default", "name": "p",
                                       "uid": "u1", "apiVersion": "v1"}
    assert event["source"] == {"component": "default-scheduler"}


async def test_requeue_after_brings_the_key_back(registry: ObjectRegistry) -> None:
    """A controller asking to be called again in 0.05 s is reconciled again."""
    controller, calls = scripted([], requeue=0.05)
    runner, queue = await once(registry, controller)
    assert len(queue) == 0
    await asyncio.sleep(0.1)
    assert len(queue) == 1 and await queue.get() == KEY
    assert len(calls) == 1


async def test_backoff_grows_exponentially() -> None:
    """A key failing again waits twice as long each time, up to the cap, and is forgotten
    on success."""
    queue: WorkQueue[str] = WorkQueue(base_delay=0.02, max_delay=0.05)
    loop = asyncio.get_running_loop()
    gaps = []
    for _ in range(4):
        start = loop.time()
        queue.add_rate_limited("k")
        key = await queue.get()
        gaps.append(loop.time() - start)
        queue.done(key)
    assert gaps[0] >= 0.015 and gaps[1] >= 0.035 and 0.045 <= gaps[3] < 0.2
    assert queue.failures("k") == 4
    queue.forget("k")
    assert queue.failures("k") == 0


async def test_add_after_earliest_wins() -> None:
    """Two timed requeues of one key: it comes back once, at the earlier time."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("k", 10)
    queue.add_after("k", 0.02)
    queue.add_after("k", 5)
    key = await asyncio.wait_for(queue.get(), 1)
    queue.done(key)
    assert key == "k" and queue.idle()
    queue.shutdown()


async def test_per_key_serialisation() -> None:
    """A key added while a worker holds it is handed out again only after done()."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add("k")
    held = await queue.get()
    queue.add("k")
    assert queue._ready.empty()
    queue.done(held)
    assert await asyncio.wait_for(queue.get(), 1) == "k"


async def test_failed_reconcile_stops_nothing_else(registry: ObjectRegistry) -> None:
    """A reconcile that raises is retried with back-off rather than crashing the runner."""

    def broken(key: Any, view: Any, now: datetime) -> list[Any]:
        raise ValueError("bad object")

    controller = Controller("broken", "configmaps", broken)
    _, queue = await once(registry, controller)
    assert queue.failures(KEY) == 1


async def test_status_error_is_a_failure(registry: ObjectRegistry) -> None:
    """A 404 on a patch stops the actions after it."""
    controller, _ = scripted([PatchObject(ObjectRef("configmaps", "default", "nope"), {}),
                              CreateObject("configmaps", "default", cm("after"))])
    _, queue = await once(registry, controller)
    assert await names(registry) == [] and queue.failures(KEY) == 1
    with pytest.raises(StatusError):
        assert CONFIGMAPS is not None
        await registry.get(CONFIGMAPS, "default", "after")
