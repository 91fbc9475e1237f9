"""What a DELETE does to one object (pure): now, later, or nothing new.

The rules are the apiserver's (genericregistry.Store.Delete, rest.BeforeDelete and the
namespace REST): preconditions, graceful deletion of pods on a node, finalizers that keep an
object with a deletionTimestamp, the garbage collector's `orphan` and `foregroundDeletion`
finalizers chosen by the propagation policy, and the two-step deletion of namespaces.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from minikube13.model import errors as fe
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import conflict, forbidden, invalid
from minikube13.registry.metadata import parse_timestamp, timestamp
from minikube13.registry.options import DeleteOptions

Object = dict[str, Any]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
POLICIES = ("Foreground", "Background", "Orphan")

# Served versions whose delete orphans dependents unless told otherwise: each kept its
# pre-garbage-collector behaviour for old clients (DefaultGarbageCollectionPolicy).
ORPHAN_BY_DEFAULT = frozenset({
    ("v1", "ReplicationController"),
    ("extensions/v1beta1", "ReplicaSet"),
    ("extensions/v1beta1", "Deployment"),
    ("apps/v1alpha1", "PetSet"),
    ("batch/v1", "Job"),
    ("batch/v2alpha1", "ScheduledJob"),
})

DEFAULT_POD_GRACE_SECONDS = 30


class Outcome(Enum):
    NOW = "now"  # remove it from the store
    UPDATE = "update"  # write `obj` (deletionTimestamp, finalizers) and wait
    PENDING = "pending"  # already being deleted; nothing to write


@dataclass(frozen=True)
class DeletePlan:
    outcome: Outcome
    obj: Object


def check_options(opts: DeleteOptions) -> None:
    """DeleteOptions validation (422 Invalid, as the apiserver's ValidateDeleteOptions)."""
    errors: list[fe.FieldError] = []
    policy = opts.propagation_policy
    if policy is not None and opts.orphan_dependents is not None:
        errors.append(fe.invalid("propagationPolicy", policy,
                                 "orphanDependents and deletionPropagation cannot be both set"))
    elif policy is not None and policy not in POLICIES:
        errors.append(fe.not_supported("propagationPolicy", policy, list(POLICIES)))
    if errors:
        raise invalid("meta.k8s.io", "DeleteOptions", "",
                      f'DeleteOptions.meta.k8s.io "" is invalid: {errors[0].message()}', errors)


def check_preconditions(info: ResourceInfo, obj: Object, opts: DeleteOptions) -> None:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "")
    if opts.precondition_uid is not None and opts.precondition_uid != meta.get("uid"):
        raise conflict(info.group, info.plural, name,
                       f"Precondition failed: UID in precondition: {opts.precondition_uid}, "
                       f"UID in object meta: {meta.get('uid', '')}")
    want_rv = opts.precondition_resource_version
    if want_rv is not None and want_rv != meta.get("resourceVersion"):
        raise conflict(info.group, info.plural, name,
                       f"Precondition failed: ResourceVersion in precondition: {want_rv}, "
                       f"ResourceVersion in object meta: {meta.get('resourceVersion', '')}")


def check_deletable(info: ResourceInfo, name: str) -> None:
    if info.storage == "namespaces" and name in IMMORTAL_NAMESPACES:
        raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')


def default_policy(info: ResourceInfo) -> str:
    return "Orphan" if (info.api_version, info.kind) in ORPHAN_BY_DEFAULT else "Background"


def gc_finalizers(info: ResourceInfo, finalizers: list[str], opts: DeleteOptions) -> list[str]:
    """The finalizers after applying the propagation policy (an explicit one wins, then a
    finalizer already on the object, then the served version's default)."""
    if opts.orphan_dependents is not None:
        policy = "Orphan" if opts.orphan_dependents else "Background"
    elif opts.propagation_policy is not None:
        policy = opts.propagation_policy
    elif ORPHAN in finalizers:
        policy = "Orphan"
    elif FOREGROUND in finalizers:
        policy = "Foreground"
    else:
        policy = default_policy(info)
    out = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if policy == "Orphan":
        out.append(ORPHAN)
    elif policy == "Foreground":
        out.append(FOREGROUND)
    return out if set(out) != set(finalizers) else list(finalizers)


