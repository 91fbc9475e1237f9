"""Builders of Node and Pod objects for the scheduler tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minikube13.scheduler.core import schedule
from minikube13.scheduler.podinfo import pod_info
from minikube13.scheduler.snapshot import Snapshot

Object = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"


def node(name: str, cpu: str = "4", memory: str = "8Gi", pods: int = 110, *,
         zone: str = "", labels: dict[str, str] | None = None, ready: bool = True,
         unschedulable: bool = False, taints: list[Object] | None = None,
         extra: dict[str, str] | None = None) -> Object:
    all_labels = dict(labels or {})
    if zone:
        all_labels[ZONE] = zone
    resources: dict[str, Any] = {"cpu": cpu, "memory": memory, "pods": str(pods),
                                 **(extra or {})}
    spec: Object = {"unschedulable": True} if unschedulable else {}
    if taints:
        spec["taints"] = taints
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": all_labels}, "spec": spec,
            "status": {"capacity": resources, "allocatable": resources, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str = "p", cpu: str = "", memory: str = "", *, owner: str = "",
        node_name: str = "", **spec: Any) -> Object:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: Object = {"name": "c", "image": "nginx", "resources": {"requests": requests}}
    meta: Object = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": owner, "uid": owner, "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [container], **({"nodeName": node_name} if node_name
                                                   else {}), **spec}}


def snapshot_of(*nodes: Object) -> Snapshot:
    snap = Snapshot()
    for n in nodes:
        snap.add_node(n)
    return snap


def place(snap: Snapshot, obj: Object, rng: Any, sample: int | None = None) -> str:
    """Schedule `obj` and record it on the chosen node; return the node (or fail)."""
    info = pod_info(obj)
    decision = schedule(info, snap, rng, sample=sample)
    assert isinstance(decision, str), decision
    snap.add_pod(replace(info, node=decision))
    return decision
