"""The scheduler's incremental view of the cluster: one NodeInfo per node with what is left
on it, and counts of pods per (spread set, node) and (spread set, zone), kept up to date by
add/remove calls so that one scheduling decision never walks every pod."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from minikube13.scheduler.podinfo import (
    CPU,
    DEFAULT_CPU_MILLI,
    DEFAULT_MEMORY,
    MEMORY,
    PODS,
    PodInfo,
    resource_list,
)

Object = dict[str, Any]

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
HARD_EFFECTS = ("NoSchedule", "NoExecute")


def zone_of(labels: dict[str, str]) -> str:
    zone = next((labels[k] for k in ZONE_LABELS if labels.get(k)), "")
    region = next((labels[k] for k in REGION_LABELS if labels.get(k)), "")
    return f"{region}:{zone}" if zone and region else zone


def _ready(node: Object) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


@dataclass(frozen=True)
class VolumePlacement:
    """A persistent volume's zone labels (label -> allowed values) and required node
    affinity terms (local volumes; None = none)."""

    zones: dict[str, frozenset[str]] = field(default_factory=dict)
    terms: list[Object] | None = None


def volume_placement(pv: Object) -> tuple[str, VolumePlacement] | None:
    """(claim namespace/name, placement) of a PV bound or pre-bound to a claim."""
    meta, spec = pv.get("metadata") or {}, pv.get("spec") or {}
    ref = spec.get("claimRef") or {}
    if not ref.get("name"):
        return None
    labels = meta.get("labels") or {}
    zones = {k: frozenset(str(labels[k]).split("__")) for k in ZONE_LABELS + REGION_LABELS
             if labels.get(k)}
    required = (spec.get("nodeAffinity") or {}).get("required")
    terms = list(required.get("nodeSelectorTerms") or []) if required else None
    return f"{ref.get('namespace') or ''}/{ref['name']}", VolumePlacement(zones, terms)


@dataclass(eq=False)
class NodeInfo:
    """One node: its object's facts and the sum of what the pods on it take."""

    name: str
    known: bool = False  # False while only pods name it (the node object is not seen yet)
    labels: dict[str, str] = field(default_factory=dict)
    zone: str = ""
    ready: bool = False
    unschedulable: bool = False
    taints: tuple[Object, ...] = ()
    allocatable: dict[str, int] = field(default_factory=dict)
    cpu_left: int = 0
    memory_left: int = 0
    pods_left: int = 0
    requested: dict[str, int] = field(default_factory=dict)
    score_cpu: int = 0  # requests with the scoring defaults for pods that ask for nothing
    score_memory: int = 0
    ports: dict[tuple[str, str, int], int] = field(default_factory=dict)
    pods: dict[str, PodInfo] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        """Ready, schedulable and untainted: only resources can rule it out."""
        return self.known and self.ready and not self.unschedulable and not self.taints

    def set_node(self, node: Object) -> None:
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, \
            node.get("status") or {}
        self.known = True
        self.labels = dict(meta.get("labels") or {})
        self.zone = zone_of(self.labels)
        self.ready = _ready(node)
        self.unschedulable = bool(spec.get("unschedulable"))
        self.taints = tuple(t for t in spec.get("taints") or []
                            if t.get("effect") in HARD_EFFECTS)
        self.allocatable = resource_list(status.get("allocatable") or status.get("capacity"))
        self._recompute_left()

    def _recompute_left(self) -> None:
        self.cpu_left = self.allocatable.get(CPU, 0) - self.requested.get(CPU, 0)
        self.memory_left = self.allocatable.get(MEMORY, 0) - self.requested.get(MEMORY, 0)
        self.pods_left = self.allocatable.get(PODS, 0) - len(self.pods)

    def add(self, pod: PodInfo, sign: int = 1) -> None:
        for name, value in pod.request.items():
            self.requested[name] = self.requested.get(name, 0) + sign * value
        self.score_cpu += sign * (pod.request.get(CPU) or DEFAULT_CPU_MILLI)
        self.score_memory += sign * (pod.request.get(MEMORY) or DEFAULT_MEMORY)
        for port in pod.ports:
            self.ports[port] = self.ports.get(port, 0) + sign
            if not self.ports[port]:
                del self.ports[port]
        if sign > 0:
            self.pods[pod.key] = pod
        else:
            self.pods.pop(pod.key, None)
        self._recompute_left()

    def left(self, resource: str) -> int:
        return self.allocatable.get(resource, 0) - self.requested.get(resource, 0)


