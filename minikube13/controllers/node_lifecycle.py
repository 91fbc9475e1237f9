"""The node lifecycle controller's decisions (pure): Ready/NotReady from a node's heartbeat,
the unreachable taints, and eviction of the pods of a node that stayed unreachable.

The heartbeat is the later of the node's Lease `kube-node-lease/<node>` renewTime and its
Ready condition's lastHeartbeatTime (creationTimestamp before either). Past `grace` without
one, every condition becomes Unknown (reason NodeStatusUnknown) and the node gets the taints
node.kubernetes.io/unreachable NoSchedule and NoExecute. `eviction` after the NoExecute
taint was added (a pod's tolerationSeconds for that taint instead, when it has one; forever
for a toleration without seconds) the pod is deleted, and force-deleted once its grace period
is over, since no kubelet will finish it. A heartbeat again: Ready, and the taints go.

With a gossip view (`liveness`, see cluster/liveness.py) the heartbeat of a node that gossip
knows is not used: a member alive or suspect is Ready whatever its Lease says (cut off from
the servers' store but alive to its peers: not evicted), a member dead or left for `grace`
is unreachable. A node gossip does not know falls back to its Lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from minikube13.controllers.actions import (
    Action,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
    View,
    ref_of,
)

Object = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
READY_REASON = "KubeletReady"
READY_MESSAGE = "kubelet is posting ready status"
SOURCE = "node-controller"
DEFAULT_GRACE_S = 40.0
DEFAULT_EVICTION_S = 300.0


class NodeView(View, Protocol):
    def pods_on_node(self, node: str) -> list[Object]: ...


@dataclass(frozen=True)
class GossipVerdict:
    """What gossip says of a node: Ready or not, and when that may change with time alone."""

    ready: bool
    until: datetime | None = None


class GossipLiveness(Protocol):
    def verdict(self, node: str, grace_s: float, now: datetime) -> GossipVerdict | None:
        """None when gossip does not know the node (its Lease decides)."""
        ...


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready(node: Object) -> Object | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def heartbeat(node: Object, view: View) -> datetime | None:
    """The node's last sign of life."""
    name = (node.get("metadata") or {}).get("name", "")
    lease = view.get(ObjectRef("leases", LEASE_NAMESPACE, name))
    times = [parse_time(((lease or {}).get("spec") or {}).get("renewTime")),
             parse_time((_ready(node) or {}).get("lastHeartbeatTime"))]
    known = [t for t in times if t is not None]
    if known:
        return max(known)
    return parse_time((node.get("metadata") or {}).get("creationTimestamp"))


def _taints(node: Object) -> list[Object]:
    return [dict(t) for t in (node.get("spec") or {}).get("taints") or []]


def _unreachable_since(node: Object) -> datetime | None:
    for taint in _taints(node):
        if taint.get("key") == UNREACHABLE and taint.get("effect") == "NoExecute":
            return parse_time(taint.get("timeAdded"))
    return None


