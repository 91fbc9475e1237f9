"""The Job controller's decisions (pure): run a batch/v1 Job's pods to completion.

Like Kubernetes' job controller (non-indexed completion mode):

* The Job's pods are those its selector matches that name it as their controller owner.
  Pods not yet Succeeded/Failed and not being deleted are active.
* It keeps min(parallelism, completions - succeeded) pods active (with nil completions:
  parallelism until the first success, then none new: running ones finish), creating pods
  from the template (`<job>-xxxxx`, controller ownerReference) and deleting extras.
  Pod names are a sequence derived from the Job's uid, so a create repeated on a stale view
  is AlreadyExists (taken as done) instead of an extra pod.
* Complete once succeeded >= completions (nil: at least one success) with none active;
  Failed when failed > backoffLimit (BackoffLimitExceeded) or active longer than
  activeDeadlineSeconds since status.startTime (DeadlineExceeded): active pods are deleted
  and counted as failed. Suspended: active pods deleted, startTime cleared, condition
  Suspended; resuming sets Suspended False and a new startTime.
* Counts never go down: succeeded/failed are the larger of the recorded and observed ones.

Not done: per-index completion (Indexed), podFailurePolicy, successPolicy, pod backoff
delays.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    RecordEvent,
    ReplaceStatus,
    View,
    ref_of,
)
from minikube13.model.printing import parse_time
from minikube13.model.selectors import SelectorError, from_label_selector

Object = dict[str, Any]
SOURCE = "job-controller"
FINISHED = ("Complete", "Failed")
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String letters


def timestamp(at: datetime) -> str:
    """RFC 3339 at second precision in UTC, as metav1.Time serialises."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: Any) -> datetime | None:
    return parse_time(text) if isinstance(text, str) else None


def condition(obj: Object, kind: str) -> Object | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def finished_as(job: Object) -> str | None:
    """"Complete" or "Failed" once the Job has that condition True, else None."""
    for kind in FINISHED:
        cond = condition(job, kind)
        if cond is not None and cond.get("status") == "True":
            return kind
    return None


def _is_active(pod: Object) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not \
        (pod.get("metadata") or {}).get("deletionTimestamp")


def _is_ready(pod: Object) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def owned_pods(job: Object, view: View) -> list[Object]:
    """Pods the Job's selector matches whose controller owner is the Job."""
    meta = job.get("metadata") or {}
    uid = meta.get("uid", "")
    try:
        selector = from_label_selector((job.get("spec") or {}).get("selector"))
    except SelectorError:
        return []
    out = []
    for ref, pod in view.dependents(uid):
        if ref.storage != "pods":
            continue
        owners = (pod.get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("uid") == uid and o.get("controller") for o in owners) and \
                selector.matches((pod.get("metadata") or {}).get("labels")):
            out.append(pod)
    return sorted(out, key=lambda p: (p.get("metadata") or {}).get("name", ""))


def pod_from_template(job: Object) -> Object:
    """A new pod for the Job: the template, generateName `<job>-`, the Job as controller."""
    meta = job.get("metadata") or {}
    template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_meta: Object = {"generateName": f"{meta.get('name', '')}-",
                        "namespace": meta.get("namespace") or "",
                        "ownerReferences": [{
                            "apiVersion": "batch/v1", "kind": "Job", "name": meta.get("name"),
                            "uid": meta.get("uid"), "controller": True,
                            "blockOwnerDeletion": True}]}
    for key in ("labels", "annotations", "finalizers"):
        if tmeta.get(key):
            pod_meta[key] = tmeta[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": template.get("spec") or {}}


@dataclass(frozen=True)
class Counts:
    active: list[Object]
    succeeded: int
    failed: int
    ready: int


def count(job: Object, pods: list[Object]) -> Counts:
    status = job.get("status") or {}
    active = [p for p in pods if _is_active(p)]
    succeeded = sum(1 for p in pods if _phase(p) == "Succeeded")
    failed = sum(1 for p in pods if _phase(p) == "Failed")
    return Counts(active, max(int(status.get("succeeded") or 0), succeeded),
                  max(int(status.get("failed") or 0), failed),
                  sum(1 for p in active if _is_ready(p)))


def want_active(spec: Object, succeeded: int, active: int) -> int:
    """manageJob's wantActive: how many pods should be running now."""
    raw = spec.get("parallelism")
    parallelism = 1 if raw is None else int(raw)
    completions = spec.get("completions")
    if completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(parallelism, int(completions) - succeeded))


