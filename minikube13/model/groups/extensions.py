"""extensions/v1beta1 Deployment and ReplicaSet: the 1.3 spellings, stored as apps/v1.

What differs from apps/v1, and how it is kept:
* the selector (and the object's labels, when it has none) default to the pod template's
  labels, as the 1.3 apiserver did; apps/v1 then checks the selector like any other;
* Deployment's `spec.rollbackTo: {revision}` has no apps/v1 field: it is stored in the
  `deprecated.deployment.rollback.to` annotation, as Kubernetes' own conversion does, and
  read back into `spec.rollbackTo` (the deployment controller acts on it and clears it);
* the other defaults are apps/v1's (RollingUpdate 25%/25%, revisionHistoryLimit 10,
  progressDeadlineSeconds 600), applied in storage whichever version wrote the object.
"""

from __future__ import annotations

import dataclasses

from minikube13.model import objects
from minikube13.model.groups import workload as w
from minikube13.model.groups.apps import (
    DEPLOYMENT,
    DEPLOYMENT_SPEC,
    REPLICA_SET,
    REPLICA_SET_SPEC,
    ROLLBACK_TO_ANNOTATION,
)
from minikube13.model.groups.meta import obj
from minikube13.model.objects import Object
from minikube13.model.schema import Obj, integer

V1BETA1 = "extensions/v1beta1"
_API = "io.k8s.api.extensions.v1beta1"
ROLLBACK_CONFIG = obj(f"{_API}.RollbackConfig", "DEPRECATED.", {
    "revision": integer("The revision to rollback to. If set to 0, rollback to the last "
                        "revision.", format="int64")})
# The served shapes: the selector is optional (it defaults), Deployment has rollbackTo.
DEPLOYMENT_V1BETA1: Obj = dataclasses.replace(DEPLOYMENT, fields={
    **DEPLOYMENT.fields,
    "spec": dataclasses.replace(DEPLOYMENT_SPEC, name=f"{_API}.DeploymentSpec",
                                required=("template",), fields={
        **DEPLOYMENT_SPEC.fields,
        "rollbackTo": ROLLBACK_CONFIG.with_description(
            "DEPRECATED. The config this deployment is rolling back to. Will be cleared "
            "after rollback is done.")}),
})
REPLICA_SET_V1BETA1: Obj = dataclasses.replace(REPLICA_SET, fields={
    **REPLICA_SET.fields,
    "spec": dataclasses.replace(REPLICA_SET_SPEC, name=f"{_API}.ReplicaSetSpec", required=()),
})
_template_in, _template_out = w.templates_in(("spec", "template"))


def _selector_defaults(obj: Object) -> Object:
    w.default_selector_from_template(obj)
    return obj


def _rollback_to_annotation(deployment: Object) -> Object:
    spec = w.section(deployment, "spec")
    rollback = spec.pop("rollbackTo", None)
    meta = w.ensure(deployment, "metadata")
    annotations: dict[str, str] = w.section(meta, "annotations")
    if isinstance(rollback, dict):
        revision = rollback.get("revision", 0)
        annotations = {**annotations, ROLLBACK_TO_ANNOTATION: str(revision)}
    else:
        annotations = {k: v for k, v in annotations.items() if k != ROLLBACK_TO_ANNOTATION}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return deployment


def _rollback_to_field(deployment: Object) -> Object:
    meta = w.section(deployment, "metadata")
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or ROLLBACK_TO_ANNOTATION not in annotations:
        return deployment
    rest = {k: v for k, v in annotations.items() if k != ROLLBACK_TO_ANNOTATION}
    text = str(annotations[ROLLBACK_TO_ANNOTATION])
    if rest:
        meta["annotations"] = rest
    else:
        meta.pop("annotations", None)
    revision = int(text) if text.isdigit() else 0
    w.ensure(deployment, "spec")["rollbackTo"] = {"revision": revision}
    return deployment


deployment_to_apps = w.chain(_template_in, _selector_defaults, _rollback_to_annotation)
deployment_from_apps = w.chain(_template_out, _rollback_to_field)
replica_set_to_apps = w.chain(_template_in, _selector_defaults)

objects.SERVED_SCHEMAS[(V1BETA1, "Deployment")] = DEPLOYMENT_V1BETA1
objects.TO_STORAGE[(V1BETA1, "Deployment")] = deployment_to_apps
objects.FROM_STORAGE[(V1BETA1, "Deployment")] = deployment_from_apps
objects.SERVED_SCHEMAS[(V1BETA1, "ReplicaSet")] = REPLICA_SET_V1BETA1
objects.TO_STORAGE[(V1BETA1, "ReplicaSet")] = replica_set_to_apps
objects.FROM_STORAGE[(V1BETA1, "ReplicaSet")] = _template_out
