"""The Deployment controller's decisions: rollouts step by step, as kubectl shows them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from controller_sim import Cluster, new_deployment, pod_template
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube13.controllers import deployment
from minikube13.controllers import deployment_replicasets as rsets
from minikube13.controllers import deployment_rollout as roll

Object = dict[str, Any]


def rollout_status(cluster: Cluster, name: str = "web") -> str:
    """What `kubectl rollout status deployment/web` (1.32) prints for the stored object."""
    d = cluster.obj("deployments", name)
    status = d.get("status") or {}
    if d["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed..."
    progressing: Object = next((c for c in status.get("conditions", [])
                        if c["type"] == "Progressing"), {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return "exceeded its progress deadline"
    replicas = d["spec"]["replicas"]
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return f"{updated} out of {replicas} new replicas have been updated..."
    if status.get("replicas", 0) > updated:
        return f"{status['replicas'] - updated} old replicas are pending termination..."
    if status.get("availableReplicas", 0) < updated:
        return f"{status.get('availableReplicas', 0)} of {updated} updated replicas are available..."
    return "successfully rolled out"


def step(cluster: Cluster, name: str = "web", ready: bool = True) -> None:
    """One round: the deployment controller, the ReplicaSet controller, the kubelet, a second
    passes, and the ReplicaSets report their pods."""
    cluster.sync_deployment(name)
    cluster.sync_replica_sets()
    cluster.kubelet(lambda pod: ready)
    cluster.tick()
    cluster.sync_replica_sets()


def settle(cluster: Cluster, rounds: int = 30, name: str = "web") -> None:
    for _ in range(rounds):
        step(cluster, name)
    cluster.sync_deployment(name)


def images(cluster: Cluster) -> list[str]:
    return sorted(p["spec"]["containers"][0]["image"] for p in cluster.pods())


def replica_sets(cluster: Cluster) -> dict[str, Object]:
    return {rs["metadata"]["name"]: rs for rs in cluster.objects("replicasets")}


def set_image(cluster: Cluster, image: str, name: str = "web") -> None:
    """Like `kubectl set image`: change the template (the generation goes up)."""
    d = cluster.obj("deployments", name)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.put(cluster.ref("deployments", name), d)


def started(replicas: int = 4, **spec: Any) -> Cluster:
    cluster = Cluster()
    cluster.add("deployments", new_deployment(replicas=replicas, **spec))
    settle(cluster)
    return cluster


def test_new_deployment_creates_a_hashed_replica_set() -> None:
    """`kubectl create deployment` leads to ReplicaSet web-<hash> with revision 1 and 4 pods."""
    cluster = started()
    (name, rs), = replica_sets(cluster).items()
    pod_hash = rsets.template_hash(pod_template())
    assert name == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert rs["metadata"]["annotations"][rsets.REVISION] == "1"
    assert rs["metadata"]["annotations"][rsets.DESIRED_REPLICAS] == "4"
    assert rs["metadata"]["annotations"][rsets.MAX_REPLICAS] == "5"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    d = cluster.obj("deployments", "web")
    assert d["metadata"]["annotations"][rsets.REVISION] == "1"
    assert d["status"]["availableReplicas"] == 4
    assert rollout_status(cluster) == "successfully rolled out"
    assert any(e.reason == "ScalingReplicaSet" and "from 0 to" in e.message
               for e in cluster.events)


def test_template_hash_is_stable_and_sensitive() -> None:
    """The same template always gives the same ReplicaSet name; a new image a new one."""
    assert rsets.template_hash(pod_template()) == rsets.template_hash(pod_template())
    assert rsets.template_hash(pod_template()) != rsets.template_hash(pod_template("nginx:2"))
    assert set(rsets.template_hash(pod_template())) <= set("bcdfghjklmnpqrstvwxz2456789")


@pytest.mark.parametrize(("surge", "unavailable", "replicas", "expected"), [
    ("25%", "25%", 4, (1, 1)), ("25%", "25%", 10, (3, 2)), (0, 0, 3, (0, 1)),
    ("50%", 0, 3, (2, 0)), (2, "100%", 3, (2, 3)),
])
def test_fenceposts_round_like_kube(surge: Any, unavailable: Any, replicas: int,
                                    expected: tuple[int, int]) -> None:
    """maxSurge rounds up, maxUnavailable down, and both zero means one unavailable."""
    d = new_deployment(replicas=replicas, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge,
                                                   "maxUnavailable": unavailable}})
    assert roll.fenceposts(d) == expected


@settings(max_examples=15, deadline=None)
@given(replicas=st.integers(1, 6), surge=st.sampled_from([0, 1, 2, "25%", "50%"]),
       unavailable=st.sampled_from([0, 1, "25%", "50%"]))
def test_rolling_update_keeps_within_surge_and_availability(
        replicas: int, surge: Any, unavailable: Any) -> None:
    """`kubectl set image` rolls every pod over while never exceeding replicas+maxSurge pods
    nor dropping below replicas-maxUnavailable available ones."""
    strategy = {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    cluster = started(replicas, strategy=strategy)
    max_surge, max_unavailable = roll.fenceposts(cluster.obj("deployments", "web"))
    set_image(cluster, "nginx:2")
    for _ in range(40):
        cluster.sync_deployment("web")
        cluster.sync_replica_sets()
        assert len(cluster.pods()) <= replicas + max_surge
        ready = [p for p in cluster.pods() if p.get("status", {}).get("conditions")]
        assert len(ready) >= replicas - max_unavailable
        cluster.kubelet()
        cluster.tick()
        cluster.sync_replica_sets()
    cluster.sync_deployment("web")
    assert images(cluster) == ["nginx:2"] * replicas
    assert rollout_status(cluster) == "successfully rolled out"


def test_rollout_status_messages_follow_the_rollout() -> None:
    """`kubectl rollout status` reports updated, pending-termination, available, then done."""
    cluster = started(4)
    set_image(cluster, "nginx:2")
    seen = [rollout_status(cluster)]
    for _ in range(20):
        step(cluster)
        cluster.sync_deployment("web")
        if rollout_status(cluster) != seen[-1]:
            seen.append(rollout_status(cluster))
    assert seen[0] == "Waiting for deployment spec update to be observed..."
    assert any("new replicas have been updated" in s for s in seen)
    assert seen[-1] == "successfully rolled out"
    d = cluster.obj("deployments", "web")
    assert d["metadata"]["annotations"][rsets.REVISION] == "2"
    conditions = {c["type"]: c for c in d["status"]["conditions"]}
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conditions["Progressing"]["message"].endswith("has successfully progressed.")
    old = [rs for rs in replica_sets(cluster).values()
           if rs["metadata"]["annotations"][rsets.REVISION] == "1"]
    assert old[0]["spec"]["replicas"] == 0


def test_progress_deadline_exceeded_when_pods_never_become_ready() -> None:
    """A rollout whose pods never get ready ends with ProgressDeadlineExceeded."""
    cluster = started(2, progressDeadlineSeconds=30)
    set_image(cluster, "broken:1")
    reasons = []
    for _ in range(5):
        step(cluster, ready=False)
        cluster.tick(10)
        cluster.sync_deployment("web")
        d = cluster.obj("deployments", "web")
        reasons.append(next(c for c in d["status"]["conditions"]
                            if c["type"] == "Progressing")["reason"])
    assert reasons[0] in ("NewReplicaSetCreated", "ReplicaSetUpdated")
    assert reasons[-1] == "ProgressDeadlineExceeded"
    assert rollout_status(cluster) == "exceeded its progress deadline"


def test_scale_changes_only_the_replica_count() -> None:
    """`kubectl scale --replicas=6` adds pods to the current ReplicaSet, no new revision."""
    cluster = started(4)
    d = cluster.obj("deployments", "web")
    d["spec"]["replicas"] = 6
    cluster.put(cluster.ref("deployments", "web"), d)
    settle(cluster)
    (rs,) = replica_sets(cluster).values()
    assert rs["spec"]["replicas"] == 6
    assert rs["metadata"]["annotations"][rsets.REVISION] == "1"
    assert rs["metadata"]["annotations"][rsets.DESIRED_REPLICAS] == "6"
    assert len(cluster.pods()) == 6


def test_requeue_at_is_the_progress_deadline() -> None:
    """The runner looks at a stuck rollout again when its progress deadline passes."""
    cluster = started(2, progressDeadlineSeconds=30)
    ref = cluster.ref("deployments", "web")
    assert deployment.requeue_at(ref, cluster, cluster.now) is None
    set_image(cluster, "broken:1")
    step(cluster, ready=False)
    when = deployment.requeue_at(ref, cluster, cluster.now)
    assert when is not None and cluster.now < when <= cluster.now + timedelta(seconds=31)


def test_scaling_during_a_rollout_spreads_over_both_sets() -> None:
    """`kubectl scale` in the middle of a rollout grows both ReplicaSets, then finishes."""
    cluster = started(4)
    set_image(cluster, "nginx:2")
    step(cluster)
    d = cluster.obj("deployments", "web")
    d["spec"]["replicas"] = 8
    cluster.put(cluster.ref("deployments", "web"), d)
    cluster.sync_deployment("web")
    sizes = sorted(rs["spec"]["replicas"] for rs in replica_sets(cluster).values())
    assert sum(sizes) == 8 + 2 and all(sizes)
    settle(cluster)
    assert images(cluster) == ["nginx:2"] * 8
    assert rollout_status(cluster) == "successfully rolled out"
