"""A Deployment's status and conditions (pure), as kube's deployment controller writes them,
so that `kubectl rollout status` reads the same story: updatedReplicas, availableReplicas,
and the Progressing condition's ProgressDeadlineExceeded reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from minikube13.controllers.deployment_rollout import Plan, available_of, fenceposts, total
from minikube13.controllers.replicaset import format_time, meta, spec
from minikube13.model.printing import parse_time

Object = dict[str, Any]

AVAILABLE, PROGRESSING = "Available", "Progressing"
NEW_RS_CREATED, FOUND_NEW_RS = "NewReplicaSetCreated", "FoundNewReplicaSet"
RS_UPDATED, NEW_RS_AVAILABLE = "ReplicaSetUpdated", "NewReplicaSetAvailable"
TIMED_OUT, PAUSED, RESUMED = "ProgressDeadlineExceeded", "DeploymentPaused", "DeploymentResumed"


def _status_int(rs: Object | None, name: str) -> int:
    return int(((rs or {}).get("status") or {}).get(name, 0) or 0)


def counts(deployment: Object, plan: Plan) -> Object:
    """The replica counts of kube's calculateStatus."""
    available = sum(available_of(rs) for rs in plan.all)
    return {
        "observedGeneration": int(meta(deployment).get("generation", 0) or 0),
        "replicas": sum(_status_int(rs, "replicas") for rs in plan.all),
        "updatedReplicas": _status_int(plan.new, "replicas"),
        "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in plan.all),
        "availableReplicas": available,
        "unavailableReplicas": max(total(plan.all) - available, 0),
    }


def condition(kind: str, status: str, reason: str, message: str, now: datetime) -> Object:
    stamp = format_time(now)
    return {"type": kind, "status": status, "lastUpdateTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(conditions: list[Object], new: Object) -> list[Object]:
    """kube's SetDeploymentCondition: same status and reason changes nothing; the same
    status keeps its lastTransitionTime."""
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    if old is not None and old.get("status") == new["status"] and \
            old.get("reason") == new["reason"]:
        return conditions
    if old is not None and old.get("status") == new["status"]:
        new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"])}
    return [c for c in conditions if c.get("type") != new["type"]] + [new]


def get_condition(status: Object, kind: str) -> Object | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def availability(deployment: Object, status: Object, now: datetime) -> Object:
    replicas = int(spec(deployment).get("replicas", 1))
    _, unavailable = fenceposts(deployment)
    if status["availableReplicas"] >= replicas - unavailable:
        return condition(AVAILABLE, "True", "MinimumReplicasAvailable",
                         "Deployment has minimum availability.", now)
    return condition(AVAILABLE, "False", "MinimumReplicasUnavailable",
                     "Deployment does not have minimum availability.", now)


def complete(deployment: Object, status: Object) -> bool:
    """kube's DeploymentComplete: every replica updated and available, the spec observed."""
    replicas = int(spec(deployment).get("replicas", 1))
    return (status["updatedReplicas"] == replicas and status["replicas"] == replicas
            and status["availableReplicas"] == replicas
            and status["observedGeneration"] >= int(meta(deployment).get("generation", 0) or 0))


def _progressed(old: Object, new: Object) -> bool:
    """kube's DeploymentProgressing: more updated, ready or available, or fewer old pods."""
    old_old = int(old.get("replicas", 0) or 0) - int(old.get("updatedReplicas", 0) or 0)
    new_old = new["replicas"] - new["updatedReplicas"]
    return (new["updatedReplicas"] > int(old.get("updatedReplicas", 0) or 0)
            or new_old < old_old
            or new["readyReplicas"] > int(old.get("readyReplicas", 0) or 0)
            or new["availableReplicas"] > int(old.get("availableReplicas", 0) or 0))


def _timed_out(deployment: Object, status: Object, now: datetime) -> bool:
    deadline = spec(deployment).get("progressDeadlineSeconds")
    progressing = get_condition(status, PROGRESSING)
    if deadline is None or progressing is None or progressing.get("reason") == NEW_RS_AVAILABLE:
        return False
    if progressing.get("reason") == TIMED_OUT:
        return True
    since = parse_time(str(progressing.get("lastUpdateTime") or ""))
    return since is not None and since + timedelta(seconds=int(deadline)) < now


def progress(deployment: Object, plan: Plan, status: Object, now: datetime) -> Object | None:
    """The Progressing condition kube's syncRolloutStatus would set, or None to keep it."""
    old_status = deployment.get("status") or {}
    name = meta(plan.new).get("name", "") if plan.new is not None else ""
    if spec(deployment).get("paused"):
        return None
    if complete(deployment, status):
        return condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                         f'ReplicaSet "{name}" has successfully progressed.', now)
    if _progressed(old_status, status):
        return condition(PROGRESSING, "True", RS_UPDATED, f'ReplicaSet "{name}" is progressing.',
                         now)
    if _timed_out(deployment, old_status, now):
        return condition(PROGRESSING, "False", TIMED_OUT,
                         f'ReplicaSet "{name}" has timed out progressing.', now)
    return None


def compute(deployment: Object, plan: Plan, conditions: list[Object], now: datetime) -> Object:
    """The whole new status; `conditions` already holds any event condition of this sync."""
    status = counts(deployment, plan)
    conditions = set_condition(conditions, availability(deployment, status, now))
    progressing = progress(deployment, plan, status, now)
    if progressing is not None:
        conditions = _set_progressing(conditions, progressing)
    out: Object = {k: v for k, v in status.items() if v}  # zero counts omitted, as kube's JSON
    out["conditions"] = conditions
    if (deployment.get("status") or {}).get("collisionCount") is not None:
        out["collisionCount"] = deployment["status"]["collisionCount"]
    return out


def deadline(deployment: Object) -> datetime | None:
    """When the Progressing condition would time out; the runner re-checks the Deployment
    then (kube requeues after the remaining progressDeadlineSeconds)."""
    seconds = spec(deployment).get("progressDeadlineSeconds")
    progressing = get_condition(deployment.get("status") or {}, PROGRESSING)
    if seconds is None or progressing is None or spec(deployment).get("paused"):
        return None
    if progressing.get("status") != "True" or progressing.get("reason") == NEW_RS_AVAILABLE:
        return None
    since = parse_time(str(progressing.get("lastUpdateTime") or ""))
    return since + timedelta(seconds=int(seconds) + 1) if since is not None else None


def _set_progressing(conditions: list[Object], new: Object) -> list[Object]:
    """Progress noticed again refreshes lastUpdateTime (the deadline counts from it) and
    keeps lastTransitionTime while the condition stays True, as kube does."""
    if new["reason"] != RS_UPDATED:
        return set_condition(conditions, new)
    old = next((c for c in conditions if c.get("type") == PROGRESSING), None)
    if old is not None and old.get("status") == "True":
        new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"])}
    return [c for c in conditions if c.get("type") != PROGRESSING] + [new]
