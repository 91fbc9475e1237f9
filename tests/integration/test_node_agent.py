"""The node agent over a real registry with the fake pod runtime: it registers the Node and
its Lease, runs the pods bound to it, reports their status, deletes them gracefully, and
adopts what an earlier daemon left on disk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.node.agent import NodeAgent
from minikube13.node.nodestatus import MachineInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.runtime.poddir import Stage1State
from minikube13.runtime.pods import RuntimePod
from minikube13.testing.fake_runtime import FakePodRuntime
from minikube13.testing.memory_store import MemoryStore
from minikube13.testing.waiting import eventually

NODE = "n1"
MACHINE = MachineInfo(cpus=2, memory_bytes=2**30, hostname="n1", internal_ip="192.0.2.7")
W = WriteOptions()


def _info(group: str, version: str, plural: str) -> ResourceInfo:
    info = kinds.find(group, version, plural)
    assert info is not None
    return info


NODES, PODS, EVENTS = _info("", "v1", "nodes"), _info("", "v1", "pods"), _info("", "v1", "events")
LEASES = _info("coordination.k8s.io", "v1", "leases")


class Cluster:
    def __init__(self, registry: ObjectRegistry, runtime: FakePodRuntime):
        self.registry = registry
        self.runtime = runtime
        self.agent: NodeAgent | None = None

    async def start_agent(self) -> NodeAgent:
        self.agent = NodeAgent(self.registry, self.runtime, NODE, MACHINE, lease_s=0.1,
                               status_s=0.2, relist_s=0.05, resync_s=1.0, gc_s=0.3,
                               backoff_initial_s=0.3, backoff_max_s=0.6)
        await self.agent.start()
        await asyncio.wait_for(self.agent.listed.wait(), 5)
        return self.agent

    async def stop_agent(self) -> None:
        if self.agent is not None:
            await self.agent.close()
            self.agent = None

    async def create(self, name: str, node: str = NODE, **spec: Any) -> dict[str, Any]:
        body = {"metadata": {"name": name}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "busybox"}], **spec}}
        return (await self.registry.create(PODS, "default", body, W)).object

    async def get(self, name: str) -> dict[str, Any] | None:
        try:
            return (await self.registry.get(PODS, "default", name)).object
        except StatusError as err:
            assert err.code == 404
            return None

    async def phase(self, name: str) -> str | None:
        pod = await self.get(name)
        return None if pod is None else (pod.get("status") or {}).get("phase")

    def waits_for(self, name: str, phase: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.phase(name) == phase
        return check

    async def event_reasons(self, name: str) -> list[str]:
        assert self.agent is not None
        await self.agent.events.flush()
        items = (await self.registry.list(EVENTS, "default", ListOptions()))["items"]
        return [e["reason"] for e in items if e["involvedObject"]["name"] == name]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    c = Cluster(registry, FakePodRuntime())
    await c.start_agent()
    yield c
    await c.stop_agent()
    await store.close()


async def test_registers_the_node_and_renews_its_lease(cluster: Cluster) -> None:
    """The Node is Ready with this machine's capacity; the Lease keeps being renewed."""
    node = (await cluster.registry.get(NODES, "", NODE)).object
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "rkt-style://minikube13"
    first = (await cluster.registry.get(LEASES, "kube-node-lease", NODE)).object
    renewed = first["spec"]["renewTime"]

    async def moved() -> bool:
        lease = (await cluster.registry.get(LEASES, "kube-node-lease", NODE)).object
        return bool(lease["spec"]["renewTime"] != renewed)
    await eventually(moved)


async def test_a_bound_pod_runs_and_reports_running(cluster: Cluster) -> None:
    """A pod with spec.nodeName runs without a scheduler and reads Running, Ready."""
    created = await cluster.create("web")
    await eventually(cluster.waits_for("web", "Running"))
    pod = await cluster.get("web")
    assert pod is not None
    status = pod["status"]
    assert status["hostIP"] == "192.0.2.7" and status["qosClass"] == "BestEffort"
    assert status["containerStatuses"][0]["ready"] is True
    assert ("start", created["metadata"]["uid"]) in cluster.runtime.calls
    inputs = cluster.runtime.inputs[created["metadata"]["uid"]]
    assert inputs.node_name == NODE and inputs.host_ip == "192.0.2.7"

    async def started() -> bool:
        return {"Pulled", "Created", "Started"} <= set(await cluster.event_reasons("web"))
    await eventually(started)