def _set_condition(status: Object, kind: str, state: str, reason: str, message: str,
                   now: datetime) -> None:
    conditions = [dict(c) for c in status.get("conditions") or []]
    for cond in conditions:
        if cond.get("type") == kind:
            if cond.get("status") != state:
                cond.update(status=state, lastProbeTime=timestamp(now),
                            lastTransitionTime=timestamp(now), reason=reason, message=message)
            break
    else:
        conditions.append({"type": kind, "status": state, "lastProbeTime": timestamp(now),
                           "lastTransitionTime": timestamp(now), "reason": reason,
                           "message": message})
    status["conditions"] = conditions


def _failure(job: Object, counts: Counts, now: datetime) -> tuple[str, str] | None:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    backoff = spec.get("backoffLimit")
    if counts.failed > int(backoff if backoff is not None else 6):
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    deadline, started = spec.get("activeDeadlineSeconds"), parse(status.get("startTime"))
    if deadline is not None and started is not None and \
            now >= started + timedelta(seconds=int(deadline)):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def _complete(spec: Object, counts: Counts) -> bool:
    completions = spec.get("completions")
    if counts.active:
        return False
    return counts.succeeded > 0 if completions is None else counts.succeeded >= int(completions)


def _delete(pods: list[Object]) -> list[Action]:
    return [DeleteObject(ref_of("pods", p), "Background") for p in pods]


def _with_counts(status: Object, active: int, counts: Counts) -> Object:
    out = dict(status)
    for key, value in (("active", active), ("succeeded", counts.succeeded),
                       ("failed", counts.failed)):
        if value:
            out[key] = value
        else:
            out.pop(key, None)
    out["ready"] = counts.ready if active else 0
    return out


def _key(key: ObjectRef | str) -> ObjectRef:
    if isinstance(key, ObjectRef):
        return ObjectRef("jobs", key.namespace, key.name)
    namespace, _, name = key.rpartition("/")
    return ObjectRef("jobs", namespace, name)


def reconcile(key: ObjectRef | str, view: View, now: datetime) -> list[Action]:
    """The actions for Job `key` (an ObjectRef, or "namespace/name") right now."""
    job = view.get(_key(key))
    if job is None or (job.get("metadata") or {}).get("deletionTimestamp"):
        return []
    pods = owned_pods(job, view)
    if finished_as(job) is not None:
        # Finished: only make sure a failed Job's pods are gone (a crash may have come
        # between the status write and the deletes).
        return _delete([p for p in pods if _is_active(p)]) if finished_as(job) == "Failed" \
            else []
    return _sync(job, pods, view, now)


def _sync(job: Object, pods: list[Object], view: View, now: datetime) -> list[Action]:
    spec, old = job.get("spec") or {}, job.get("status") or {}
    counts = count(job, pods)
    status = dict(old)
    actions: list[Action] = []
    events: list[tuple[str, str, str]] = []
    if spec.get("suspend"):
        return _suspend(job, counts, now)
    if (condition(job, "Suspended") or {}).get("status") == "True":
        _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
        events.append(("Normal", "Resumed", "Job resumed"))
        status.pop("startTime", None)
        job = {**job, "status": status}
    if not status.get("startTime"):
        status["startTime"] = timestamp(now)
        job = {**job, "status": status}
    failure = _failure(job, counts, now)
    if failure is not None:
        failed = Counts([], counts.succeeded, counts.failed + len(counts.active), 0)
        _set_condition(status, "Failed", "True", failure[0], failure[1], now)
        events.append(("Warning", failure[0], failure[1]))
        actions += _delete(counts.active)
        return actions + _status(job, old, _with_counts(status, 0, failed)) + \
            _events(job, events)
    if _complete(spec, counts):
        _set_condition(status, "Complete", "True", "CompletionsReached",
                       "Reached expected number of succeeded pods", now)
        status["completionTime"] = timestamp(now)
        events.append(("Normal", "Completed", "Job completed"))
        return _status(job, old, _with_counts(status, 0, counts)) + _events(job, events)
    actions += _manage(job, counts, view)
    active = want_active(spec, counts.succeeded, len(counts.active))
    return actions + _status(job, old, _with_counts(status, active, counts)) + \
        _events(job, events)


