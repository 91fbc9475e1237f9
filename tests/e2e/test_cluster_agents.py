"""A server and agents, each a real daemon in a network namespace of the test's own on one
test-made segment (cluster_support.Fabric); agents join with a real token and run real pods.

What a user checks: `kubectl get nodes` lists every node Ready; pods scheduled to agents
run; an agent cut off turns NotReady only after the grace, keeps its pods running, and its
own API still answers from its copy (with a Warning); an agent rebooted while cut off runs
its pods again within 10 s, and when the link returns no pod is recreated while a
Deployment scaled up meanwhile gets its new pods there; an agent that moved to another
address rejoins as the same node.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import node_support
from .cluster_support import (
    Fabric,
    NetnsDaemon,
    import_image,
    node_ready,
    running,
    wait_until,
)
from .node_support import alive, stage1_pid

busybox_oci = node_support.busybox_oci  # the shared fixture

GRACE_S = 15.0       # the servers' --node-grace
REBOOT_RUN_S = 10.0  # Done-when 4: pods run again within this after the daemon starts
# Pods need no network here (they only sleep): keep the pod bridge out of these tests.
NODE_ARGS = ["--no-pod-network", *node_support.FAST_BACKOFF]

SLEEPER = """
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  nodeSelector: {kubernetes.io/hostname: NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: COMMAND}
"""
SLEEP = '[sleep, "3600"]'
TALKER = "[sh, -c, 'echo hello from $(hostname); exec sleep 3600']"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: NODE}
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: [sleep, "3600"]}
"""


@dataclass
class Cluster:
    fabric: Fabric
    server: NetnsDaemon
    agents: dict[str, NetnsDaemon]
    token: str


def make_agent(cluster_root: Path, fabric: Fabric, name: str, address: str,
               server: NetnsDaemon, token: str, oci: Path) -> NetnsDaemon:
    host = fabric.add_host(name, address)
    agent = NetnsDaemon(host, cluster_root / name,
                        [*NODE_ARGS, "--server", server.server_address, "--token", token])
    import_image(agent, oci)
    return agent


@pytest.fixture
def cluster(tmp_path: Path, busybox_oci: Path, request: pytest.FixtureRequest
            ) -> Iterator[Cluster]:
    """One server (srv) and the agents the test names in `agents` (default ag1, ag2)."""
    names: list[str] = getattr(request, "param", ["ag1", "ag2"])
    with Fabric() as fabric:
        server = NetnsDaemon(fabric.add_host("srv", f"{fabric.subnet}.10"), tmp_path / "srv",
                             [*NODE_ARGS, "--node-grace", str(GRACE_S)])
        import_image(server, busybox_oci)
        with running(server):
            token = server.create_token()
            agents = {name: make_agent(tmp_path, fabric, name, f"{fabric.subnet}.{11 + i}",
                                       server, token, busybox_oci)
                      for i, name in enumerate(names)}
            with running(*agents.values()):
                yield Cluster(fabric, server, agents, token)


# -- reading what a user sees ------------------------------------------------------------

def pod_of(d: NetnsDaemon, name: str) -> dict[str, Any] | None:
    res = d.kubectl("get", "pod", name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def is_running(pod: dict[str, Any] | None) -> bool:
    if pod is None or pod["status"].get("phase") != "Running":
        return False
    statuses = pod["status"].get("containerStatuses") or []
    return bool(statuses) and all("running" in s["state"] for s in statuses)


def started_at(pod: dict[str, Any]) -> str:
    return str(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"])


def local_pods(agent: NetnsDaemon) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The agent's own API over its socket: (headers, pods by name)."""
    status, headers, body = agent.api_get("/api/v1/namespaces/default/pods")
    assert status == 200, body
    return headers, {p["metadata"]["name"]: p for p in body["items"]}


def run_pod(server: NetnsDaemon, name: str, node: str, command: str = SLEEP) -> dict[str, Any]:
    manifest = SLEEPER.replace("NAME", name).replace("NODE", node).replace("COMMAND", command)
    server.kubectl("apply", "-f", "-", input=manifest)
    pod = wait_until(lambda: (p := pod_of(server, name)) is not None and is_running(p) and p,
                     timeout=60)
    assert pod["spec"]["nodeName"] == node
    return dict(pod)


def ready_nodes(server: NetnsDaemon) -> set[str]:
    doc = json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)
    return {n["metadata"]["name"] for n in doc["items"]
            if any(c["type"] == "Ready" and c["status"] == "True"
                   for c in n["status"].get("conditions") or [])}


def reboot(agent: NetnsDaemon) -> None:
    """The machine goes down: the daemon and every pod's stage1 (with its containers)."""
    pids = [int(json.loads(state.read_text())["stage1_pid"])
            for state in (agent.data_dir / "pods").glob("*/pod-state.json")]
    agent.kill9()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=10)


