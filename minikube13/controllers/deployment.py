"""The Deployment controller's decisions (pure), after kube's deployment controller.

One reconcile of a Deployment (storage "deployments", apps/v1): claim its ReplicaSets, then
in kube's order — paused (only scaling and history cleanup), a v1beta1 rollback
(`deprecated.deployment.rollback.to`: copy that revision's template, clear the annotation),
a scaling event (proportional scaling), else one step of the RollingUpdate or Recreate
rollout. ReplicaSets are changed in memory (deployment_rollout.Plan) and emitted as creates
and replaces at the end, with the `deployment.kubernetes.io/*` annotations and the status
(deployment_status) that `kubectl rollout status|history|undo` read.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.controllers import deployment_replicasets as rsets
from minikube13.controllers import deployment_rollout as roll
from minikube13.controllers import deployment_status as dstatus
from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
    ReplaceObject,
    ReplaceStatus,
    View,
    ref_of,
)
from minikube13.controllers.replicaset import being_deleted, controller_uid, meta, spec
from minikube13.model.groups.apps import ROLLBACK_TO_ANNOTATION

Object = dict[str, Any]
SOURCE = "deployment-controller"


class _Sync:
    """The state of one reconcile: the Deployment, its ReplicaSets and what to do."""

    def __init__(self, deployment: Object, rss: list[Object], now: datetime):
        self.deployment = deployment
        self.me = ref_of("deployments", deployment)
        self.now = now
        self.originals = {meta(rs).get("uid", ""): rs for rs in rss}
        found = rsets.find_new(deployment, rss)
        self.plan = roll.Plan(int(spec(deployment).get("replicas", 1)),
                              copy.deepcopy(found) if found is not None else None,
                              [copy.deepcopy(rs) for rs in rss if rs is not found])
        self.creating = False
        self.conditions: list[Object] = list((deployment.get("status") or {}).get(
            "conditions") or [])
        self.actions: list[Action] = []
        self.surge, self.unavailable = roll.fenceposts(deployment)

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.actions.append(RecordEvent(self.me, "Deployment", type_, reason, message, SOURCE))

    def progressing(self, reason: str, message: str) -> None:
        self.conditions = dstatus.set_condition(self.conditions, dstatus.condition(
            dstatus.PROGRESSING, "True", reason, message, self.now))


def reconcile(key: ObjectRef, view: View, now: datetime) -> list[Action]:
    """The actions for the Deployment at `key` right now."""
    deployment = view.get(key.key)
    if deployment is None or being_deleted(deployment):
        return []
    claim_actions: list[Action] = []
    rss = rsets.claim(deployment, view, claim_actions)
    sync = _Sync(deployment, rss, now)
    sync.actions.extend(claim_actions)
    _paused_conditions(sync)
    rollback = (meta(deployment).get("annotations") or {}).get(ROLLBACK_TO_ANNOTATION)
    if spec(deployment).get("paused"):
        _scale_only(sync, cleanup=rollback is None)
    elif rollback is not None:
        _rollback(sync, rss, rollback)
        return sync.actions
    elif roll.is_scaling_event(sync.plan, rsets.DESIRED_REPLICAS):
        _scale_only(sync, cleanup=False)
    elif (spec(deployment).get("strategy") or {}).get("type") == "Recreate":
        _recreate(sync, view)
    else:
        _rolling(sync)
    return _finish(sync)


def requeue_at(key: ObjectRef, view: View, now: datetime) -> datetime | None:
    """When `reconcile` should run again without any watch event: the progress deadline."""
    deployment = view.get(key.key)
    if deployment is None or being_deleted(deployment):
        return None
    return dstatus.deadline(deployment)


def _paused_conditions(sync: _Sync) -> None:
    current = dstatus.get_condition({"conditions": sync.conditions}, dstatus.PROGRESSING)
    reason = (current or {}).get("reason")
    paused = bool(spec(sync.deployment).get("paused"))
    if paused and reason != dstatus.PAUSED:
        new = dstatus.condition(dstatus.PROGRESSING, "Unknown", dstatus.PAUSED,
                                "Deployment is paused", sync.now)
    elif not paused and reason == dstatus.PAUSED:
        new = dstatus.condition(dstatus.PROGRESSING, "Unknown", dstatus.RESUMED,
                                "Deployment is resumed", sync.now)
    else:
        return
    sync.conditions = dstatus.set_condition(sync.conditions, new)


def _scale_only(sync: _Sync, cleanup: bool) -> None:
    """kube's `sync`: no rollout, only a change of spec.replicas spread over the sets."""
    if sync.plan.new is not None:
        _sync_new(sync)
    rolling = (spec(sync.deployment).get("strategy") or {}).get("type") != "Recreate"
    roll.proportional_scale(sync.plan, sync.surge, rolling)
    if cleanup:
        _cleanup(sync)