def _suspend(job: Object, counts: Counts, now: datetime) -> list[Action]:
    """Suspended: no pods (not counted as failures), no startTime, condition Suspended."""
    old = job.get("status") or {}
    status = dict(old)
    status.pop("startTime", None)
    events: list[tuple[str, str, str]] = []
    if (condition(job, "Suspended") or {}).get("status") != "True":
        _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
        events.append(("Normal", "Suspended", "Job suspended"))
    return _delete(counts.active) + _status(job, old, _with_counts(status, 0, counts)) + \
        _events(job, events)


def _manage(job: Object, counts: Counts, view: View) -> list[Action]:
    """Create or delete pods so that wantActive are active (the least ready go first)."""
    spec, meta = job.get("spec") or {}, job.get("metadata") or {}
    want = want_active(spec, counts.succeeded, len(counts.active))
    have = len(counts.active)
    if have > want:
        extra = sorted(counts.active, key=lambda p: (_is_ready(p), _phase(p) == "Running"))
        return _delete(extra[:have - want])
    namespace = meta.get("namespace") or ""
    return [CreateObject("pods", namespace, {**pod, "metadata": {**pod["metadata"], "name": name}},
                         exists_ok=True)
            for pod in [pod_from_template(job)]
            for name in pod_names(job, view, want - have)]


def pod_names(job: Object, view: View, n: int) -> list[str]:
    """The next `n` free names of the Job's pod sequence `<job>-<5 chars of hash(uid, i)>`.
    Pods just created but not yet in a lagging view get the same names again, so the
    creates (exists_ok) cannot run more pods than wanted."""
    meta = job.get("metadata") or {}
    prefix, uid, namespace = meta.get("name", ""), meta.get("uid", ""), meta.get("namespace")
    out: list[str] = []
    seq = 0
    while len(out) < n:
        digest = hashlib.sha256(f"{uid}/{seq}".encode()).digest()
        name = f"{prefix}-" + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])
        if view.get(ObjectRef("pods", namespace or "", name)) is None:
            out.append(name)
        seq += 1
    return out


def _status(job: Object, old: Object, new: Object) -> list[Action]:
    if new == old:
        return []
    meta = job.get("metadata") or {}
    return [ReplaceStatus(ref_of("jobs", job), new, meta.get("resourceVersion") or "")]


def _events(job: Object, events: list[tuple[str, str, str]]) -> list[Action]:
    return [RecordEvent(ref_of("jobs", job), "Job", kind, reason, message, SOURCE)
            for kind, reason, message in events]


def requeue_after(job: Object, now: datetime) -> timedelta | None:
    """When an unfinished Job with activeDeadlineSeconds must be looked at again."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    started, deadline = parse(status.get("startTime")), spec.get("activeDeadlineSeconds")
    if finished_as(job) or spec.get("suspend") or started is None or deadline is None:
        return None
    return max(timedelta(0), started + timedelta(seconds=int(deadline)) - now)


def requeue_seconds(key: ObjectRef | str, view: View, now: datetime) -> float | None:
    """The runner's `requeue_after(key, view, now)`: seconds until the deadline check."""
    job = view.get(_key(key))
    delay = None if job is None else requeue_after(job, now)
    return None if delay is None else delay.total_seconds()