class Snapshot:
    """Nodes and bound pods, updated incrementally."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, PodInfo] = {}
        self.per_node: dict[tuple[str, str], int] = {}  # (spread, node) -> pods
        self.per_zone: dict[tuple[str, str], int] = {}  # (spread, zone) -> pods
        # A claim (namespace/name) -> where its bound volume can be used.
        self.claim_volumes: dict[str, VolumePlacement] = {}
        self._order: list[NodeInfo] | None = None
        self.generation = 0  # bumped on every change: the runner's "cluster changed"

    # -- nodes -----------------------------------------------------------------------------

    def add_node(self, node: Object) -> None:
        """Add or update a node from its object."""
        name = (node.get("metadata") or {}).get("name") or ""
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        old_zone, was_known = info.zone, info.known
        if info.pods and old_zone:
            self._count_zone(info, -1)
        info.set_node(node)
        if info.pods and info.zone:
            self._count_zone(info, 1)
        if not was_known or old_zone != info.zone:
            self._order = None
        self.generation += 1

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        if info.pods:  # pods still name it: keep their usage, forget the node's facts
            if info.zone:
                self._count_zone(info, -1)
            self.nodes[name] = ghost = NodeInfo(name)
            for pod in info.pods.values():
                ghost.add(pod)
        else:
            del self.nodes[name]
        self._order = None
        self.generation += 1

    def _count_zone(self, info: NodeInfo, sign: int) -> None:
        for pod in info.pods.values():
            if pod.spread:
                _bump(self.per_zone, (pod.spread, info.zone), sign)

    def order(self) -> list[NodeInfo]:
        """Known nodes, zones interleaved (like kube's NodeTree), so that any window of the
        list samples every zone evenly."""
        if self._order is None:
            zones: dict[str, list[NodeInfo]] = {}
            for name in sorted(self.nodes):
                info = self.nodes[name]
                if info.known:
                    zones.setdefault(info.zone, []).append(info)
            lists = [zones[z] for z in sorted(zones)]
            longest = max((len(x) for x in lists), default=0)
            self._order = [x[i] for i in range(longest) for x in lists if i < len(x)]
        return self._order

    # -- pods ------------------------------------------------------------------------------

    def add_pod(self, pod: PodInfo) -> None:
        """Count a pod bound to pod.node (replacing an older copy of it)."""
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        info = self.nodes.get(pod.node)
        if info is None:
            info = self.nodes[pod.node] = NodeInfo(pod.node)
        info.add(pod)
        self.pods[pod.key] = pod
        if pod.spread:
            _bump(self.per_node, (pod.spread, pod.node), 1)
            if info.zone:
                _bump(self.per_zone, (pod.spread, info.zone), 1)
        self.generation += 1

    def remove_pod(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        info = self.nodes[pod.node]
        info.add(pod, -1)
        if pod.spread:
            _bump(self.per_node, (pod.spread, pod.node), -1)
            if info.zone:
                _bump(self.per_zone, (pod.spread, info.zone), -1)
        if not info.known and not info.pods:
            del self.nodes[pod.node]
        self.generation += 1

    def set_claim_volume(self, claim: str, placement: VolumePlacement | None) -> None:
        """Record (or with None forget) where the volume bound to a claim can be used."""
        if placement and (placement.zones or placement.terms is not None):
            self.claim_volumes[claim] = placement
        else:
            self.claim_volumes.pop(claim, None)
        self.generation += 1


def _bump(counts: dict[tuple[str, str], int], key: tuple[str, str], sign: int) -> None:
    value = counts.get(key, 0) + sign
    if value:
        counts[key] = value
    else:
        counts.pop(key, None)