def _ensure_new(sync: _Sync) -> None:
    """Find or create the ReplicaSet for the current template (kube's getNewReplicaSet)."""
    if sync.plan.new is not None:
        _sync_new(sync)
        return
    revision = max((rsets.revision(rs) for rs in sync.plan.old), default=0) + 1
    if (spec(sync.deployment).get("strategy") or {}).get("type") == "Recreate":
        replicas = sync.plan.replicas
    else:
        replicas = roll.new_rs_replicas(sync.plan, sync.surge)
    rs = rsets.new_replica_set(sync.deployment, replicas, sync.plan.replicas + sync.surge,
                               revision)
    sync.plan.new = rs
    sync.creating = True
    name = meta(rs)["name"]
    sync.progressing(dstatus.NEW_RS_CREATED, f'Created new replica set "{name}"')


def _sync_new(sync: _Sync) -> None:
    new = sync.plan.new
    assert new is not None
    revision = max((rsets.revision(rs) for rs in sync.plan.old), default=0) + 1
    rsets.update_new_annotations(sync.deployment, new, max(revision, rsets.revision(new)))
    if dstatus.get_condition({"conditions": sync.conditions}, dstatus.PROGRESSING) is None:
        sync.progressing(dstatus.FOUND_NEW_RS, f'Found new replica set "{meta(new)["name"]}"')


def _rolling(sync: _Sync) -> None:
    _ensure_new(sync)
    roll.scale_new_rolling(sync.plan, sync.surge)
    roll.scale_old_rolling(sync.plan, sync.unavailable)
    if _complete_now(sync):
        _cleanup(sync)


def _recreate(sync: _Sync, view: View) -> None:
    """Scale every old set to zero, wait for their pods to go, then bring up the new one."""
    if sync.plan.new is not None:
        _sync_new(sync)
    if any(roll.replicas_of(rs) > 0 for rs in sync.plan.old):
        for rs in sync.plan.old:
            roll.set_replicas(rs, 0)
        return
    if _old_pods_running(sync, view):
        return
    _ensure_new(sync)
    assert sync.plan.new is not None
    roll.set_replicas(sync.plan.new, sync.plan.replicas)
    if _complete_now(sync):
        _cleanup(sync)


def _old_pods_running(sync: _Sync, view: View) -> bool:
    old_uids = {meta(rs).get("uid") for rs in sync.plan.old}
    if any(int((rs.get("status") or {}).get("replicas", 0) or 0) for rs in sync.plan.old):
        return True
    return any(controller_uid(pod) in old_uids
               and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
               for pod in view.objects("pods", sync.me.namespace))


def _complete_now(sync: _Sync) -> bool:
    status = dstatus.counts(sync.deployment, sync.plan)
    return dstatus.complete(sync.deployment, status)


