"""The ReplicaSet (and ReplicationController) controller's decisions (pure).

For one ReplicaSet (storage "replicasets") or ReplicationController ("replicationcontrollers";
its selector is a plain label map) this adopts orphan pods that match the selector, releases
owned pods that no longer match, creates pods from the template while too few are active,
deletes the least valuable surplus pods (kube's ActivePods order), and writes the status
(replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration) when it
changed. Pods are counted from the view; the runner's view must include the creates and
deletes of the previous reconcile before it is called again (kube's "expectations").
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RemoveOwnerRefs,
    ReplaceStatus,
    View,
    ref_of,
)
from minikube13.model.printing import parse_time
from minikube13.model.selectors import LabelSelector, from_label_selector, from_map

Object = dict[str, Any]

BURST = 500  # pods created or deleted by one reconcile, like kube's burstReplicas
_OWNER_KIND = {"replicasets": ("apps/v1", "ReplicaSet"),
               "replicationcontrollers": ("v1", "ReplicationController")}
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- small readers shared with the deployment controller ---------------------------------------


def meta(obj: Object) -> Object:
    return obj.get("metadata") or {}


def spec(obj: Object) -> Object:
    return obj.get("spec") or {}


def being_deleted(obj: Object) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def controller_uid(obj: Object) -> str:
    """The uid of the object's managing controller, or "" when it is an orphan."""
    for reference in meta(obj).get("ownerReferences") or []:
        if reference.get("controller"):
            return str(reference.get("uid", ""))
    return ""


