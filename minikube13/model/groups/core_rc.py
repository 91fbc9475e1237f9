"""core/v1 ReplicationController, the 1.3-era way to keep N pods running."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import core
from minikube13.model.groups.core_pod import (
    POD_TEMPLATE_SPEC,
    default_pod_template,
    init_containers_from_annotations,
    init_containers_to_annotations,
    on_template,
    validate_pod_template,
)
from minikube13.model.groups.core_service import format_labels
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    NAME_COLUMN,
    STRING_MAP,
    TIME,
    dict_at,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import Arr, integer, string

Json = dict[str, Any]

RC = top_level("io.k8s.api.core.v1.ReplicationController", "ReplicationController represents "
               "the configuration of a replication controller.", {
                   "spec": core("ReplicationControllerSpec", {
                       "replicas": integer("Replicas is the number of desired replicas. "
                                           "Defaults to 1."),
                       "minReadySeconds": integer(),
                       "selector": STRING_MAP.with_description(
                           "Selector is a label query over pods that should match the "
                           "Replicas count. Defaults to the template's labels."),
                       "template": POD_TEMPLATE_SPEC}),
                   "status": core("ReplicationControllerStatus", {
                       "replicas": integer(), "fullyLabeledReplicas": integer(),
                       "readyReplicas": integer(), "availableReplicas": integer(),
                       "observedGeneration": INT64,
                       "conditions": Arr(items=core("ReplicationControllerCondition", {
                           "type": string(), "status": string(), "lastTransitionTime": TIME,
                           "reason": string(), "message": string()}),
                           merge_key="type", strategy="merge")}),
               })


def default_rc(rc: Json) -> Json:
    spec = rc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return rc
    spec.setdefault("replicas", 1)
    template = spec.get("template")
    labels = ((template or {}).get("metadata") or {}).get("labels") if isinstance(
        template, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = rc.setdefault("metadata", {})
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    default_pod_template(template)
    return rc


def validate_rc(rc: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    spec = dict_at(rc, "spec")
    out += v.validate_non_negative(spec.get("replicas"), "spec.replicas")
    out += v.validate_non_negative(spec.get("minReadySeconds"), "spec.minReadySeconds")
    selector = spec.get("selector") or {}
    if not selector:
        out.append(fe.required("spec.selector"))
    out += v.validate_selector_map(selector, "spec.selector")
    template = spec.get("template")
    if template is None:
        out.append(fe.required("spec.template"))
        return out
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != val for k, val in selector.items()):
        out.append(fe.invalid("spec.template.metadata.labels", labels,
                              "`selector` does not match template `labels`"))
    out += validate_pod_template(template, "spec.template")
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy and policy != "Always":
        out.append(fe.not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    return out


def _template_containers(spec: Json) -> list[Json]:
    return [c for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if isinstance(c, dict)]


def rc_cells(rc: Json, now: datetime) -> list[Any]:
    spec, status = rc.get("spec") or {}, rc.get("status") or {}
    containers = _template_containers(spec)
    return [name_of(rc), spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), object_age(rc, now),
            ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            format_labels(spec.get("selector"))]


objects.register(KindSpec(
    storage="replicationcontrollers", schema=RC, default=default_rc, validate=validate_rc,
    columns=(NAME_COLUMN,
             Column("Desired", "integer", description="Number of desired pods."),
             Column("Current", "integer", description="Number of actually running pods."),
             Column("Ready", "integer", description="Number of pods ready."), AGE_COLUMN,
             Column("Containers", priority=1, description="Names of each container in the "
                                                          "template."),
             Column("Images", priority=1, description="Images referenced by each container "
                                                      "in the template."),
             Column("Selector", priority=1, description="Label selector for pods.")),
    cells=rc_cells,
    field_labels=lambda rc: {"status.replicas": str((rc.get("status") or {}).get("replicas",
                                                                                  0))},
))
objects.TO_STORAGE[("v1", "ReplicationController")] = on_template(
    init_containers_from_annotations)
objects.FROM_STORAGE[("v1", "ReplicationController")] = on_template(
    init_containers_to_annotations)
