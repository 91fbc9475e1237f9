"""Which controllers run and which keys a change concerns: a pod wakes its controller (or
every matching one when orphaned), a ReplicaSet its Deployment, a Job its CronJob, a Lease
or a pod its Node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.controllers import _seconds_after, all_controllers
from minikube13.controllers.actions import ObjectRef
from minikube13.controllers.mapping import (
    node_related,
    owned_by,
    pod_to_deployment,
    selector_matches,
)
from minikube13.controllers.object_cache import ObjectCache
from minikube13.controllers.runner import Controller

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def obj(name: str, labels: dict[str, str] | None = None, owner: tuple[str, str, str] | None = None,
        spec: dict[str, Any] | None = None, namespace: str = "ns") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"u-{name}",
                            "labels": labels or {}}
    if owner is not None:
        api, kind, owner_name = owner
        meta["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": owner_name,
                                    "uid": f"u-{owner_name}", "controller": True}]
    return {"metadata": meta, "spec": spec or {}}


def cache_of(*items: tuple[str, dict[str, Any]]) -> ObjectCache:
    cache = ObjectCache()
    for storage, item in items:
        cache.put(storage, item)
    return cache


RS_A = obj("a", spec={"selector": {"matchLabels": {"app": "web"}}})
RS_B = obj("b", spec={"selector": {"matchLabels": {"app": "db"}}})
RC = obj("rc", spec={"selector": {"app": "web"}})


def test_owned_pod_wakes_its_controller_only() -> None:
    """A pod with a controller reference concerns that ReplicaSet, whatever its labels."""
    pods_to_rs = owned_by("replicasets", "pods")
    pod = obj("p", {"app": "db"}, ("apps/v1", "ReplicaSet", "a"))
    assert pods_to_rs("pods", pod, False, cache_of(("replicasets", RS_A),
                                                   ("replicasets", RS_B))) == [
        ObjectRef("replicasets", "ns", "a")]


def test_orphan_pod_wakes_every_matching_controller() -> None:
    """An orphan pod concerns the ReplicaSets and RCs of its namespace that select it."""
    cache = cache_of(("replicasets", RS_A), ("replicasets", RS_B),
                     ("replicationcontrollers", RC),
                     ("replicasets", obj("other-ns", namespace="x",
                                         spec={"selector": {"matchLabels": {"app": "web"}}})))
    pod = obj("p", {"app": "web"})
    assert owned_by("replicasets", "pods")("pods", pod, False, cache) == [
        ObjectRef("replicasets", "ns", "a")]
    assert owned_by("replicationcontrollers", "pods")("pods", pod, False, cache) == [
        ObjectRef("replicationcontrollers", "ns", "rc")]
    assert owned_by("replicasets", "pods")("configmaps", pod, False, cache) == []


def test_pod_owned_by_another_kind_wakes_nothing() -> None:
    """A Job's pod does not concern any ReplicaSet."""
    pod = obj("p", {"app": "web"}, ("batch/v1", "Job", "j"))
    assert owned_by("replicasets", "pods")("pods", pod, False, cache_of(
        ("replicasets", RS_A))) == []
    assert owned_by("jobs", "pods")("pods", pod, False, ObjectCache()) == [
        ObjectRef("jobs", "ns", "j")]


def test_empty_or_nil_selectors_select_nothing() -> None:
    """A nil or empty selector adopts no orphans (kube refuses such selectors anyway)."""
    assert not selector_matches("replicasets", obj("x"), {"app": "web"})
    assert not selector_matches("replicasets", obj("x", spec={"selector": {}}), {"a": "b"})
    rc = obj("rc", spec={"template": {"metadata": {"labels": {"app": "web"}}}})
    assert selector_matches("replicationcontrollers", rc, {"app": "web"})


def test_replicaset_wakes_its_deployment_and_job_its_cronjob() -> None:
    """An RS concerns its Deployment, a Job its CronJob, a pod its RS's Deployment."""
    rs = obj("rs", {"app": "web"}, ("apps/v1", "Deployment", "d"))
    assert owned_by("deployments", "replicasets")("replicasets", rs, False, ObjectCache()) == [
        ObjectRef("deployments", "ns", "d")]
    job = obj("j", owner=("batch/v1", "CronJob", "cj"))
    assert owned_by("cronjobs", "jobs")("jobs", job, False, ObjectCache()) == [
        ObjectRef("cronjobs", "ns", "cj")]
    pod = obj("p", owner=("apps/v1", "ReplicaSet", "rs"))
    assert pod_to_deployment("pods", pod, False, cache_of(("replicasets", rs))) == [
        ObjectRef("deployments", "ns", "d")]
    assert pod_to_deployment("pods", pod, False, ObjectCache()) == []


def test_lease_and_pods_wake_their_node() -> None:
    """A node's Lease and the pods bound to it concern the node."""
    lease = obj("n1", namespace="kube-node-lease")
    assert node_related("leases", lease, False, ObjectCache()) == [ObjectRef("nodes", "", "n1")]
    assert node_related("leases", obj("n1", namespace="other"), False, ObjectCache()) == []
    pod = obj("p", spec={"nodeName": "n2"})
    assert node_related("pods", pod, False, ObjectCache()) == [ObjectRef("nodes", "", "n2")]
    assert node_related("pods", obj("q"), False, ObjectCache()) == []


def test_own_changes_and_related_changes_both_queue() -> None:
    """A Controller queues its own objects' keys plus what `related` adds."""
    controller = Controller("rs", "replicasets", lambda k, v, n: [],
                            related=owned_by("replicasets", "pods"))
    cache = cache_of(("replicasets", RS_A))
    assert list(controller.keys_for("replicasets", RS_B, False, cache)) == [
        ObjectRef("replicasets", "ns", "b")]
    assert list(controller.keys_for("pods", obj("p", {"app": "web"}), False, cache)) == [
        ObjectRef("replicasets", "ns", "a")]


def test_every_controller_is_registered() -> None:
    """The garbage collectors, namespaces, nodes and every workload controller run."""
    names = [c.name for c in all_controllers()]
    assert names == ["garbage-collector", "namespace", "node-lifecycle", "node-ipam",
                     "pod-garbage-collector", "endpoints", "replicaset", "replicationcontroller",
                     "deployment", "job", "cronjob"]


def test_requeue_hooks_in_either_shape() -> None:
    """Requeue hooks on (object, now) or (key, view, now), giving a timedelta, datetime or
    seconds, all become seconds."""
    key = ObjectRef("jobs", "ns", "j")
    cache = cache_of(("jobs", obj("j")))

    def on_object(job: dict[str, Any], now: datetime) -> timedelta:
        return timedelta(seconds=7)

    def on_key(k: ObjectRef, view: Any, now: datetime) -> datetime:
        return now + timedelta(seconds=3)

    by_object, by_key = _seconds_after(on_object), _seconds_after(on_key)
    assert by_object is not None and by_key is not None
    assert by_object(key, cache, NOW) == 7.0
    assert by_object(ObjectRef("jobs", "ns", "gone"), cache, NOW) is None
    assert by_key(key, cache, NOW) == 3.0
    assert _seconds_after(None) is None
