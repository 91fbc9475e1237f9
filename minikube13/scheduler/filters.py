"""Filters: why a node cannot take a pod, in the kube-scheduler's words. Each check returns
its reasons; node_reasons runs them in kube's plugin order and stops at the first that fails
(NodeResourcesFit reports every insufficient resource at once, as kube does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minikube13.scheduler.podinfo import CPU, MEMORY, PodInfo
from minikube13.scheduler.snapshot import NodeInfo, Snapshot

Object = dict[str, Any]

NOT_READY = "node(s) were not ready"
UNSCHEDULABLE = "node(s) were unschedulable"
TOO_MANY_PODS = "Too many pods"
NODE_SELECTOR = "node(s) didn't match node selector"
HOST_PORTS = "node(s) didn't have free ports for the requested pod ports"
VOLUME_ZONE = "node(s) had no available volume zone"
VOLUME_NODE = "node(s) had volume node affinity conflict"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
WILDCARD = "0.0.0.0"


def insufficient(resource: str) -> str:
    return f"Insufficient {resource}"


def untolerated(taint: Object) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def tolerates(toleration: Object, taint: Object) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")


def _tolerated(pod: PodInfo, taint: Object) -> bool:
    return any(tolerates(t, taint) for t in pod.tolerations)


def check_condition(pod: PodInfo, node: NodeInfo, _: Snapshot) -> list[str]:
    """Readiness and cordoning, unless the pod tolerates the matching kube taint."""
    if not node.ready and not _tolerated(pod, {"key": NOT_READY_TAINT, "effect": "NoSchedule"}):
        return [NOT_READY]
    if node.unschedulable and not _tolerated(
            pod, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return [UNSCHEDULABLE]
    return []


def check_taints(pod: PodInfo, node: NodeInfo, _: Snapshot) -> list[str]:
    for taint in node.taints:
        if not _tolerated(pod, taint):
            return [untolerated(taint)]
    return []


def match_expression(expression: Object, labels: dict[str, str]) -> bool:
    key, op = expression.get("key") or "", expression.get("operator") or ""
    values = [str(v) for v in expression.get("values") or []]
    present, value = key in labels, labels.get(key, "")
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        try:
            have, bound = int(value), int(values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def match_term(term: Object, node: NodeInfo) -> bool:
    """A nodeSelectorTerm: all its expressions and fields hold; an empty term matches none."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    names = {"metadata.name": node.name}
    return (all(match_expression(e, node.labels) for e in expressions)
            and all(match_expression(f, names) for f in fields))


def check_selector(pod: PodInfo, node: NodeInfo, _: Snapshot) -> list[str]:
    """nodeSelector, then required node affinity (terms are ORed)."""
    labels = node.labels
    if any(labels.get(k) != v for k, v in pod.node_selector.items()):
        return [NODE_SELECTOR]
    if pod.affinity is not None and not any(match_term(t, node) for t in pod.affinity):
        return [NODE_SELECTOR]
    return []


def _port_taken(port: tuple[str, str, int], used: dict[tuple[str, str, int], int]) -> bool:
    protocol, ip, number = port
    if port in used or (protocol, WILDCARD, number) in used:
        return True
    return ip == WILDCARD and any(p[0] == protocol and p[2] == number for p in used)


def check_ports(pod: PodInfo, node: NodeInfo, _: Snapshot) -> list[str]:
    if any(_port_taken(port, node.ports) for port in pod.ports):
        return [HOST_PORTS]
    return []


def check_resources(pod: PodInfo, node: NodeInfo, _: Snapshot) -> list[str]:
    """cpu, memory, pods and every extended resource (GPUs) the pod asks for."""
    reasons = [] if node.pods_left >= 1 else [TOO_MANY_PODS]
    for name, value in pod.request.items():
        left = node.cpu_left if name == CPU else node.memory_left if name == MEMORY \
            else node.left(name)
        if value > left:
            reasons.append(insufficient(name))
    return reasons


def check_volumes(pod: PodInfo, node: NodeInfo, snapshot: Snapshot) -> list[str]:
    """A pod whose claim is bound to a zoned volume runs only in that volume's zone, and one
    bound to a local volume only on the nodes its node affinity names."""
    for claim in pod.claims:
        placement = snapshot.claim_volumes.get(f"{pod.namespace}/{claim}")
        if placement is None:
            continue
        if placement.terms is not None and not any(match_term(t, node)
                                                    for t in placement.terms):
            return [VOLUME_NODE]
        for label, allowed in placement.zones.items():
            if node.labels.get(label) not in allowed:
                return [VOLUME_ZONE]
    return []


Check = Callable[[PodInfo, NodeInfo, Snapshot], list[str]]
CHECKS: tuple[Check, ...] = (check_condition, check_taints, check_selector, check_ports,
                             check_resources, check_volumes)


def node_reasons(pod: PodInfo, node: NodeInfo, snapshot: Snapshot) -> list[str]:
    """Why `node` cannot take `pod` (empty: it can)."""
    for check in CHECKS:
        reasons = check(pod, node, snapshot)
        if reasons:
            return reasons
    return []


def fits_plain(pod: PodInfo, node: NodeInfo) -> bool:
    """The fast path for an unconstrained pod on a plain node: resources only."""
    if node.pods_left < 1 or pod.cpu > node.cpu_left or pod.memory > node.memory_left:
        return False
    return all(value <= node.left(name) for name, value in pod.request.items()
               if name != CPU and name != MEMORY)
