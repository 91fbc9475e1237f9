"""This machine as a Node, and what the agent decides for each pod (pure)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.node import nodestatus
from minikube13.node.inputs import pull_auth, referenced_names
from minikube13.node.nodestatus import MachineInfo
from minikube13.node.pleg import Step, container_events, grace_seconds, plan_pod, relist
from minikube13.runtime.poddir import ContainerState, Stage1State, TerminatedState

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
MACHINE = MachineInfo(cpus=2, memory_bytes=24 * 2**30, hostname="edge1",
                      internal_ip="192.0.2.10", kernel_version="6.1.0",
                      os_image="Debian GNU/Linux 12 (bookworm)", boot_id="b1")


@dataclass(frozen=True)
class RP:
    uid: str = "u1"
    alive: bool = True
    stage1: Stage1State | None = field(
        default_factory=lambda: Stage1State(10, 1, 0.0, "Running"))
    containers: dict[str, ContainerState] = field(default_factory=dict)
    pod_ip: str = ""


def test_node_object_has_capacity_addresses_and_runtime_version() -> None:
    """kubectl describe node shows cpu/memory/pods, the InternalIP and rkt-style://."""
    node = nodestatus.node_object("edge1", MACHINE, NOW)
    status = node["status"]
    assert status["capacity"] == {"cpu": "2", "memory": "25165824Ki", "pods": "110"}
    assert status["allocatable"] == status["capacity"]
    assert {"type": "InternalIP", "address": "192.0.2.10"} in status["addresses"]
    info = status["nodeInfo"]
    assert info["containerRuntimeVersion"] == "rkt-style://minikube13"
    assert info["kubeletVersion"].startswith("v1.3.") and info["architecture"] == "amd64"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "edge1"


def test_node_heartbeat_moves_only_the_heartbeat() -> None:
    """A later status keeps lastTransitionTime and other writers' fields."""
    first = nodestatus.node_status(MACHINE, {"images": [{"names": ["x"]}]}, NOW)
    later = nodestatus.node_status(MACHINE, first, NOW + timedelta(seconds=30))
    ready = next(c for c in later["conditions"] if c["type"] == "Ready")
    assert ready["lastHeartbeatTime"] == "2026-11-26T12:00:30Z"
    assert ready["lastTransitionTime"] == "2026-11-26T12:00:00Z"
    assert later["images"] == [{"names": ["x"]}]


def test_lease_names_the_node() -> None:
    """The Lease in kube-node-lease is held by the node, renewTime in microseconds."""
    lease = nodestatus.lease_object("edge1", NOW)
    assert lease["metadata"] == {"name": "edge1", "namespace": "kube-node-lease"}
    assert lease["spec"]["renewTime"] == "2026-11-26T12:00:00.000000Z"


def pod(**meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1", **meta},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Pending"}}


def test_plan_covers_the_pod_lifecycle() -> None:
    """Start, leave alone, restart after a reboot, terminate, final delete, remove."""
    deleting = pod(deletionTimestamp="2026-11-26T12:00:00Z", deletionGracePeriodSeconds=5)
    finished = dict(pod(), status={"phase": "Succeeded"})
    assert plan_pod(pod(), None) is Step.START
    assert plan_pod(pod(), RP()) is Step.NOTHING
    assert plan_pod(pod(), RP(alive=False)) is Step.START
    assert plan_pod(pod(), RP(alive=False, stage1=Stage1State(1, 1, 0.0, "Failed"))) \
        is Step.NOTHING
    assert plan_pod(finished, RP(alive=False)) is Step.NOTHING
    assert plan_pod(deleting, RP()) is Step.TERMINATE
    assert plan_pod(deleting, None) is Step.FINAL_DELETE
    assert plan_pod(None, RP()) is Step.REMOVE
    assert plan_pod(None, None) is Step.NOTHING
    assert grace_seconds(deleting) == 5.0
    assert grace_seconds(pod()) == 30.0


def test_relist_finds_changes_and_container_events() -> None:
    """A container that starts gives Created+Started; back-off gives BackOff; a vanished
    pod dir is a change too."""
    run = ContainerState("c", False, "u1-c", "running", started_at=1.0, ready=True)
    first = relist({}, {}, [("u1", RP(containers={"c": run}))])
    assert first.changed == {"u1"}
    assert [e.reason for e in first.events] == ["Created", "Started"]
    same = relist(first.seen, {"u1": {"c": run}}, [("u1", RP(containers={"c": run}))])
    assert same.changed == set() and same.events == []
    wait = ContainerState("c", False, "u1-c", "waiting", restart_count=1,
                          reason="CrashLoopBackOff",
                          last_terminated=TerminatedState(1, "Error"))
    assert [e.reason for e in container_events("u1", {"c": run}, {"c": wait})] == ["BackOff"]
    gone = relist(first.seen, {"u1": {"c": run}}, [])
    assert gone.changed == {"u1"}


def test_inputs_name_secrets_config_maps_and_pull_credentials() -> None:
    """Volumes, env and envFrom references; imagePullSecrets decoded."""
    p = {"spec": {
        "volumes": [{"name": "s", "secret": {"secretName": "s1"}},
                    {"name": "c", "configMap": {"name": "cm1"}}],
        "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "s2"}}]}],
        "containers": [{"name": "c", "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm2", "key": "k"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s3", "key": "k"}}}]}]}}
    assert referenced_names(p) == ({"s1", "s2", "s3"}, {"cm1", "cm2"})
    config = {"auths": {"127.0.0.1:5000": {"auth": "dTpw"}}}
    secret = {"type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode())
                       .decode()}}
    assert pull_auth([secret, {"data": {".dockercfg": "!!notbase64"}}]) == [config]


def test_the_node_says_where_its_api_listens_for_the_servers() -> None:
    """daemonEndpoints.kubeletEndpoint.Port is this node's API: the server passes
    logs/exec of the node's pods there, at its InternalIP."""
    from dataclasses import replace

    from minikube13.api.node_proxy import node_endpoint
    node = nodestatus.node_object("edge1", replace(MACHINE, api_port=6443), NOW)
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 6443}}
    assert node_endpoint(node) == ("192.0.2.10", 6443)
    assert node_endpoint(nodestatus.node_object("edge1", MACHINE, NOW)) is None  # port 0
    assert node_endpoint({"status": {}}) is None