def pod_grace_seconds(pod: Object, opts: DeleteOptions) -> int:
    """podStrategy.CheckGracefulDelete: the requested or the pod's own grace period, but 0
    for a pod on no node or one that has finished."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    grace = opts.grace_period_seconds
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_SECONDS)
    grace = 1 if grace < 0 else int(grace)
    if not spec.get("nodeName") or status.get("phase") in ("Failed", "Succeeded"):
        return 0
    return grace


def plan_delete(info: ResourceInfo, obj: Object, opts: DeleteOptions,
                now: datetime) -> DeletePlan:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    if info.storage == "namespaces":
        first = _namespace_first_delete(info, out, opts, now)
        if first is not None:
            return first
    graceful = False
    if info.storage == "pods":
        pending = _pod_pending(out, opts)
        if pending is not None:
            return pending
        graceful = _start_graceful(out, opts, now)
    finalizers = gc_finalizers(info, list(meta.get("finalizers") or []), opts)
    _set_finalizers(meta, finalizers)
    if graceful:
        return DeletePlan(Outcome.UPDATE, out)
    if finalizers:
        meta.setdefault("deletionTimestamp", timestamp(now))
        meta["deletionGracePeriodSeconds"] = 0
        return DeletePlan(Outcome.PENDING if out == obj else Outcome.UPDATE, out)
    return DeletePlan(Outcome.NOW, obj)


def _set_finalizers(meta: Object, finalizers: list[str]) -> None:
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)


def _namespace_first_delete(info: ResourceInfo, ns: Object, opts: DeleteOptions,
                            now: datetime) -> DeletePlan | None:
    """A namespace is first only marked Terminating; the namespace controller empties it,
    clears spec.finalizers through /finalize, and that removes it."""
    meta = ns["metadata"]
    if meta.get("deletionTimestamp"):
        if (ns.get("spec") or {}).get("finalizers"):
            return DeletePlan(Outcome.PENDING, ns)
        return None
    meta["deletionTimestamp"] = timestamp(now)
    ns.setdefault("status", {})["phase"] = "Terminating"
    _set_finalizers(meta, gc_finalizers(info, list(meta.get("finalizers") or []), opts))
    return DeletePlan(Outcome.UPDATE, ns)


def _pod_pending(pod: Object, opts: DeleteOptions) -> DeletePlan | None:
    """A pod already counting down its grace period: only a shorter period changes it."""
    meta = pod["metadata"]
    current = meta.get("deletionGracePeriodSeconds")
    if not meta.get("deletionTimestamp") or current in (None, 0):
        return None
    wanted = opts.grace_period_seconds
    if wanted is not None and wanted < 0:
        wanted = 1
    if wanted is None or wanted >= current:
        return DeletePlan(Outcome.PENDING, pod)
    if wanted == 0:
        return None  # deleted now, like the kubelet's final delete
    started = parse_timestamp(meta["deletionTimestamp"]) - timedelta(seconds=current)
    meta["deletionTimestamp"] = timestamp(started + timedelta(seconds=wanted))
    meta["deletionGracePeriodSeconds"] = wanted
    return DeletePlan(Outcome.UPDATE, pod)


def _start_graceful(pod: Object, opts: DeleteOptions, now: datetime) -> bool:
    meta = pod["metadata"]
    if meta.get("deletionTimestamp"):
        return False
    grace = pod_grace_seconds(pod, opts)
    if grace <= 0:
        return False
    meta["deletionTimestamp"] = timestamp(now + timedelta(seconds=grace))
    meta["deletionGracePeriodSeconds"] = grace
    if meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1
    return True

