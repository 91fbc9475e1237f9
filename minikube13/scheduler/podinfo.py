"""What the scheduler needs to know about one pod, read once from its (storage form) object:
the effective resource request, host ports, node constraints, tolerations, claims and the set
of pods it spreads with."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from minikube13.model.groups.core_container import parse_quantity

Object = dict[str, Any]

CPU, MEMORY, PODS = "cpu", "memory", "pods"
GPU_ALPHA, GPU = "alpha.kubernetes.io/nvidia-gpu", "nvidia.com/gpu"
# kube-scheduler scores a pod without requests as if it asked for 100m cpu and 200Mi memory.
DEFAULT_CPU_MILLI, DEFAULT_MEMORY = 100, 200 * 1024 * 1024
AFFINITY_ANNOTATION = "scheduler.alpha.kubernetes.io/affinity"
TOLERATIONS_ANNOTATION = "scheduler.alpha.kubernetes.io/tolerations"


def quantity(name: str, value: Any) -> int:
    """A quantity as an integer in scheduler units: millicores for cpu, else whole units."""
    parsed = parse_quantity(value)
    if parsed is None:
        return 0
    if name == CPU:
        parsed *= 1000
    return int(math.ceil(parsed)) if parsed > 0 else 0


def resource_list(values: Any) -> dict[str, int]:
    if not isinstance(values, dict):
        return {}
    return {str(k): quantity(str(k), v) for k, v in values.items()}


def container_request(container: Object) -> dict[str, int]:
    """A container's requests; a resource given only as a limit requests its limit."""
    resources = container.get("resources") or {}
    out = resource_list(resources.get("limits"))
    out.update(resource_list(resources.get("requests")))
    return out


def init_containers(spec: Object, annotations: dict[str, str]) -> list[Object]:
    if spec.get("initContainers"):
        return list(spec["initContainers"])
    for key in ("pod.beta.kubernetes.io/init-containers", "pod.alpha.kubernetes.io/init-containers"):
        if key in annotations:
            try:
                loaded = json.loads(annotations[key])
            except ValueError:
                return []
            return loaded if isinstance(loaded, list) else []
    return []


def effective_request(spec: Object, annotations: dict[str, str] | None = None) -> dict[str, int]:
    """max(largest init container, sum of app containers), per resource."""
    total: dict[str, int] = {}
    for container in spec.get("containers") or []:
        for name, value in container_request(container).items():
            total[name] = total.get(name, 0) + value
    for container in init_containers(spec, annotations or {}):
        for name, value in container_request(container).items():
            total[name] = max(total.get(name, 0), value)
    return {k: v for k, v in total.items() if v}


def host_ports(spec: Object) -> frozenset[tuple[str, str, int]]:
    """(protocol, hostIP, hostPort) of every container port that asks for a host port."""
    ports = set()
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                ports.add((port.get("protocol") or "TCP", port.get("hostIP") or "0.0.0.0",
                           int(port["hostPort"])))
    return frozenset(ports)


def controller_uid(meta: Object) -> str:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def service_uid(meta: Object, services: Collection[Object]) -> str:
    """The first Service (by name) of the pod's namespace whose selector picks the pod."""
    labels = meta.get("labels") or {}
    namespace = meta.get("namespace") or ""
    for svc in sorted(services, key=lambda s: s.get("metadata", {}).get("name", "")):
        smeta = svc.get("metadata") or {}
        selector = (svc.get("spec") or {}).get("selector") or {}
        if (smeta.get("namespace") or "") == namespace and selector and all(
                labels.get(k) == v for k, v in selector.items()):
            return "svc:" + str(smeta.get("uid") or smeta.get("name") or "")
    return ""


def spread_key(meta: Object, services: Collection[Object] = ()) -> str:
    """The set a pod spreads with: its controller, else a Service that selects it."""
    return controller_uid(meta) or service_uid(meta, services)


def _affinity(spec: Object, annotations: dict[str, str]) -> list[Object] | None:
    """The required node selector terms (None: no node affinity)."""
    affinity = spec.get("affinity")
    if affinity is None and AFFINITY_ANNOTATION in annotations:
        try:
            affinity = json.loads(annotations[AFFINITY_ANNOTATION])
        except ValueError:
            affinity = None
    node = (affinity or {}).get("nodeAffinity") if isinstance(affinity, dict) else None
    required = (node or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        return None
    return list(required.get("nodeSelectorTerms") or [])


def _tolerations(spec: Object, annotations: dict[str, str]) -> tuple[Object, ...]:
    found = spec.get("tolerations")
    if found is None and TOLERATIONS_ANNOTATION in annotations:
        try:
            found = json.loads(annotations[TOLERATIONS_ANNOTATION])
        except ValueError:
            found = None
    return tuple(t for t in found or [] if isinstance(t, dict))


@dataclass(frozen=True)
class PodInfo:
    """A pod as the scheduler sees it."""

    key: str  # namespace/name
    namespace: str
    uid: str
    node: str
    request: dict[str, int]
    ports: frozenset[tuple[str, str, int]]
    spread: str  # the set this pod spreads with ("" = none): see spread_key
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity: list[Object] | None = None
    tolerations: tuple[Object, ...] = ()
    claims: tuple[str, ...] = ()

    @property
    def cpu(self) -> int:
        return self.request.get(CPU, 0)

    @property
    def memory(self) -> int:
        return self.request.get(MEMORY, 0)

    @property
    def score_cpu(self) -> int:
        return self.request.get(CPU) or DEFAULT_CPU_MILLI

    @property
    def score_memory(self) -> int:
        return self.request.get(MEMORY) or DEFAULT_MEMORY

    @property
    def constrained(self) -> bool:
        """Whether anything beyond resources can rule a node out."""
        return bool(self.node_selector or self.affinity is not None or self.ports
                    or self.claims)


def pod_info(pod: Object, services: Collection[Object] = ()) -> PodInfo:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    namespace = meta.get("namespace") or ""
    claims = tuple(
        str(v["persistentVolumeClaim"].get("claimName") or "")
        for v in spec.get("volumes") or [] if isinstance(v.get("persistentVolumeClaim"), dict))
    return PodInfo(
        key=f"{namespace}/{meta.get('name', '')}", namespace=namespace,
        uid=str(meta.get("uid") or ""), node=str(spec.get("nodeName") or ""),
        request=effective_request(spec, annotations), ports=host_ports(spec),
        spread=spread_key(meta, services), node_selector=dict(spec.get("nodeSelector") or {}),
        affinity=_affinity(spec, annotations), tolerations=_tolerations(spec, annotations),
        claims=claims)
