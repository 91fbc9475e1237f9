"""The ReplicaSet / ReplicationController controller's decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from controller_sim import Cluster, pod_template, stamp
from hypothesis import given
from hypothesis import strategies as st

from minikube13.controllers import replicaset
from minikube13.controllers.actions import (
    CreateObject,
    DeleteObject,
    PatchObject,
    RemoveOwnerRefs,
    ReplaceStatus,
)

Object = dict[str, Any]


def _rs(replicas: int = 3, **spec: Any) -> Object:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": pod_template(), **spec}}


def _rc(replicas: int = 2) -> Object:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "legacy", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"app": "web"},
                     "template": pod_template()}}


def _pod(name: str, labels: dict[str, str] | None = None, **status: Any) -> Object:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "labels": labels if labels is not None else {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": status}


def _settle(cluster: Cluster) -> None:
    for _ in range(3):
        cluster.sync_replica_sets()
        cluster.kubelet()


def test_scale_up_creates_pods_from_the_template() -> None:
    """A new ReplicaSet of 3 gets 3 pods named web-*, labelled and owned by it."""
    cluster = Cluster()
    rs = cluster.add("replicasets", _rs(3))
    actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    creates = [a for a in actions if isinstance(a, CreateObject)]
    assert len(creates) == 3
    meta = creates[0].obj["metadata"]
    assert meta["generateName"] == "web-"
    assert meta["labels"] == {"app": "web"}
    assert meta["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
        "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    assert creates[0].obj["spec"]["containers"][0]["name"] == "c"


def test_status_counts_ready_and_available_pods() -> None:
    """`kubectl get rs` shows DESIRED 3, CURRENT 3, READY 3 once the pods are ready."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(3))
    _settle(cluster)
    status = cluster.obj("replicasets", "web")["status"]
    assert status == {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 3,
                      "availableReplicas": 3, "observedGeneration": 1}
    again = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    assert again == []


def test_min_ready_seconds_delays_availability() -> None:
    """With minReadySeconds 10 a ready pod counts as available only 10 seconds later."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(1, minReadySeconds=10))
    _settle(cluster)
    assert cluster.obj("replicasets", "web")["status"].get("availableReplicas", 0) == 0
    cluster.tick(10)
    cluster.sync_replica_sets()
    assert cluster.obj("replicasets", "web")["status"]["availableReplicas"] == 1


def test_scale_down_deletes_the_least_valuable_pods_first() -> None:
    """Scaling down removes unscheduled, then pending, then not-ready pods before ready ones."""
    cluster = Cluster()
    rs = cluster.add("replicasets", _rs(1))
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
              "uid": rs["metadata"]["uid"], "controller": True}]
    ready = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp(cluster.now)}]
    pods = [_pod("ready", phase="Running", conditions=ready),
            _pod("unready", phase="Running"), _pod("pending", phase="Pending"),
            _pod("unscheduled", phase="Pending")]
    for pod in pods:
        pod["metadata"]["ownerReferences"] = owner
        if pod["metadata"]["name"] != "unscheduled":
            pod["spec"]["nodeName"] = "n1"
        cluster.add("pods", pod)
    for expected in (["unscheduled", "pending", "unready"], ["unscheduled", "pending"]):
        cluster.store["replicasets"][("default", "web")]["spec"]["replicas"] = 4 - len(expected)
        actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
        deleted = [a.ref.name for a in actions if isinstance(a, DeleteObject)]
        assert deleted == expected


def test_newer_ready_pods_are_deleted_before_older_ones() -> None:
    """Among equally ready pods, the most recently created goes first."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(2))
    _settle(cluster)
    names = sorted(p["metadata"]["name"] for p in cluster.pods())
    for offset, name in enumerate(names):
        cluster.store["pods"][("default", name)]["metadata"]["creationTimestamp"] = stamp(
            cluster.now + timedelta(seconds=offset))
    cluster.store["replicasets"][("default", "web")]["spec"]["replicas"] = 1
    actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    assert [a.ref.name for a in actions if isinstance(a, DeleteObject)] == [names[-1]]


