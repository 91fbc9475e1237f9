"""The whole path without a daemon: pods in the registry -> endpoints controller ->
Endpoints -> service proxy -> nftables in a node made of network namespaces. A pod turning
unready stops getting new connections within 2 s."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from minikube13.controllers import endpoints
from minikube13.controllers.runner import Controller, ControllerRunner
from minikube13.model import kinds
from minikube13.net.services.apply import apply_ruleset
from minikube13.net.services.inputs import NodeInfo
from minikube13.net.services.proxy import ServiceProxy
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore

from .svc_support import NODE_UPLINK, Pod, ServiceLab, by_backend, in_ns, requests, run, shares

PODS = kinds.find("", "v1", "pods")
SERVICES = kinds.find("", "v1", "services")
assert PODS is not None and SERVICES is not None
W = WriteOptions()
UNREADY_DEADLINE_S = 2.0


def pod_object(pod: Pod) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{
                "name": "c", "image": "busybox",
                "ports": [{"name": "http", "containerPort": 8080}]}]}}


async def set_ready(reg: ObjectRegistry, pod: Pod, ready: bool) -> None:
    assert PODS is not None
    current = (await reg.get(PODS, "default", pod.name)).object
    current["status"] = {"phase": "Running", "podIP": pod.ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    await reg.update(PODS, "default", pod.name, current, W, "status")


class Cluster:
    def __init__(self, lab: ServiceLab, reg: ObjectRegistry, proxy: ServiceProxy):
        self.lab, self.reg, self.proxy = lab, reg, proxy
        self.backends = [lab.add_pod(f"w{i}", f"10.42.0.1{i}") for i in (1, 2, 3)]
        self.client = lab.add_pod("client", "10.42.0.20")
        for pod in self.backends:
            lab.serve(pod)

    async def wait_text(self, predicate: Any, timeout: float = 10.0) -> float:
        start = time.monotonic()
        while not predicate(self.proxy.applied_text):
            assert time.monotonic() - start < timeout, self.proxy.applied_text[-2000:]
            await asyncio.sleep(0.01)
        return time.monotonic() - start


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    store = MemoryStore()
    await store.start()
    reg = ObjectRegistry(store)
    await reg.ensure_namespace("default")
    stop = asyncio.Event()
    controllers = ControllerRunner(reg, [Controller("endpoints", "services",
                                                    endpoints.reconcile,
                                                    related=endpoints.related)])
    running = asyncio.create_task(controllers.run(stop))
    with ServiceLab() as lab:
        seen = lab.node_info()

        def facts(node: NodeInfo) -> NodeInfo:
            return replace(node, bridge_netfilter=seen.bridge_netfilter,
                           bridge_mac=seen.bridge_mac)

        proxy = ServiceProxy(reg, NodeInfo("n1", (NODE_UPLINK,)), facts=facts,
                             apply=lambda text: apply_ruleset(text, nft=lab.nft_command()))
        proxy.start()
        try:
            yield Cluster(lab, reg, proxy)
        finally:
            await proxy.close()
            stop.set()
            await running
    await store.close()


async def test_unready_pod_stops_getting_traffic_within_2s(cluster: Cluster) -> None:
    """Three ready pods share 300 requests (each >= 20%); once one reports unready, new
    connections stop reaching it within 2 s and the other two keep serving."""
    assert SERVICES is not None and PODS is not None
    reg = cluster.reg
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [
               {"name": "http", "port": 80, "targetPort": "http"}]}}
    cluster_ip = (await reg.create(SERVICES, "default", svc, W)).object["spec"]["clusterIP"]
    for pod in cluster.backends:
        await reg.create(PODS, "default", pod_object(pod), W)
        await set_ready(reg, pod, True)
    await cluster.wait_text(lambda t: "numgen random mod 3 map" in t)
    seen = await asyncio.to_thread(requests, cluster.client.ns, cluster_ip, 80, 300)
    assert min(shares(seen).values()) >= 0.20 and len(by_backend(seen)) == 3, seen

    w2 = cluster.backends[1]
    started = time.monotonic()
    await set_ready(reg, w2, False)
    await cluster.wait_text(lambda t: f"{w2.ip} . 8080" not in t)
    elapsed = time.monotonic() - started
    after = await asyncio.to_thread(requests, cluster.client.ns, cluster_ip, 80, 60)
    print(f"unready -> rules without it: {elapsed * 1000:.0f} ms")
    assert elapsed < UNREADY_DEADLINE_S
    assert set(by_backend(after)) == {"w1", "w3"}, after


async def test_rules_follow_service_deletion_and_no_reapply_without_change(
        cluster: Cluster) -> None:
    """Deleting the Service removes its rules; an unrelated object change renders the same
    text and applies nothing."""
    assert SERVICES is not None and PODS is not None
    reg = cluster.reg
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    cluster_ip = (await reg.create(SERVICES, "default", svc, W)).object["spec"]["clusterIP"]
    await reg.create(PODS, "default", pod_object(cluster.backends[0]), W)
    await set_ready(reg, cluster.backends[0], True)
    await cluster.wait_text(lambda t: f"{cluster_ip} . tcp . 80 : goto" in t)
    count = cluster.proxy.apply_count
    cm = kinds.find("", "v1", "configmaps")
    assert cm is not None
    await reg.create(cm, "default", {"metadata": {"name": "x"}, "data": {"a": "b"}}, W)
    await asyncio.sleep(0.3)
    assert cluster.proxy.apply_count == count
    await reg.delete(SERVICES, "default", "web", DeleteOptions())
    await cluster.wait_text(lambda t: cluster_ip not in t)
    assert await asyncio.to_thread(requests, cluster.client.ns, cluster_ip, 80, 2,
                                   timeout=0.5) == {"refused": 2}


def test_bridge_facts_read_in_the_node_namespace() -> None:
    """Run in the node's netns, bridge_facts sees br_netfilter and the bridge MAC, and turns
    hairpin mode on for a port that lacked it."""
    with ServiceLab() as lab:
        pod = lab.add_pod("p", "10.42.0.30", hairpin=False)
        flag = f"/sys/class/net/m13br0/brif/{pod.port}/hairpin_mode"
        assert run(*in_ns(lab.node, "cat", flag)).stdout.strip() == "0"
        code = ("from minikube13.net.services.proxy import bridge_facts;"
                "from minikube13.net.services.inputs import NodeInfo;"
                "n = bridge_facts(NodeInfo('n1')); print(n.bridge_netfilter, n.bridge_mac)")
        out = run(*in_ns(lab.node, sys.executable, "-c", code)).stdout.split()
        assert out == ["True", lab.node_info().bridge_mac]
        assert run(*in_ns(lab.node, "cat", flag)).stdout.strip() == "1"