async def test_pods_of_other_nodes_are_left_alone(cluster: Cluster) -> None:
    """Only pods bound to this node are run."""
    await cluster.create("elsewhere", node="n2")
    await cluster.create("here")
    await eventually(cluster.waits_for("here", "Running"))
    assert await cluster.phase("elsewhere") == "Pending"
    assert len(cluster.runtime.pods()) == 1


async def test_init_container_statuses_are_served_as_the_13_annotation(cluster: Cluster) -> None:
    """initContainerStatuses, and the alpha/beta annotations 1.3-1.5 clients read."""
    await cluster.create("init", initContainers=[{"name": "i1", "image": "busybox"},
                                                 {"name": "i2", "image": "busybox"}])
    await eventually(cluster.waits_for("init", "Running"))
    pod = await cluster.get("init")
    assert pod is not None
    statuses = pod["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in statuses] == [0, 0]
    annotations = pod["metadata"]["annotations"]
    assert '"name":"i1"' in annotations["pod.alpha.kubernetes.io/init-container-statuses"]
    assert "pod.beta.kubernetes.io/init-container-statuses" in annotations


async def test_graceful_deletion_stops_removes_then_deletes(cluster: Cluster) -> None:
    """kubectl delete: Killing, stop with the grace period, tear down, object gone."""
    created = await cluster.create("doomed", terminationGracePeriodSeconds=7)
    uid = created["metadata"]["uid"]
    await eventually(cluster.waits_for("doomed", "Running"))
    await cluster.registry.delete(PODS, "default", "doomed", DeleteOptions())

    async def gone() -> bool:
        return await cluster.get("doomed") is None
    await eventually(gone)
    assert cluster.runtime.stop_grace[uid] == 7.0
    assert cluster.runtime.pod(uid) is None
    calls = [op for op, u in cluster.runtime.calls if u == uid]
    assert calls.index("stop") < calls.index("remove")
    assert "Killing" in await cluster.event_reasons("doomed")


async def test_finished_pods_are_kept_until_deleted(cluster: Cluster) -> None:
    """A Never pod that exits 0 reads Succeeded and is not started again."""
    created = await cluster.create("job", restartPolicy="Never")
    uid = created["metadata"]["uid"]
    await eventually(cluster.waits_for("job", "Running"))
    cluster.runtime.finish(uid, 0)
    await eventually(cluster.waits_for("job", "Succeeded"))
    await asyncio.sleep(0.3)
    assert cluster.runtime.calls.count(("start", uid)) == 1
    assert cluster.runtime.pod(uid) is not None  # logs stay readable
    await cluster.registry.delete(PODS, "default", "job", DeleteOptions())

    async def gone() -> bool:
        return await cluster.get("job") is None and cluster.runtime.pod(uid) is None
    await eventually(gone)


async def test_a_failed_pull_backs_off_then_runs(cluster: Cluster) -> None:
    """ErrImagePull, then ImagePullBackOff while waiting, then a retry that works."""
    cluster.runtime.fail_next_start("ErrImagePull", "pulling from docker.io not allowed")
    await cluster.create("pull")

    async def reason() -> str:
        pod = await cluster.get("pull")
        assert pod is not None
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return str(((statuses[0].get("state") or {}).get("waiting") or {}).get("reason"))
    await eventually(lambda: _equals(reason(), "ErrImagePull"))
    await eventually(cluster.waits_for("pull", "Running"))
    assert "Failed" in await cluster.event_reasons("pull")


async def _equals(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


async def test_crash_loop_is_reported(cluster: Cluster) -> None:
    """A container in back-off: CrashLoopBackOff in the status and a BackOff event."""
    created = await cluster.create("crash")
    uid = created["metadata"]["uid"]
    await eventually(cluster.waits_for("crash", "Running"))
    cluster.runtime.crash_loop(uid, "c")

    async def backing_off() -> bool:
        pod = await cluster.get("crash")
        assert pod is not None
        cs = pod["status"]["containerStatuses"][0]
        return (cs["state"].get("waiting") or {}).get("reason") == "CrashLoopBackOff" \
            and cs["restartCount"] == 0 and cs["lastState"]["terminated"]["exitCode"] == 1
    await eventually(backing_off)
    assert "BackOff" in await cluster.event_reasons("crash")


async def test_restart_adopts_what_is_on_disk(cluster: Cluster) -> None:
    """A new agent: running pods untouched, a dead stage1 started again, unknown pods
    removed, and closing the agent stops no pod."""
    running = (await cluster.create("running"))["metadata"]["uid"]
    rebooted = (await cluster.create("rebooted"))["metadata"]["uid"]
    await eventually(cluster.waits_for("running", "Running"))
    await eventually(cluster.waits_for("rebooted", "Running"))
    await cluster.stop_agent()
    assert not [c for c in cluster.runtime.calls if c[0] in ("stop", "remove")]
    cluster.runtime.kill_stage1(rebooted)
    cluster.runtime.adopt(RuntimePod("ghost", "default", "ghost", True,
                                     Stage1State(1, 1, 0.0, "Running"), {}, ""))
    cluster.runtime.calls.clear()
    await cluster.start_agent()

    async def adopted() -> bool:
        return cluster.runtime.pod("ghost") is None and \
            bool(cluster.runtime.pod(rebooted) and cluster.runtime.pod(rebooted).alive)  # type: ignore[union-attr]
    await eventually(adopted)
    assert ("start", running) not in cluster.runtime.calls
    assert ("start", rebooted) in cluster.runtime.calls
    assert ("remove", "ghost") in cluster.runtime.calls


async def test_a_pod_deleted_while_the_agent_was_down_is_torn_down(cluster: Cluster) -> None:
    """Force-deleted while no agent ran: the next agent removes its pod dir."""
    uid = (await cluster.create("orphan"))["metadata"]["uid"]
    await eventually(cluster.waits_for("orphan", "Running"))
    await cluster.stop_agent()
    await cluster.registry.delete(PODS, "default", "orphan",
                                  DeleteOptions(grace_period_seconds=0))
    await cluster.start_agent()

    async def removed() -> bool:
        return cluster.runtime.pod(uid) is None
    await eventually(removed)


async def test_a_pod_deleted_while_starting_goes_at_once(cluster: Cluster) -> None:
    """ContainerCreating shows during a slow start; deleting then does not wait for it."""
    cluster.runtime.start_delay_s = 30.0
    await cluster.create("slow")

    async def creating() -> bool:
        pod = await cluster.get("slow")
        statuses = ((pod or {}).get("status") or {}).get("containerStatuses") or [{}]
        return (statuses[0].get("state") or {}).get("waiting", {}).get("reason") == \
            "ContainerCreating"
    await eventually(creating)
    await cluster.registry.delete(PODS, "default", "slow", DeleteOptions())

    async def gone() -> bool:
        return await cluster.get("slow") is None
    await eventually(gone, timeout=3.0)


async def test_a_notified_change_shows_before_the_next_relist() -> None:
    """stage1's notification makes the agent read that pod at once (pod start latency):
    with a relist every minute, the exit still shows within moments."""
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("default")
    runtime = FakePodRuntime()
    agent = NodeAgent(registry, runtime, NODE, MACHINE, relist_s=60.0, resync_s=60.0)
    c = Cluster(registry, runtime)
    try:
        await agent.start()
        await asyncio.wait_for(agent.listed.wait(), 5)
        uid = (await c.create("web"))["metadata"]["uid"]
        await eventually(c.waits_for("web", "Running"))
        await asyncio.sleep(0.1)   # its fast relisting ends once all containers started
        runtime.exit_container(uid, "c", 3)
        runtime.notify(uid)

        async def exited() -> bool:
            pod = await c.get("web")
            states = [s["state"] for s in (pod or {}).get("status", {}).get(
                "containerStatuses") or []]
            return bool(states) and "terminated" in states[0]
        await eventually(exited, timeout=2.0)
    finally:
        await agent.close()
        await store.close()
