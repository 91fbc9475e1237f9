"""Node lifecycle decisions with a fake clock: NotReady and taints after the grace period,
eviction after the timeout (tolerationSeconds honoured), recovery when heartbeats return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.controllers.actions import (
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
)
from minikube13.controllers.node_lifecycle import (
    UNKNOWN_MESSAGE,
    UNKNOWN_REASON,
    UNREACHABLE,
    NodeLifecycle,
    stamp,
)
from minikube13.controllers.object_cache import ObjectCache

T0 = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
NODE = ObjectRef("nodes", "", "n1")
LIFE = NodeLifecycle(grace_s=40, eviction_s=300)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def node(ready: str = "True", reason: str = "KubeletReady", beat: float = 0,
         taint_added: float | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "n1", "uid": "u-n1", "creationTimestamp": stamp(at(-100))},
        "spec": {},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False" if ready != "Unknown" else "Unknown",
             "reason": "KubeletHasSufficientMemory" if ready != "Unknown" else reason},
            {"type": "Ready", "status": ready, "reason": reason,
             "lastHeartbeatTime": stamp(at(beat)), "lastTransitionTime": stamp(at(beat))}]}}
    if taint_added is not None:
        obj["spec"]["taints"] = [
            {"key": UNREACHABLE, "effect": e, "timeAdded": stamp(at(taint_added))}
            for e in ("NoSchedule", "NoExecute")]
    return obj


def lease(renew: float) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "namespace": "kube-node-lease", "uid": "u-l"},
            "spec": {"holderIdentity": "n1", "renewTime": at(renew).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")}}


def pod(name: str, *, tolerate: int | None | str = "no", deleting: float | None = None,
        ) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": "n1", "containers": [{"name": "c"}]}
    if tolerate != "no":
        tol: dict[str, Any] = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
        if tolerate is not None:
            tol["tolerationSeconds"] = tolerate
        spec["tolerations"] = [tol]
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"u-{name}"}
    if deleting is not None:
        meta["deletionTimestamp"] = stamp(at(deleting))
    return {"metadata": meta, "spec": spec}


def view(*objs: tuple[str, dict[str, Any]]) -> ObjectCache:
    cache = ObjectCache()
    for storage, obj in objs:
        cache.put(storage, obj)
    return cache


def test_fresh_heartbeat_changes_nothing() -> None:
    """A node that posted its status within the grace period stays as it is."""
    cache = view(("nodes", node(beat=0)))
    assert LIFE.reconcile(NODE, cache, at(39)) == []
    assert LIFE.next_check(NODE, cache, at(39)) == pytest.approx(1.01)


def test_lease_renewal_counts_as_heartbeat() -> None:
    """A renewed Lease keeps a node Ready even when its status is old."""
    cache = view(("nodes", node(beat=0)), ("leases", lease(renew=100)))
    assert LIFE.reconcile(NODE, cache, at(120)) == []


def test_stale_node_gets_unknown_and_taints() -> None:
    """Past the grace period: unreachable taints, every condition Unknown, an event."""
    cache = view(("nodes", node(beat=0)))
    actions = LIFE.reconcile(NODE, cache, at(41))
    me = ObjectRef("nodes", "", "n1", "u-n1")
    taint_patch, status_patch, event = actions
    assert taint_patch == PatchObject(me, {"spec": {"taints": [
        {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": stamp(at(41))},
        {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": stamp(at(41))}]}})
    assert isinstance(status_patch, PatchObject) and status_patch.subresource == "status"
    conditions = status_patch.patch["status"]["conditions"]
    assert {c["status"] for c in conditions} == {"Unknown"}
    ready = next(c for c in conditions if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == (UNKNOWN_REASON, UNKNOWN_MESSAGE)
    assert ready["lastTransitionTime"] == stamp(at(41))
    assert isinstance(event, RecordEvent) and event.reason == "NodeNotReady"


def test_pods_stay_until_the_eviction_timeout() -> None:
    """A tainted node's pods are not touched before the eviction timeout; the next check
    is due when it runs out."""
    cache = view(("nodes", node("Unknown", UNKNOWN_REASON, beat=0, taint_added=41)),
                 ("pods", pod("a")))
    assert LIFE.reconcile(NODE, cache, at(200)) == []
    assert LIFE.next_check(NODE, cache, at(200)) == pytest.approx(141.01)


def test_pods_evicted_after_the_timeout() -> None:
    """After the eviction timeout the node's pods are deleted gracefully, with an event."""
    cache = view(("nodes", node("Unknown", UNKNOWN_REASON, beat=0, taint_added=41)),
                 ("pods", pod("a")))
    actions = LIFE.reconcile(NODE, cache, at(341))
    ref = ObjectRef("pods", "default", "a", "u-a")
    assert actions[0] == DeleteObject(ref, "Background")
    assert isinstance(actions[1], RecordEvent) and actions[1].reason == "TaintManagerEviction"


def test_terminating_pod_forced_after_its_grace() -> None:
    """A pod already terminating on a dead node is deleted with grace 0 once its grace is
    over, since no kubelet will finish it."""
    cache = view(("nodes", node("Unknown", UNKNOWN_REASON, beat=0, taint_added=41)),
                 ("pods", pod("a", deleting=371)))
    assert LIFE.reconcile(NODE, cache, at(360)) == []
    assert LIFE.reconcile(NODE, cache, at(371)) == [
        DeleteObject(ObjectRef("pods", "default", "a", "u-a"), "Background", grace_period_s=0)]


def test_toleration_seconds_honoured() -> None:
    """A pod tolerating unreachable for 30 s goes after 30 s; one tolerating it without
    seconds stays for good."""
    cache = view(("nodes", node("Unknown", UNKNOWN_REASON, beat=0, taint_added=41)),
                 ("pods", pod("quick", tolerate=30)), ("pods", pod("forever", tolerate=None)))
    deleted = [a.ref.name for a in LIFE.reconcile(NODE, cache, at(72))
               if isinstance(a, DeleteObject)]
    assert deleted == ["quick"]
    assert [a for a in LIFE.reconcile(NODE, cache, at(10_000))
            if isinstance(a, DeleteObject) and a.ref.name == "forever"] == []


def test_recovery_removes_taints_and_restores_ready() -> None:
    """When heartbeats return, the taints go and the node is Ready again."""
    cache = view(("nodes", node("Unknown", UNKNOWN_REASON, beat=0, taint_added=41)),
                 ("leases", lease(renew=500)))
    actions = LIFE.reconcile(NODE, cache, at(501))
    me = ObjectRef("nodes", "", "n1", "u-n1")
    assert actions[0] == PatchObject(me, {"spec": {"taints": None}})
    conditions = actions[1].patch["status"]["conditions"]  # type: ignore[union-attr]
    assert [(c["type"], c["status"]) for c in conditions] == [
        ("MemoryPressure", "False"), ("Ready", "True")]


def test_missing_node_does_nothing() -> None:
    """A node that is gone needs no decision and no timer."""
    assert LIFE.reconcile(NODE, ObjectCache(), T0) == []
    assert LIFE.next_check(NODE, ObjectCache(), T0) is None


@given(st.floats(min_value=0, max_value=1000), st.floats(min_value=1, max_value=100))
def test_ready_exactly_within_grace(elapsed: float, grace: float) -> None:
    """A node is left alone exactly while its last heartbeat is within the grace period."""
    life = NodeLifecycle(grace_s=grace, eviction_s=300)
    cache = view(("nodes", node(beat=0)))
    actions = life.reconcile(NODE, cache, at(elapsed))
    assert (actions == []) == (timedelta(seconds=elapsed) <= timedelta(seconds=grace))
