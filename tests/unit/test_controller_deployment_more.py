"""The Deployment controller: Recreate, pause, history, rollback and undo, adoption."""

from __future__ import annotations

from typing import Any

from controller_sim import Cluster, new_deployment
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_controller_deployment import (
    images,
    replica_sets,
    rollout_status,
    set_image,
    settle,
    started,
    step,
)

from minikube13.controllers import deployment
from minikube13.controllers import deployment_replicasets as rsets
from minikube13.controllers.actions import DeleteObject, ReplaceObject
from minikube13.model.groups.apps import ROLLBACK_TO_ANNOTATION

Object = dict[str, Any]


def revisions(cluster: Cluster) -> dict[str, str]:
    """What `kubectl rollout history` lists: revision -> image."""
    return {rs["metadata"]["annotations"][rsets.REVISION]:
            rs["spec"]["template"]["spec"]["containers"][0]["image"]
            for rs in replica_sets(cluster).values()}


def update(cluster: Cluster, change: Any, name: str = "web") -> None:
    d = cluster.obj("deployments", name)
    change(d)
    cluster.put(cluster.ref("deployments", name), d)


def test_settled_deployment_reconciles_to_nothing() -> None:
    """Once rolled out, another reconcile writes nothing."""
    cluster = started(3)
    assert deployment.reconcile(cluster.ref("deployments", "web"), cluster, cluster.now) == []


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    """With strategy Recreate, old and new pods never run at the same time."""
    cluster = started(3, strategy={"type": "Recreate"})
    set_image(cluster, "nginx:2")
    for _ in range(10):
        step(cluster)
        assert images(cluster) in ([], ["nginx:1"] * 3, ["nginx:2"] * 3)
    cluster.sync_deployment("web")
    assert images(cluster) == ["nginx:2"] * 3
    assert rollout_status(cluster) == "successfully rolled out"


def test_recreate_waits_for_terminating_pods() -> None:
    """A Recreate rollout does not start the new ReplicaSet while an old pod is still there."""
    cluster = started(1, strategy={"type": "Recreate"})
    set_image(cluster, "nginx:2")
    cluster.sync_deployment("web")
    old_pod = cluster.pods()[0]
    cluster.store["pods"][("default", old_pod["metadata"]["name"])]["metadata"][
        "deletionTimestamp"] = "2026-01-01T00:00:00Z"
    cluster.sync_replica_sets()
    cluster.sync_deployment("web")
    assert len(replica_sets(cluster)) == 1
    cluster.store["pods"].clear()
    settle(cluster, rounds=5)
    assert images(cluster) == ["nginx:2"]


def test_paused_deployment_does_not_roll_out_but_scales() -> None:
    """`kubectl rollout pause` holds a new image back; `kubectl scale` still applies."""
    cluster = started(2)
    update(cluster, lambda d: d["spec"].update(paused=True))
    set_image(cluster, "nginx:2")
    update(cluster, lambda d: d["spec"].update(replicas=3))
    settle(cluster, rounds=5)
    assert images(cluster) == ["nginx:1"] * 3
    progressing = next(c for c in cluster.obj("deployments", "web")["status"]["conditions"]
                       if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    update(cluster, lambda d: d["spec"].update(paused=False))
    settle(cluster)
    assert images(cluster) == ["nginx:2"] * 3
    assert rollout_status(cluster) == "successfully rolled out"


def test_revision_history_limit_deletes_the_oldest_sets() -> None:
    """With revisionHistoryLimit 1 only the current and one old ReplicaSet remain."""
    cluster = started(1, revisionHistoryLimit=1)
    for image in ("nginx:2", "nginx:3", "nginx:4"):
        set_image(cluster, image)
        settle(cluster, rounds=8)
    assert revisions(cluster) == {"3": "nginx:3", "4": "nginx:4"}


def test_rollback_annotation_restores_an_old_template() -> None:
    """extensions/v1beta1 rollbackTo revision 1 brings nginx:1 back as revision 3."""
    cluster = started(2)
    set_image(cluster, "nginx:2")
    settle(cluster)
    update(cluster, lambda d: d["metadata"].setdefault("annotations", {}).update(
        {ROLLBACK_TO_ANNOTATION: "1"}))
    actions = cluster.sync_deployment("web")
    assert [a for a in actions if isinstance(a, ReplaceObject)]
    d = cluster.obj("deployments", "web")
    assert ROLLBACK_TO_ANNOTATION not in d["metadata"]["annotations"]
    assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]
    assert any(e.reason == "DeploymentRollback" for e in cluster.events)
    settle(cluster)
    assert images(cluster) == ["nginx:1"] * 2
    assert revisions(cluster) == {"3": "nginx:1", "2": "nginx:2"}
    rs = next(r for r in replica_sets(cluster).values()
              if r["metadata"]["annotations"][rsets.REVISION] == "3")
    assert rs["metadata"]["annotations"][rsets.REVISION_HISTORY] == "1"


