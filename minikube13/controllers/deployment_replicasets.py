"""A Deployment's ReplicaSets (pure): claiming them, the pod-template-hash, revisions, and
the new ReplicaSet a rollout creates, after kube's deployment controller (apps/v1)."""

from __future__ import annotations

import copy
import json
from typing import Any

from minikube13.controllers.actions import Action, ObjectRef, PatchObject, RemoveOwnerRefs, View
from minikube13.controllers.actions import ref_of as _ref_of
from minikube13.controllers.replicaset import (
    adopt_patch,
    being_deleted,
    controller_uid,
    meta,
    owner_reference,
    spec,
)
from minikube13.model.groups.apps import ROLLBACK_TO_ANNOTATION
from minikube13.model.selectors import from_label_selector

Object = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Annotations of a Deployment that are not copied onto its ReplicaSets (and back by undo).
SKIPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
    DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO_ANNOTATION})
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def claim(deployment: Object, view: View, actions: list[Action]) -> list[Object]:
    """The Deployment's ReplicaSets, adopting orphans its selector matches and releasing the
    ones it owns but no longer matches (kube's ReplicaSetControllerRefManager)."""
    me = _ref_of("deployments", deployment)
    selector = from_label_selector(spec(deployment).get("selector"))
    reference = owner_reference("apps/v1", "Deployment", deployment)
    claimed: list[Object] = []
    for rs in view.objects("replicasets", me.namespace):
        matches = selector.matches(meta(rs).get("labels") or {})
        owner = controller_uid(rs)
        if owner == me.uid:
            if matches:
                claimed.append(rs)
            elif not being_deleted(rs):
                actions.append(RemoveOwnerRefs(_ref_of("replicasets", rs), (me.uid,)))
        elif not owner and matches and not being_deleted(rs):
            actions.append(PatchObject(_ref_of("replicasets", rs), adopt_patch(rs, reference)))
            claimed.append(rs)
    return sorted(claimed, key=_age_key)


def _age_key(rs: Object) -> tuple[str, str]:
    return (meta(rs).get("creationTimestamp") or "", meta(rs).get("name", ""))


def template_hash(template: Object, collision_count: int = 0) -> str:
    """A stable, kube-looking hash of a pod template: FNV-1a (32 bit) of its canonical JSON,
    its decimal digits spelt in kube's SafeEncodeString alphabet."""
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"))
    if collision_count:
        data += str(collision_count)
    value = 0x811C9DC5
    for byte in data.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_ALPHABET[int(d)] for d in str(value))


def without_hash(template: Object) -> Object:
    out = copy.deepcopy(template or {})
    labels = (out.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return out


def find_new(deployment: Object, rss: list[Object]) -> Object | None:
    """The oldest ReplicaSet whose template equals the Deployment's, ignoring the hash."""
    wanted = without_hash(spec(deployment).get("template") or {})
    for rs in rss:
        if without_hash(spec(rs).get("template") or {}) == wanted:
            return rs
    return None


def revision(obj: Object | None) -> int:
    text = str(((obj or {}).get("metadata") or {}).get("annotations", {}).get(REVISION, ""))
    return int(text) if text.isdigit() else 0


def copied_annotations(deployment: Object) -> dict[str, str]:
    annotations = meta(deployment).get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in SKIPPED_ANNOTATIONS}


def new_replica_set(deployment: Object, replicas: int, max_replicas: int,
                    new_revision: int) -> Object:
    """The ReplicaSet `<deployment>-<hash>` for the Deployment's current template."""
    template = copy.deepcopy(spec(deployment).get("template") or {})
    pod_hash = template_hash(template, int((deployment.get("status") or {}).get(
        "collisionCount", 0) or 0))
    template_meta = template.setdefault("metadata", {})
    labels = {**(template_meta.get("labels") or {}), HASH_LABEL: pod_hash}
    template_meta["labels"] = labels
    selector = copy.deepcopy(spec(deployment).get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: pod_hash}
    annotations = {**copied_annotations(deployment), REVISION: str(new_revision),
                   DESIRED_REPLICAS: str(int(spec(deployment).get("replicas", 1))),
                   MAX_REPLICAS: str(max_replicas)}
    name = f"{meta(deployment).get('name', '')}-{pod_hash}"
    rs_spec: Object = {"replicas": replicas, "selector": selector, "template": template}
    if spec(deployment).get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec(deployment)["minReadySeconds"]
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": name, "namespace": meta(deployment).get("namespace", ""), "labels": labels,
        "annotations": annotations,
        "ownerReferences": [owner_reference("apps/v1", "Deployment", deployment)]},
        "spec": rs_spec}


def update_new_annotations(deployment: Object, rs: Object, new_revision: int) -> None:
    """Bring an existing new ReplicaSet's annotations up to date (kube's
    SetNewReplicaSetAnnotations): copied annotations, and a revision bump when the
    ReplicaSet is reused for a newer revision, remembering the old one in the history."""
    annotations = dict(meta(rs).get("annotations") or {})
    annotations.update(copied_annotations(deployment))
    old = revision(rs)
    if old < new_revision:
        if old:
            history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
            annotations[REVISION_HISTORY] = ",".join([*history, str(old)])
        annotations[REVISION] = str(new_revision)
    rs.setdefault("metadata", {})["annotations"] = annotations
    wanted = spec(deployment).get("minReadySeconds")
    if (spec(rs).get("minReadySeconds") or 0) != (wanted or 0):
        rs.setdefault("spec", {})["minReadySeconds"] = wanted or 0


def rollback_target(rss: list[Object], wanted: int) -> Object | None:
    """The ReplicaSet of revision `wanted`; 0 means the one before the latest."""
    if wanted == 0:
        revisions = sorted({revision(rs) for rs in rss if revision(rs)})
        if len(revisions) < 2:
            return None
        wanted = revisions[-2]
    return next((rs for rs in rss if revision(rs) == wanted), None)


def ref_of(rs: Object) -> ObjectRef:
    return _ref_of("replicasets", rs)