# -- Done-when 3 ---------------------------------------------------------------------------

def test_agents_run_pods_and_a_cut_off_agent_keeps_them(cluster: Cluster) -> None:
    server, ag1 = cluster.server, cluster.agents["ag1"]
    wait_until(lambda: ready_nodes(server) == {"srv", "ag1", "ag2"}, timeout=30)
    table = server.kubectl("get", "nodes", "--no-headers").stdout.split("\n")
    assert sum(" Ready " in line for line in table) == 3, table
    one = run_pod(server, "one", "ag1")
    run_pod(server, "two", "ag2", command=TALKER)
    check_streams_through_the_server(server, "two")
    uid = one["metadata"]["uid"]
    pid = stage1_pid(ag1, uid)

    cluster.fabric.cut(ag1.host)
    cut_at = time.monotonic()
    # gossip decides: Ready through the whole grace (it starts when the pool finds it dead)
    while time.monotonic() - cut_at < GRACE_S:
        assert node_ready(server, "ag1"), "NotReady before the grace"
        time.sleep(0.5)
    wait_until(lambda: not node_ready(server, "ag1"), timeout=GRACE_S + 30)
    assert "ag2" in ready_nodes(server)

    # its pods keep running, and its own API answers from its copy, marked stale
    assert alive(pid) and stage1_pid(ag1, uid) == pid
    headers, pods = wait_until(lambda: (r := local_pods(ag1)) and "warning" in r[0] and r)
    assert "cut off from the servers" in headers["warning"]
    assert is_running(pods["one"]) and started_at(pods["one"]) == started_at(one)
    res = ag1.kubectl("get", "pods", "--no-headers")
    rows = {line.split()[0]: line.split()[1:3] for line in res.stdout.splitlines()}
    assert rows["one"] == ["1/1", "Running"], res.stdout
    assert "cut off from the servers" in res.stderr
    refused = ag1.kubectl("create", "configmap", "x", check=False)
    assert refused.returncode != 0 and "cut off from the servers" in refused.stderr

    cluster.fabric.restore(ag1.host)
    wait_until(lambda: node_ready(server, "ag1"), timeout=60)
    after = wait_until(lambda: (p := pod_of(server, "one")) and is_running(p) and p)
    assert after["metadata"]["uid"] == uid and stage1_pid(ag1, uid) == pid
    assert started_at(after) == started_at(one)


