"""The pod garbage collector's decisions (pure), like kube-controller-manager's podgc.

* Terminated pods (phase Succeeded or Failed) beyond `threshold` are deleted, oldest
  (creationTimestamp) first: `--terminated-pod-gc-threshold`, 12,500 by default.
* A pod bound to a node that no longer exists is deleted at once (grace 0: no kubelet is
  left to finish it), after a quarantine so that a pod bound by hand to a node that is still
  registering is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from minikube13.controllers.actions import Action, DeleteObject, ObjectRef, RecordEvent, View

Object = dict[str, Any]

DEFAULT_THRESHOLD = 12_500
ORPHAN_QUARANTINE = timedelta(seconds=40)
TERMINATED = ("Succeeded", "Failed")
SOURCE = "pod-garbage-collector"


def _created(pod: Object) -> str:
    return str(pod.get("metadata", {}).get("creationTimestamp") or "")


def _age_key(pod: Object) -> tuple[str, str, str]:
    meta = pod.get("metadata", {})
    return (_created(pod), meta.get("namespace", ""), meta.get("name", ""))


def _parse(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_terminated(pod: Object) -> bool:
    return pod.get("status", {}).get("phase") in TERMINATED


def _delete(key: ObjectRef, message: str) -> list[Action]:
    return [DeleteObject(key, "Background", grace_period_s=0),
            RecordEvent(key, "Pod", "Normal", "PodGC", message, SOURCE)]


def _orphan_since(pod: Object, view: View) -> datetime | None:
    """When the pod's node went missing (its creation time), or None if it is not orphaned."""
    node = pod.get("spec", {}).get("nodeName")
    if not node or view.get(ObjectRef("nodes", "", node)) is not None:
        return None
    return _parse(_created(pod))


def reconcile(key: ObjectRef, view: View, now: datetime,
              threshold: int = DEFAULT_THRESHOLD) -> list[Action]:
    pod = view.get(key)
    if pod is None:
        return []
    since = _orphan_since(pod, view)
    if since is not None and now - since >= ORPHAN_QUARANTINE:
        node = pod["spec"]["nodeName"]
        return _delete(key, f"Deleting pod bound to the missing node {node}")
    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    if deleting or not is_terminated(pod) or threshold <= 0:
        return []
    terminated = sorted((p for p in view.objects("pods") if is_terminated(p)), key=_age_key)
    excess = len(terminated) - threshold
    if excess > 0 and _age_key(pod) <= _age_key(terminated[excess - 1]):
        return _delete(key, f"Deleting terminated pod: more than {threshold} are kept")
    return []


def requeue_at(key: ObjectRef, view: View, now: datetime) -> datetime | None:
    """When a pod of a missing node leaves its quarantine."""
    pod = view.get(key)
    since = None if pod is None else _orphan_since(pod, view)
    return None if since is None else since + ORPHAN_QUARANTINE
