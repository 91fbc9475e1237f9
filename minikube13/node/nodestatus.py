"""This machine as a Node object, and its Lease (pure: the shell reads psutil and /proc and
passes the numbers in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minikube13 import KUBERNETES_GIT_VERSION

Object = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
RUNTIME_VERSION = "rkt-style://minikube13"
MAX_PODS = 110
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
          "s390x": "s390x"}


@dataclass(frozen=True)
class MachineInfo:
    """What the shell read of this machine."""

    cpus: int
    memory_bytes: int
    hostname: str
    internal_ip: str
    machine: str = "x86_64"        # platform.machine()
    kernel_version: str = ""
    os_image: str = ""             # /etc/os-release PRETTY_NAME
    machine_id: str = ""
    system_uuid: str = ""
    boot_id: str = ""
    max_pods: int = MAX_PODS
    api_port: int = 0              # this node's API (what the kubelet's port is to the apiserver)


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def arch(machine: str) -> str:
    return ARCHES.get(machine, machine)


def capacity(info: MachineInfo) -> dict[str, str]:
    return {"cpu": str(info.cpus), "memory": f"{info.memory_bytes // 1024}Ki",
            "pods": str(info.max_pods)}


def node_labels(name: str, info: MachineInfo) -> dict[str, str]:
    a = arch(info.machine)
    return {"kubernetes.io/hostname": name, "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": a, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": a}


_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def node_conditions(old: list[Object], now: datetime) -> list[Object]:
    """The kubelet's conditions, heartbeat now; a transition time kept while unchanged."""
    previous = {c.get("type"): c for c in old}
    out = []
    for kind, status, reason, message in _CONDITIONS:
        before = previous.get(kind) or {}
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append({"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": stamp(now),
                    "lastTransitionTime": since or stamp(now)})
    return out


def node_status(info: MachineInfo, old: Object, now: datetime) -> Object:
    """The Node's status: capacity, conditions, addresses, nodeInfo (other fields of `old`,
    e.g. images or volumes written by someone else, are kept)."""
    out = dict(old)
    cap = capacity(info)
    out.update({
        "capacity": cap, "allocatable": dict(cap),
        "conditions": node_conditions(old.get("conditions") or [], now),
        "addresses": [{"type": "InternalIP", "address": info.internal_ip},
                      {"type": "Hostname", "address": info.hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": info.api_port}},
        "nodeInfo": {
            "machineID": info.machine_id, "systemUUID": info.system_uuid,
            "bootID": info.boot_id, "kernelVersion": info.kernel_version,
            "osImage": info.os_image, "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBERNETES_GIT_VERSION,
            "kubeProxyVersion": KUBERNETES_GIT_VERSION,
            "operatingSystem": "linux", "architecture": arch(info.machine)},
    })
    return out


def node_object(name: str, info: MachineInfo, now: datetime) -> Object:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": node_labels(name, info)},
            "spec": {}, "status": node_status(info, {}, now)}


def lease_spec(name: str, now: datetime) -> Object:
    return {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_S,
            "renewTime": micro_stamp(now)}


def lease_object(name: str, now: datetime) -> Object:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE},
            "spec": lease_spec(name, now)}