@dataclass(frozen=True)
class NodeLifecycle:
    """Node lifecycle with its grace period and eviction timeout, in seconds."""

    grace_s: float = DEFAULT_GRACE_S
    eviction_s: float = DEFAULT_EVICTION_S
    liveness: GossipLiveness | None = None  # None: Ready from the Lease/heartbeat alone

    def reconcile(self, key: ObjectRef, view: NodeView, now: datetime) -> list[Action]:
        node = view.get(key.key)
        if node is None:
            return []
        me = ref_of("nodes", node)
        ready, _ = self._health(node, view, now)
        if ready:
            return self._recovered(me, node)
        actions = self._unreachable(me, node, now)
        since = _unreachable_since(node) or now
        actions.extend(self._evictions(node, view, since, now))
        return actions

    def next_check(self, key: ObjectRef, view: NodeView, now: datetime) -> float | None:
        """Seconds until this node's state may change with time alone."""
        node = view.get(key.key)
        if node is None:
            return None
        ready, until = self._health(node, view, now)
        if ready:
            return None if until is None else _seconds(until - now) + 0.01
        since = _unreachable_since(node) or now
        times = [t for t in (self._deadline(pod, since, now)
                             for pod in view.pods_on_node(me_name(node))) if t is not None]
        return _seconds(min(times) - now) + 0.01 if times else None

    def _health(self, node: Object, view: NodeView,
                now: datetime) -> tuple[bool, datetime | None]:
        """(Ready?, when that may change with time alone) from gossip, else the heartbeat."""
        if self.liveness is not None:
            verdict = self.liveness.verdict(me_name(node), self.grace_s, now)
            if verdict is not None:
                return verdict.ready, verdict.until
        beat = heartbeat(node, view)
        if beat is not None and now - beat <= timedelta(seconds=self.grace_s):
            return True, beat + timedelta(seconds=self.grace_s)
        return False, None

    # -- unreachable -----------------------------------------------------------------------

    def _unreachable(self, me: ObjectRef, node: Object, now: datetime) -> list[Action]:
        actions: list[Action] = []
        taints = _taints(node)
        have = {(t.get("key"), t.get("effect")) for t in taints}
        wanted = [{"key": UNREACHABLE, "effect": effect, "timeAdded": stamp(now)}
                  for effect in ("NoSchedule", "NoExecute") if (UNREACHABLE, effect) not in have]
        if wanted:
            actions.append(PatchObject(me, {"spec": {"taints": taints + wanted}}))
        ready = _ready(node)
        if ready is None or ready.get("status") != "Unknown":
            conditions = _all_unknown(node, now)
            actions.append(PatchObject(me, {"status": {"conditions": conditions}}, "status"))
            actions.append(RecordEvent(me, "Node", "Normal", "NodeNotReady",
                                       f"Node {me.name} status is now: NodeNotReady", SOURCE))
        return actions

    def _deadline(self, pod: Object, since: datetime, now: datetime) -> datetime | None:
        """When the pod is to be deleted (again, with no grace, once it is terminating)."""
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return parse_time(meta["deletionTimestamp"])
        seconds = _toleration_seconds(pod, self.eviction_s)
        if seconds is None:
            return None
        return since + timedelta(seconds=seconds)

    def _evictions(self, node: Object, view: NodeView, since: datetime,
                   now: datetime) -> list[Action]:
        actions: list[Action] = []
        for pod in view.pods_on_node(me_name(node)):
            due = self._deadline(pod, since, now)
            if due is None or due > now:
                continue
            ref = ref_of("pods", pod)
            if (pod.get("metadata") or {}).get("deletionTimestamp"):
                actions.append(DeleteObject(ref, "Background", grace_period_s=0))
                continue
            actions.append(DeleteObject(ref, "Background"))
            actions.append(RecordEvent(ref, "Pod", "Normal", "TaintManagerEviction",
                                       f"Marking for deletion Pod {ref.namespace}/{ref.name}",
                                       SOURCE))
        return actions

    # -- recovered -------------------------------------------------------------------------

    def _recovered(self, me: ObjectRef, node: Object) -> list[Action]:
        actions: list[Action] = []
        taints = _taints(node)
        kept = [t for t in taints if t.get("key") != UNREACHABLE]
        if len(kept) != len(taints):
            actions.append(PatchObject(me, {"spec": {"taints": kept or None}}))
        ready = _ready(node)
        if ready is not None and ready.get("reason") == UNKNOWN_REASON:
            actions.append(PatchObject(me, {"status": {"conditions": _back_ready(node)}},
                                       "status"))
            actions.append(RecordEvent(me, "Node", "Normal", "NodeReady",
                                       f"Node {me.name} status is now: NodeReady", SOURCE))
        return actions


def me_name(node: Object) -> str:
    return str((node.get("metadata") or {}).get("name", ""))


def _seconds(delta: timedelta) -> float:
    return max(0.0, delta.total_seconds())


def _all_unknown(node: Object, now: datetime) -> list[Object]:
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    if not any(c.get("type") == "Ready" for c in conditions):
        conditions.append({"type": "Ready"})
    for cond in conditions:
        if cond.get("status") != "Unknown":
            cond["lastTransitionTime"] = stamp(now)
        cond.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE)
    return conditions


def _back_ready(node: Object) -> list[Object]:
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    for cond in conditions:
        if cond.get("type") == "Ready":
            cond.update(status="True", reason=READY_REASON, message=READY_MESSAGE)
        elif cond.get("reason") == UNKNOWN_REASON and cond.get("type") in _HEALTHY:
            reason, message = _HEALTHY[cond["type"]]
            cond.update(status="False", reason=reason, message=message)
    return conditions


_HEALTHY = {
    "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "OutOfDisk": ("KubeletHasSufficientDisk", "kubelet has sufficient disk space available"),
}


def _toleration_seconds(pod: Object, default: float) -> float | None:
    """How long the pod stays on an unreachable node: its toleration's seconds, None
    (forever) for a toleration without them, else `default`."""
    for tol in (pod.get("spec") or {}).get("tolerations") or []:
        key, op = tol.get("key"), tol.get("operator") or "Equal"
        if key not in (UNREACHABLE, None, "") or (not key and op != "Exists"):
            continue
        if tol.get("effect") not in (None, "", "NoExecute"):
            continue
        seconds = tol.get("tolerationSeconds")
        return None if seconds is None else max(0.0, float(seconds))
    return default
