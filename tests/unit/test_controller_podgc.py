"""The pod garbage collector: terminated pods beyond the threshold go oldest first, pods of
a deleted node go after a quarantine, and nothing else is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from minikube13.controllers import podgc
from minikube13.controllers.actions import DeleteObject, ObjectRef
from minikube13.controllers.object_cache import ObjectCache

T0 = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, phase: str = "Running", created: float = 0, node: str = "n1",
        deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"u-{name}",
                            "creationTimestamp": stamp(created)}
    if deleting:
        meta["deletionTimestamp"] = stamp(created + 1)
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase}}


def cache(*pods: dict[str, Any], nodes: tuple[str, ...] = ("n1",)) -> ObjectCache:
    c = ObjectCache()
    for n in nodes:
        c.put("nodes", {"metadata": {"name": n, "uid": f"u-{n}"}})
    for p in pods:
        c.put("pods", p)
    return c


def key(name: str) -> ObjectRef:
    return ObjectRef("pods", "default", name)


def deleted(actions: list[Any]) -> list[str]:
    return [a.ref.name for a in actions if isinstance(a, DeleteObject)]


def test_terminated_pods_beyond_the_threshold_go_oldest_first() -> None:
    """With threshold 2 and four finished pods, the two oldest are deleted with grace 0."""
    pods = [pod(f"p{i}", "Succeeded" if i % 2 else "Failed", created=i) for i in range(4)]
    view = cache(*pods)
    gone = [n for p in pods for n in deleted(podgc.reconcile(key(p["metadata"]["name"]),
                                                             view, T0, threshold=2))]
    assert gone == ["p0", "p1"]
    action = podgc.reconcile(key("p0"), view, T0, threshold=2)[0]
    assert isinstance(action, DeleteObject) and action.grace_period_s == 0


def test_running_pods_are_never_collected_for_the_threshold() -> None:
    """Running pods do not count and are not deleted, however many there are."""
    view = cache(*[pod(f"r{i}", created=i) for i in range(5)], pod("done", "Succeeded", 9))
    for name in ["r0", "r1", "done"]:
        assert podgc.reconcile(key(name), view, T0, threshold=0) == []
        assert podgc.reconcile(key(name), view, T0, threshold=1) == []


def test_pod_of_a_deleted_node_goes_after_the_quarantine() -> None:
    """A pod bound to a node that is gone is force-deleted once 40 s have passed."""
    view = cache(pod("lost", node="gone", created=0))
    assert podgc.reconcile(key("lost"), view, T0 + timedelta(seconds=10)) == []
    assert podgc.requeue_at(key("lost"), view, T0) == T0 + podgc.ORPHAN_QUARANTINE
    assert deleted(podgc.reconcile(key("lost"), view, T0 + timedelta(seconds=41))) == ["lost"]


def test_pod_of_a_live_node_or_unbound_is_left_alone() -> None:
    """Bound to an existing node, or not bound at all: no action, no requeue."""
    view = cache(pod("here"), pod("unbound", node=""))
    late = T0 + timedelta(hours=1)
    for name in ("here", "unbound"):
        assert podgc.reconcile(key(name), view, late) == []
        assert podgc.requeue_at(key(name), view, late) is None


def test_terminating_orphan_is_force_deleted() -> None:
    """A pod already being deleted on a node that vanished is finished off (no kubelet)."""
    view = cache(pod("stuck", node="gone", deleting=True))
    assert deleted(podgc.reconcile(key("stuck"), view, T0 + timedelta(minutes=5))) == ["stuck"]


@given(st.lists(st.sampled_from(["Running", "Succeeded", "Failed", "Pending"]), max_size=30),
       st.integers(min_value=0, max_value=10))
def test_exactly_the_excess_of_terminated_pods_is_deleted(phases: list[str],
                                                          threshold: int) -> None:
    """Whatever the mix, max(0, terminated - threshold) pods go, all of them terminated."""
    pods = [pod(f"p{i:02d}", ph, created=i) for i, ph in enumerate(phases)]
    view = cache(*pods)
    gone = {n for p in pods for n in deleted(
        podgc.reconcile(key(p["metadata"]["name"]), view, T0, threshold=threshold))}
    terminated = [p["metadata"]["name"] for p in pods if podgc.is_terminated(p)]
    expected = set(terminated[:max(0, len(terminated) - threshold)]) if threshold > 0 else set()
    assert gone == expected