def owner_reference(api_version: str, kind: str, owner: Object) -> Object:
    """The ownerReference a controller puts on what it creates or adopts."""
    return {"apiVersion": api_version, "kind": kind, "name": meta(owner).get("name", ""),
            "uid": meta(owner).get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def adopt_patch(dependent: Object, reference: Object) -> Object:
    """A merge patch adding `reference` (lists are replaced whole by a merge patch)."""
    references = list(meta(dependent).get("ownerReferences") or []) + [reference]
    return {"metadata": {"ownerReferences": references}}


def format_time(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_active(pod: Object) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not being_deleted(pod)


def ready_condition(pod: Object) -> Object | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def is_ready(pod: Object) -> bool:
    condition = ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def is_available(pod: Object, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least minReadySeconds (kube's podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(str((ready_condition(pod) or {}).get("lastTransitionTime") or ""))
    return since is not None and since + timedelta(seconds=min_ready_seconds) <= now


def selector_of(storage: str, obj: Object) -> LabelSelector:
    selector = spec(obj).get("selector")
    if storage == "replicationcontrollers":
        return from_map(selector or template_labels(obj) or None)
    return from_label_selector(selector)


def template_labels(obj: Object) -> dict[str, str]:
    template = spec(obj).get("template") or {}
    return dict((template.get("metadata") or {}).get("labels") or {})


# -- reconcile ---------------------------------------------------------------------------------


def reconcile(key: ObjectRef, view: View, now: datetime) -> list[Action]:
    """The actions for the ReplicaSet or ReplicationController at `key` right now."""
    owner = view.get(key.key)
    if owner is None or being_deleted(owner):
        return []
    me = ref_of(key.storage, owner)
    selector = selector_of(key.storage, owner)
    actions: list[Action] = []
    pods = _claim_pods(me, owner, selector, view, actions)
    active = [p for p in pods if is_active(p)]
    actions.extend(_manage_replicas(me, owner, active))
    status = compute_status(owner, active, now)
    if status != (owner.get("status") or {}):
        actions.append(ReplaceStatus(me, status, meta(owner).get("resourceVersion", "")))
    return actions


def requeue_at(key: ObjectRef, view: View, now: datetime) -> datetime | None:
    """When `reconcile` should run again without any watch event: a ready pod's
    minReadySeconds running out changes availableReplicas."""
    owner = view.get(key.key)
    if owner is None or being_deleted(owner):
        return None
    uid = meta(owner).get("uid", "")
    pods = [p for p in view.objects("pods", key.namespace)
            if controller_uid(p) == uid and is_active(p)]
    return next_available(owner, pods, now)


def _claim_pods(me: ObjectRef, owner: Object, selector: LabelSelector, view: View,
                actions: list[Action]) -> list[Object]:
    """The pods this controller manages after adopting orphans and releasing strays."""
    api_version, kind = _OWNER_KIND[me.storage]
    reference = owner_reference(api_version, kind, owner)
    claimed: list[Object] = []
    for pod in view.objects("pods", me.namespace):
        matches = selector.matches(meta(pod).get("labels") or {})
        managed_by = controller_uid(pod)
        if managed_by == me.uid:
            if matches:
                claimed.append(pod)
            elif not being_deleted(pod):
                actions.append(RemoveOwnerRefs(ref_of("pods", pod), (me.uid,)))
        elif not managed_by and matches and not being_deleted(pod):
            actions.append(PatchObject(ref_of("pods", pod), adopt_patch(pod, reference)))
            claimed.append(pod)
    return claimed


def _manage_replicas(me: ObjectRef, owner: Object, active: list[Object]) -> list[Action]:
    diff = len(active) - int(spec(owner).get("replicas", 1))
    if diff < 0:
        pod = new_pod(me, owner)
        return [CreateObject("pods", me.namespace, copy.deepcopy(pod))
                for _ in range(min(-diff, BURST))]
    if diff > 0:
        doomed = sorted(active, key=deletion_rank)[:min(diff, BURST)]
        return [DeleteObject(ref_of("pods", pod), "Background") for pod in doomed]
    return []


def new_pod(me: ObjectRef, owner: Object) -> Object:
    """A pod from the template, named `<owner>-<random>` by the apiserver."""
    template = copy.deepcopy(spec(owner).get("template") or {})
    template_meta = template.get("metadata") or {}
    api_version, kind = _OWNER_KIND[me.storage]
    metadata: Object = {"generateName": f"{me.name}-", "namespace": me.namespace,
                        "ownerReferences": [owner_reference(api_version, kind, owner)]}
    for field in ("labels", "annotations", "finalizers"):
        if template_meta.get(field):
            metadata[field] = template_meta[field]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": template.get("spec") or {}}


def deletion_rank(pod: Object) -> tuple[Any, ...]:
    """Sort key: the pods to delete first come first (kube's controller.ActivePods)."""
    status = pod.get("status") or {}
    ready = is_ready(pod)
    ready_since = (ready_condition(pod) or {}).get("lastTransitionTime") or "" if ready else ""
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    created = meta(pod).get("creationTimestamp") or ""
    return (bool(spec(pod).get("nodeName")), _PHASE_RANK.get(status.get("phase", ""), 0),
            ready, _descending(ready_since), -restarts, _descending(created))


def _descending(timestamp: str) -> tuple[int, ...]:
    """Later (and missing) timestamps first: RFC 3339 strings order like their times."""
    if not timestamp:
        return (0,)
    return (1, *(-ord(ch) for ch in timestamp))


def compute_status(owner: Object, active: list[Object], now: datetime) -> Object:
    """The status kube's ReplicaSet controller would write (zero counts omitted)."""
    wanted = template_labels(owner)
    min_ready = int(spec(owner).get("minReadySeconds", 0) or 0)
    counts = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(1 for p in active if _has_labels(p, wanted)),
        "readyReplicas": sum(1 for p in active if is_ready(p)),
        "availableReplicas": sum(1 for p in active if is_available(p, min_ready, now)),
        "observedGeneration": int(meta(owner).get("generation", 0) or 0),
    }
    status: Object = {k: v for k, v in counts.items() if v or k == "replicas"}
    conditions = (owner.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status


def next_available(owner: Object, pods: list[Object], now: datetime) -> datetime | None:
    """When the next ready pod becomes available (minReadySeconds); the runner re-checks the
    owner then, as kube's controllers requeue after minReadySeconds."""
    min_ready = int(spec(owner).get("minReadySeconds", 0) or 0)
    times = []
    for pod in pods:
        if min_ready <= 0 or not is_ready(pod) or is_available(pod, min_ready, now):
            continue
        since = parse_time(str((ready_condition(pod) or {}).get("lastTransitionTime") or ""))
        if since is not None:
            times.append(since + timedelta(seconds=min_ready))
    return min(times, default=None)


def _has_labels(pod: Object, wanted: Mapping[str, str]) -> bool:
    labels = meta(pod).get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())