def test_orphans_are_adopted_and_strays_released() -> None:
    """A bare pod with matching labels is adopted; a relabelled owned pod is let go."""
    cluster = Cluster()
    rs = cluster.add("replicasets", _rs(2))
    cluster.add("pods", _pod("orphan", phase="Running"))
    stray = _pod("stray", labels={"app": "other"}, phase="Running")
    stray["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                             "name": "web", "uid": rs["metadata"]["uid"],
                                             "controller": True}]
    cluster.add("pods", stray)
    cluster.add("pods", _pod("someone-elses", phase="Running") | {"metadata": {
        "name": "someone-elses", "namespace": "default", "labels": {"app": "web"},
        "ownerReferences": [{"uid": "x", "controller": True, "kind": "Job", "name": "j",
                             "apiVersion": "batch/v1"}]}})
    actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    patches = [a for a in actions if isinstance(a, PatchObject)]
    assert [p.ref.name for p in patches] == ["orphan"]
    assert patches[0].patch["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    assert [a.ref.name for a in actions if isinstance(a, RemoveOwnerRefs)] == ["stray"]
    assert len([a for a in actions if isinstance(a, CreateObject)]) == 1


def test_finished_and_terminating_pods_are_replaced() -> None:
    """Succeeded, Failed or terminating pods do not count; new ones are made in their place."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(3))
    cluster.add("pods", _pod("done", phase="Succeeded"))
    cluster.add("pods", _pod("broken", phase="Failed"))
    leaving = _pod("leaving", phase="Running")
    leaving["metadata"]["deletionTimestamp"] = stamp(cluster.now)
    cluster.add("pods", leaving)
    actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    assert len([a for a in actions if isinstance(a, CreateObject)]) == 3
    status = next(a for a in actions if isinstance(a, ReplaceStatus)).status
    assert status["replicas"] == 0


def test_replication_controller_uses_a_map_selector() -> None:
    """A v1 ReplicationController keeps its pods too, owning them as ReplicationController."""
    cluster = Cluster()
    cluster.add("replicationcontrollers", _rc(2))
    _settle(cluster)
    pods = cluster.pods()
    assert len(pods) == 2
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    assert pods[0]["metadata"]["name"].startswith("legacy-")
    assert cluster.obj("replicationcontrollers", "legacy")["status"]["readyReplicas"] == 2


def test_objects_being_deleted_are_left_alone() -> None:
    """A ReplicaSet being deleted makes no new pods."""
    cluster = Cluster()
    rs = _rs(3)
    rs["metadata"]["deletionTimestamp"] = stamp(cluster.now)
    cluster.add("replicasets", rs)
    assert replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now) == []


def test_creates_are_bounded_by_the_burst() -> None:
    """A ReplicaSet of 600 gets at most 500 pods per reconcile."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(600))
    actions = replicaset.reconcile(cluster.ref("replicasets", "web"), cluster, cluster.now)
    assert len([a for a in actions if isinstance(a, CreateObject)]) == replicaset.BURST


@given(st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=6))
def test_replica_count_converges_to_any_target(targets: list[int]) -> None:
    """Whatever the sequence of scales, the pod count ends at the last target."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(0))
    for target in targets:
        cluster.store["replicasets"][("default", "web")]["spec"]["replicas"] = target
        cluster.tick(timedelta(seconds=1).total_seconds())
        _settle(cluster)
        assert len(cluster.pods()) == target
        assert cluster.obj("replicasets", "web")["status"]["replicas"] == target


def test_requeue_at_tells_when_a_pod_becomes_available() -> None:
    """The runner learns to look again when minReadySeconds runs out, and not before."""
    cluster = Cluster()
    cluster.add("replicasets", _rs(1, minReadySeconds=10))
    ref = cluster.ref("replicasets", "web")
    assert replicaset.requeue_at(ref, cluster, cluster.now) is None
    _settle(cluster)
    when = replicaset.requeue_at(ref, cluster, cluster.now)
    assert when is not None and when == cluster.now + timedelta(seconds=10)
    cluster.now = when
    cluster.sync_replica_sets()
    assert replicaset.requeue_at(ref, cluster, cluster.now) is None