def test_rollback_to_zero_means_the_previous_revision() -> None:
    """rollbackTo revision 0 goes back one revision; an unknown revision is only cleared."""
    cluster = started(1)
    set_image(cluster, "nginx:2")
    settle(cluster)
    update(cluster, lambda d: d["metadata"].setdefault("annotations", {}).update(
        {ROLLBACK_TO_ANNOTATION: "9"}))
    cluster.sync_deployment("web")
    assert any(e.reason == "DeploymentRollbackRevisionNotFound" for e in cluster.events)
    update(cluster, lambda d: d["metadata"]["annotations"].update(
        {ROLLBACK_TO_ANNOTATION: "0"}))
    settle(cluster)
    assert images(cluster) == ["nginx:1"]


def test_kubectl_rollout_undo_reuses_the_old_replica_set() -> None:
    """`kubectl rollout undo` (copying revision 1's template) makes that set revision 3."""
    cluster = started(2)
    set_image(cluster, "nginx:2")
    settle(cluster)
    first = next(r for r in replica_sets(cluster).values()
                 if r["metadata"]["annotations"][rsets.REVISION] == "1")
    update(cluster, lambda d: d["spec"].update(
        template=rsets.without_hash(first["spec"]["template"])))
    settle(cluster)
    assert len(replica_sets(cluster)) == 2
    assert revisions(cluster) == {"3": "nginx:1", "2": "nginx:2"}
    assert cluster.obj("deployments", "web")["metadata"]["annotations"][rsets.REVISION] == "3"


def test_change_cause_is_copied_for_rollout_history() -> None:
    """A kubernetes.io/change-cause annotation shows up on the revision's ReplicaSet."""
    cluster = Cluster()
    d = new_deployment(replicas=1)
    d["metadata"]["annotations"] = {rsets.CHANGE_CAUSE: "kubectl create deployment web"}
    cluster.add("deployments", d)
    settle(cluster, rounds=3)
    (rs,) = replica_sets(cluster).values()
    assert rs["metadata"]["annotations"][rsets.CHANGE_CAUSE] == "kubectl create deployment web"


def test_orphan_replica_set_is_adopted() -> None:
    """A matching ReplicaSet without an owner is adopted instead of duplicated."""
    cluster = started(2)
    (rs,) = replica_sets(cluster).values()
    cluster.store["replicasets"][("default", rs["metadata"]["name"])]["metadata"][
        "ownerReferences"] = []
    settle(cluster, rounds=3)
    (again,) = replica_sets(cluster).values()
    assert again["metadata"]["ownerReferences"][0]["kind"] == "Deployment"


def test_deleting_deployment_is_ignored() -> None:
    """A Deployment being deleted is left to the garbage collector."""
    cluster = started(1)
    cluster.store["deployments"][("default", "web")]["metadata"]["deletionTimestamp"] = "x"
    actions = deployment.reconcile(cluster.ref("deployments", "web"), cluster, cluster.now)
    assert not [a for a in actions if isinstance(a, DeleteObject)] and actions == []


_OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("image"), st.sampled_from(["nginx:1", "nginx:2", "nginx:3"])),
    st.tuples(st.just("scale"), st.integers(0, 6)),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("step"), st.booleans()),
), max_size=12)


@settings(max_examples=30, deadline=None)
@given(ops=_OPERATIONS, recreate=st.booleans())
# Scaled while a new set is not ready: the sets' size annotations must follow, or it stalls.
@example(ops=[("image", "nginx:2"), ("step", False), ("scale", 3)], recreate=False)
def test_any_history_of_edits_converges(ops: list[tuple[str, Any]], recreate: bool) -> None:
    """Whatever mix of set image, scale, pause and resume, the Deployment ends rolled out."""
    strategy = {"type": "Recreate"} if recreate else {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    cluster = started(2, strategy=strategy)
    for op, arg in ops:
        if op == "image":
            set_image(cluster, arg)
        elif op == "scale":
            update(cluster, lambda d, n=arg: d["spec"].update(replicas=n))
        elif op == "pause":
            update(cluster, lambda d, p=arg: d["spec"].update(paused=p))
        else:
            step(cluster, ready=arg)
    update(cluster, lambda d: d["spec"].update(paused=False))
    settle(cluster, rounds=40)
    d = cluster.obj("deployments", "web")
    image = d["spec"]["template"]["spec"]["containers"][0]["image"]
    assert images(cluster) == [image] * d["spec"]["replicas"]
    assert rollout_status(cluster) == "successfully rolled out"
    assert deployment.reconcile(cluster.ref("deployments", "web"), cluster, cluster.now) == []