def _cleanup(sync: _Sync) -> None:
    """Delete the oldest fully scaled-down sets beyond spec.revisionHistoryLimit."""
    limit = spec(sync.deployment).get("revisionHistoryLimit")
    if limit is None:
        return
    candidates = [rs for rs in sync.plan.old if _drained(sync, rs)]
    extra = len(candidates) - int(limit)
    for rs in sorted(candidates, key=rsets.revision)[:max(extra, 0)]:
        sync.actions.append(DeleteObject(rsets.ref_of(rs), "Background"))


def _drained(sync: _Sync, rs: Object) -> bool:
    original = sync.originals.get(meta(rs).get("uid", ""), rs)
    status = original.get("status") or {}
    return (roll.replicas_of(original) == 0 and not status.get("replicas")
            and int(meta(original).get("generation", 0) or 0)
            <= int(status.get("observedGeneration", 0) or 0) and not being_deleted(original))


def _rollback(sync: _Sync, rss: list[Object], text: str) -> None:
    """Roll the template back to a revision's and clear the annotation (kube's rollback)."""
    deployment = copy.deepcopy(sync.deployment)
    annotations = dict(meta(deployment).get("annotations") or {})
    annotations.pop(ROLLBACK_TO_ANNOTATION, None)
    target = rsets.rollback_target(rss, int(text) if text.isdigit() else 0)
    if target is None:
        sync.event("DeploymentRollbackRevisionNotFound",
                   "Unable to find the revision to rollback to.", "Warning")
    else:
        template = rsets.without_hash(spec(target).get("template") or {})
        if template == rsets.without_hash(spec(deployment).get("template") or {}):
            sync.event("DeploymentRollbackTemplateUnchanged",
                       f"The rollback revision contains the same template as current "
                       f"deployment \"{sync.me.name}\"", "Warning")
        else:
            deployment["spec"]["template"] = template
            kept = {k: v for k, v in annotations.items() if k in rsets.SKIPPED_ANNOTATIONS}
            annotations = {**kept, **rsets.copied_annotations(target)}
            sync.event("DeploymentRollback", f"Rolled back deployment \"{sync.me.name}\" "
                       f"to revision {rsets.revision(target)}")
    deployment["metadata"]["annotations"] = annotations
    sync.actions.append(ReplaceObject(sync.me, deployment))


def _finish(sync: _Sync) -> list[Action]:
    """Turn the planned ReplicaSets into actions, then the Deployment's revision and status."""
    for rs in sync.plan.all:
        _emit_replica_set(sync, rs)
    new = sync.plan.new
    if new is not None and rsets.revision(new) != rsets.revision(sync.deployment):
        patch = {"metadata": {"annotations": {rsets.REVISION: str(rsets.revision(new))}}}
        sync.actions.append(PatchObject(sync.me, patch))
    status = dstatus.compute(sync.deployment, sync.plan, sync.conditions, sync.now)
    if status != (sync.deployment.get("status") or {}):
        sync.actions.append(ReplaceStatus(sync.me, status))
    return sync.actions


def _emit_replica_set(sync: _Sync, rs: Object) -> None:
    original = sync.originals.get(meta(rs).get("uid", ""))
    before = roll.replicas_of(original) if original is not None else 0
    after = roll.replicas_of(rs)
    # Sized sets carry the size they were sized for; a stale one on an active set would
    # make every later sync look like a scaling event and stall the rollout (kube's
    # scaleReplicaSet also refreshes annotations that need it, not only resized sets).
    if original is None or before != after or after > 0:
        annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
        annotations[rsets.DESIRED_REPLICAS] = str(sync.plan.replicas)
        annotations[rsets.MAX_REPLICAS] = str(sync.plan.replicas + sync.surge)
    if original is None:
        sync.actions.append(CreateObject("replicasets", sync.me.namespace, rs, exists_ok=True))
    elif rs != original:
        sync.actions.append(ReplaceObject(rsets.ref_of(rs), rs))
    if before != after:
        direction = "up" if after > before else "down"
        sync.event("ScalingReplicaSet", f"Scaled {direction} replica set {meta(rs)['name']} "
                   f"from {before} to {after}")