def check_streams_through_the_server(server: NetnsDaemon, pod: str) -> None:
    """kubectl against the server: logs, exec (stdin, exit code) and attach of a pod an
    agent runs are passed on to that agent, as the apiserver passes them to a kubelet."""
    logs = wait_until(lambda: (out := server.kubectl("logs", pod).stdout) and out)
    assert logs == f"hello from {pod}\n"
    res = server.kubectl("exec", "-i", pod, "--", "sh", "-c", "cat; echo oops >&2; exit 3",
                         input="piped in\n", check=False)
    assert (res.returncode, res.stdout) == (3, "piped in\n"), res
    assert "oops" in res.stderr
    missing = server.kubectl("logs", pod, "-c", "nope", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr


# -- Done-when 4 ---------------------------------------------------------------------------

@pytest.mark.parametrize("cluster", [["ag1"]], indirect=True)
def test_a_reboot_while_cut_off_runs_the_pods_again_and_the_return_keeps_them(
        cluster: Cluster) -> None:
    server, ag1 = cluster.server, cluster.agents["ag1"]
    server.kubectl("apply", "-f", "-", input=DEPLOYMENT.replace("NODE", "ag1"))
    run_pod(server, "solo", "ag1")

    def web_pods() -> list[dict[str, Any]]:
        doc = json.loads(server.kubectl("get", "pods", "-l", "app=web", "-o", "json").stdout)
        return [p for p in doc["items"] if is_running(p) and p["spec"]["nodeName"] == "ag1"]
    wait_until(lambda: len(web_pods()) == 1, timeout=60)
    first = [*web_pods(), pod_of(server, "solo")]
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in first}
    first_starts = {p["metadata"]["uid"]: started_at(p) for p in first}
    first_pids = {uid: stage1_pid(ag1, uid) for uid in before.values()}

    cluster.fabric.cut(ag1.host)
    reboot(ag1)
    began = time.monotonic()
    ag1.spawn()

    def restarted(pod: dict[str, Any]) -> bool:
        """Running again in a new stage1 (the copy says Running from before, at first)."""
        uid = pod["metadata"]["uid"]
        try:
            pid = stage1_pid(ag1, uid)
        except (OSError, ValueError, KeyError):
            return False
        return is_running(pod) and started_at(pod) != first_starts[uid] and \
            pid != first_pids[uid] and alive(pid)

    def all_running_locally() -> dict[str, dict[str, Any]] | None:
        if not ag1.is_ready():
            return None
        _, pods = local_pods(ag1)
        mine = {name: p for name, p in pods.items() if p["metadata"]["uid"] in before.values()}
        return mine if len(mine) == len(before) and all(map(restarted, mine.values())) \
            else None
    rebooted = wait_until(all_running_locally, timeout=60, every=0.1)
    took = time.monotonic() - began
    assert took <= REBOOT_RUN_S, f"pods ran again {took:.1f}s after the start"
    pids = {uid: stage1_pid(ag1, uid) for uid in before.values()}
    starts = {p["metadata"]["uid"]: started_at(p) for p in rebooted.values()}

    server.kubectl("scale", "deployment", "web", "--replicas=3")
    cluster.fabric.restore(ag1.host)
    wait_until(lambda: len(web_pods()) == 3, timeout=90)
    for name, uid in before.items():
        pod = pod_of(server, name)
        assert pod is not None and pod["metadata"]["uid"] == uid, f"{name} was recreated"
        assert started_at(pod) == starts[uid], f"{name} was restarted after the return"
        assert stage1_pid(ag1, uid) == pids[uid]
    print(f"reboot-to-running={took:.2f}s")


# -- Done-when 5 ---------------------------------------------------------------------------

@pytest.mark.parametrize("cluster", [["ag1"]], indirect=True)
def test_an_agent_that_moved_rejoins_as_the_same_node(cluster: Cluster) -> None:
    server, ag1 = cluster.server, cluster.agents["ag1"]
    wait_until(lambda: node_ready(server, "ag1"), timeout=30)
    pod = run_pod(server, "stays", "ag1")
    node = json.loads(server.kubectl("get", "node", "ag1", "-o", "json").stdout)
    new_address = f"{cluster.fabric.subnet}.21"

    ag1.stop()
    cluster.fabric.move(ag1.host, new_address)
    ag1.start()

    def moved() -> dict[str, Any] | None:
        doc = json.loads(server.kubectl("get", "node", "ag1", "-o", "json").stdout)
        addresses = {a["type"]: a["address"] for a in doc["status"].get("addresses") or []}
        return doc if addresses.get("InternalIP") == new_address and \
            node_ready(server, "ag1") else None
    after = wait_until(moved, timeout=60)
    assert after["metadata"]["uid"] == node["metadata"]["uid"]
    assert after["metadata"]["creationTimestamp"] == node["metadata"]["creationTimestamp"]
    names = server.kubectl("get", "nodes", "-o", "name").stdout.split()
    assert sorted(names) == ["node/ag1", "node/srv"]
    kept = wait_until(lambda: (p := pod_of(server, "stays")) and is_running(p) and p)
    assert kept["metadata"]["uid"] == pod["metadata"]["uid"]
    assert started_at(kept) == started_at(pod)
    assert ag1.kubectl("get", "pods", "--no-headers").stdout.split()[0] == "stays"
