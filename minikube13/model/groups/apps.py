"""apps/v1 Deployment and ReplicaSet, the stored form of extensions/v1beta1's as well.

apps/v1 requires a selector that matches the template's labels and never changes; the
v1beta1 spellings (see extensions.py) default the selector from the template instead.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups import workload as w
from minikube13.model.groups.apps_statefulset import APPS_CONDITION
from minikube13.model.groups.core_pod import POD_TEMPLATE_SPEC
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    LABEL_SELECTOR,
    NAME_COLUMN,
    TIME,
    name_of,
    obj,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import Arr, IntOrString, boolean, integer, string
from minikube13.model.validation import validate_immutable

_API = "io.k8s.api.apps.v1"
STRATEGIES = ["Recreate", "RollingUpdate"]
# Where apps/v1 keeps extensions/v1beta1's spec.rollbackTo.revision (as Kubernetes does).
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"

_SELECTOR = LABEL_SELECTOR.with_description(
    "Label selector for pods. It must match the pod template's labels.")
_TEMPLATE = POD_TEMPLATE_SPEC.with_description(
    "Template describes the pods that will be created.")

DEPLOYMENT_SPEC = obj(f"{_API}.DeploymentSpec", "DeploymentSpec is the specification of the "
                      "desired behavior of the Deployment.", {
    "replicas": integer("Number of desired pods. Defaults to 1."),
    "selector": _SELECTOR,
    "template": _TEMPLATE,
    "strategy": obj(f"{_API}.DeploymentStrategy", "DeploymentStrategy describes how to "
                    "replace existing pods with new ones.", {
        "type": string("Type of deployment. Can be \"Recreate\" or \"RollingUpdate\". Default "
                       "is RollingUpdate.", enum=tuple(STRATEGIES)),
        "rollingUpdate": obj(f"{_API}.RollingUpdateDeployment", "Spec to control the desired "
                             "behavior of rolling update.", {
            "maxUnavailable": IntOrString(description="The maximum number of pods that can be "
                                          "unavailable during the update. Defaults to 25%."),
            "maxSurge": IntOrString(description="The maximum number of pods that can be "
                                    "scheduled above the desired number of pods. Defaults to "
                                    "25%."),
        }),
    }),
    "minReadySeconds": integer(),
    "revisionHistoryLimit": integer("The number of old ReplicaSets to retain to allow "
                                    "rollback. Defaults to 10."),
    "paused": boolean("Indicates that the deployment is paused."),
    "progressDeadlineSeconds": integer("The maximum time in seconds for a deployment to make "
                                       "progress before it is considered to be failed. "
                                       "Defaults to 600s."),
}, required=("selector", "template"))

DEPLOYMENT_STATUS = obj(f"{_API}.DeploymentStatus", "DeploymentStatus is the most recently "
                        "observed status of the Deployment.", {
    "observedGeneration": INT64, "replicas": integer(), "updatedReplicas": integer(),
    "readyReplicas": integer(), "availableReplicas": integer(),
    "unavailableReplicas": integer(), "terminatingReplicas": integer(),
    "collisionCount": integer(),
    "conditions": Arr(items=obj(f"{_API}.DeploymentCondition", "", {
        **APPS_CONDITION, "lastUpdateTime": TIME}), merge_key="type", strategy="merge"),
})

REPLICA_SET_SPEC = obj(f"{_API}.ReplicaSetSpec", "ReplicaSetSpec is the specification of a "
                       "ReplicaSet.", {
    "replicas": integer("Replicas is the number of desired pods. Defaults to 1."),
    "minReadySeconds": integer(),
    "selector": _SELECTOR,
    "template": _TEMPLATE,
}, required=("selector",))

REPLICA_SET_STATUS = obj(f"{_API}.ReplicaSetStatus", "ReplicaSetStatus represents the current "
                         "status of a ReplicaSet.", {
    "replicas": integer(), "fullyLabeledReplicas": integer(), "readyReplicas": integer(),
    "availableReplicas": integer(), "terminatingReplicas": integer(),
    "observedGeneration": INT64,
    "conditions": Arr(items=obj(f"{_API}.ReplicaSetCondition", "", APPS_CONDITION),
                      merge_key="type", strategy="merge"),
}, required=("replicas",))

DEPLOYMENT = top_level(f"{_API}.Deployment", "Deployment enables declarative updates for Pods "
                       "and ReplicaSets.", {"spec": DEPLOYMENT_SPEC, "status": DEPLOYMENT_STATUS})
REPLICA_SET = top_level(f"{_API}.ReplicaSet", "ReplicaSet ensures that a specified number of "
                        "pod replicas are running at any given time.",
                        {"spec": REPLICA_SET_SPEC, "status": REPLICA_SET_STATUS})


# --- defaults -------------------------------------------------------------------------


def default_deployment(deployment: Object) -> Object:
    out = copy.deepcopy(deployment)
    spec = w.ensure(out, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = w.ensure(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = w.ensure(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    w.default_template(spec.get("template"))
    return out


def default_replica_set(replica_set: Object) -> Object:
    out = copy.deepcopy(replica_set)
    spec = w.ensure(out, "spec")
    spec.setdefault("replicas", 1)
    w.default_template(spec.get("template"))
    return out


# --- validation -----------------------------------------------------------------------


def _validate_rolling_update(rolling: w.Json, path: str) -> list[FieldError]:
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    out = w.validate_int_or_percent(unavailable, f"{path}.maxUnavailable")
    out += w.validate_int_or_percent(surge, f"{path}.maxSurge")
    if w.int_or_percent(unavailable) in (0, None) and w.int_or_percent(surge) in (0, None):
        out.append(fe.invalid(f"{path}.maxUnavailable", unavailable if unavailable is not None
                              else 0, "may not be 0 when `maxSurge` is 0"))
    if isinstance(unavailable, str) and (w.int_or_percent(unavailable) or 0) > 100:
        out.append(fe.invalid(f"{path}.maxUnavailable", unavailable,
                              "must not be greater than 100%"))
    return out


def _validate_strategy(strategy: w.Json, path: str) -> list[FieldError]:
    kind, rolling = strategy.get("type"), strategy.get("rollingUpdate")
    if kind == "Recreate":
        if rolling is not None:
            return [fe.forbidden(f"{path}.rollingUpdate", "may not be specified when strategy "
                                 "`type` is 'Recreate'")]
        return []
    if kind == "RollingUpdate":
        if not isinstance(rolling, dict):
            return [fe.required(f"{path}.rollingUpdate",
                                "this should be defaulted and never be nil")]
        return _validate_rolling_update(rolling, f"{path}.rollingUpdate")
    return [fe.not_supported(path, strategy, STRATEGIES)]


def _validate_rollback(deployment: Object) -> list[FieldError]:
    annotations = w.section(deployment, "metadata").get("annotations") or {}
    revision = annotations.get(ROLLBACK_TO_ANNOTATION)
    if revision is None or (revision.isdigit()):
        return []
    return [fe.invalid("spec.rollbackTo.revision", revision,
                       "must be greater than or equal to 0")]


def validate_deployment(new: Object, old: Object | None) -> list[FieldError]:
    spec = w.section(new, "spec")
    out = w.non_negative(spec, ("replicas", "minReadySeconds", "revisionHistoryLimit",
                                "progressDeadlineSeconds"), "spec")
    out += w.validate_selector(spec, "spec", "deployment")
    out += w.validate_controller_template(spec.get("template"), "spec.template", "ReplicaSet")
    out += _validate_strategy(w.section(spec, "strategy"), "spec.strategy")
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if w.is_int(deadline) and w.is_int(ready) and deadline <= ready:
        out.append(fe.invalid("spec.progressDeadlineSeconds", deadline,
                              "must be greater than minReadySeconds"))
    out += _validate_rollback(new)
    if old is not None:
        out += validate_immutable(spec.get("selector"), w.section(old, "spec").get("selector"),
                                  "spec.selector")
    return out


def validate_replica_set(new: Object, old: Object | None) -> list[FieldError]:
    spec = w.section(new, "spec")
    out = w.non_negative(spec, ("replicas", "minReadySeconds"), "spec")
    out += w.validate_selector(spec, "spec", "deployment")  # sic: the apiserver's wording
    out += w.validate_controller_template(spec.get("template"), "spec.template", "ReplicaSet")
    if old is not None:
        out += validate_immutable(spec.get("selector"), w.section(old, "spec").get("selector"),
                                  "spec.selector")
    return out


# --- printing and field selectors -----------------------------------------------------


def deployment_cells(deployment: Object, now: datetime) -> list[Any]:
    spec = w.section(deployment, "spec")
    ready = f"{w.count(deployment, 'status', 'readyReplicas')}/{w.count(deployment, 'spec', 'replicas')}"
    return [name_of(deployment), ready, w.count(deployment, "status", "updatedReplicas"),
            w.count(deployment, "status", "availableReplicas"), object_age(deployment, now),
            *w.container_cells(spec.get("template")), w.format_selector(spec.get("selector"))]


def replica_set_cells(replica_set: Object, now: datetime) -> list[Any]:
    spec = w.section(replica_set, "spec")
    return [name_of(replica_set), w.count(replica_set, "spec", "replicas"),
            w.count(replica_set, "status", "replicas"),
            w.count(replica_set, "status", "readyReplicas"), object_age(replica_set, now),
            *w.container_cells(spec.get("template")), w.format_selector(spec.get("selector"))]


def replica_set_fields(replica_set: Object) -> dict[str, str]:
    return {"status.replicas": str(w.count(replica_set, "status", "replicas"))}


_DEPLOYMENT_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="Number of the pod with ready state"),
    Column("Up-to-date", "integer", description="Total number of non-terminated pods targeted "
           "by this deployment that have the desired template spec."),
    Column("Available", "integer", description="Total number of available pods (ready for at "
           "least minReadySeconds) targeted by this deployment."),
    AGE_COLUMN, w.CONTAINERS_COLUMN, w.IMAGES_COLUMN,
    w.selector_column("Label selector for pods. Existing ReplicaSets whose pods are selected "
                      "by this will be the ones affected by this deployment."),
)
_REPLICA_SET_COLUMNS = (
    NAME_COLUMN,
    Column("Desired", "integer", description="Replicas is the number of desired replicas."),
    Column("Current", "integer", description="Replicas is the most recently observed number "
           "of replicas."),
    Column("Ready", "integer", description="readyReplicas is the number of pods targeted by "
           "this ReplicaSet with a Ready Condition."),
    AGE_COLUMN, w.CONTAINERS_COLUMN, w.IMAGES_COLUMN,
    w.selector_column("Selector is a label query over pods that should match the replica "
                      "count."),
)

objects.register(KindSpec("deployments", DEPLOYMENT, default=default_deployment,
                          validate=validate_deployment, columns=_DEPLOYMENT_COLUMNS,
                          cells=deployment_cells))
objects.register(KindSpec("replicasets", REPLICA_SET, default=default_replica_set,
                          validate=validate_replica_set, columns=_REPLICA_SET_COLUMNS,
                          cells=replica_set_cells, field_labels=replica_set_fields))

_template_in, _template_out = w.templates_in(("spec", "template"))
for _kind in ("Deployment", "ReplicaSet"):
    objects.TO_STORAGE[("apps/v1", _kind)] = _template_in
    objects.FROM_STORAGE[("apps/v1", _kind)] = _template_out
