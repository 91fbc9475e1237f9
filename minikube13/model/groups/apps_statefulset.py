"""apps/v1 StatefulSet, and apps/v1alpha1 PetSet: its 1.3 name, stored as a StatefulSet.

A PetSet's status is served in its 1.3 shape, {observedGeneration, replicas}. Its spec is
served whole: the 1.3 fields {replicas, selector, template, volumeClaimTemplates, serviceName}
and whatever apps/v1 added (updateStrategy, podManagementPolicy...), because a PetSet written
back (PUT, PATCH, apply) must not reset what an apps/v1 client set; 1.3 clients ignore fields
they do not know. Its selector (and the object's labels) default to the template's labels, as
1.3 did; the later fields take the apps/v1 defaults in storage (podManagementPolicy
OrderedReady keeps 1.3's ordered start).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups import workload as w
from minikube13.model.groups.core_pod import POD_TEMPLATE_SPEC
from minikube13.model.groups.core_storage import PVC, default_pvc, validate_pvc_spec
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
from minikube13.model.schema import Arr, IntOrString, Schema, integer, string
from minikube13.model.validation import validate_labels

_API = "io.k8s.api.apps.v1"
POD_MANAGEMENT_POLICIES = ["OrderedReady", "Parallel"]
UPDATE_STRATEGIES = ["RollingUpdate", "OnDelete"]
RETENTION_POLICIES = ["Retain", "Delete"]

APPS_CONDITION: dict[str, Schema] = {
    "type": string(), "status": string(), "lastTransitionTime": TIME,
    "reason": string(), "message": string(),
}

STATEFUL_SET_SPEC = obj(f"{_API}.StatefulSetSpec", "A StatefulSetSpec is the specification of "
                        "a StatefulSet.", {
    "replicas": integer("replicas is the desired number of replicas of the given Template."),
    "selector": LABEL_SELECTOR.with_description("selector is a label query over pods that "
                                                "should match the replica count."),
    "template": POD_TEMPLATE_SPEC.with_description("template is the object that describes the "
                                                   "pod that will be created if insufficient "
                                                   "replicas are detected."),
    "volumeClaimTemplates": Arr(items=PVC, list_type="atomic",
                                description="volumeClaimTemplates is a list of claims that "
                                "pods are allowed to reference."),
    "serviceName": string("serviceName is the name of the service that governs this "
                          "StatefulSet."),
    "podManagementPolicy": string("podManagementPolicy controls how pods are created during "
                                  "initial scale up.", enum=tuple(POD_MANAGEMENT_POLICIES)),
    "updateStrategy": obj(f"{_API}.StatefulSetUpdateStrategy", "StatefulSetUpdateStrategy "
                          "indicates the strategy that the StatefulSet controller will use to "
                          "perform updates.", {
        "type": string(enum=tuple(UPDATE_STRATEGIES)),
        "rollingUpdate": obj(f"{_API}.RollingUpdateStatefulSetStrategy", "", {
            "partition": integer(), "maxUnavailable": IntOrString()}),
    }),
    "revisionHistoryLimit": integer("revisionHistoryLimit is the maximum number of revisions "
                                    "that will be maintained in the StatefulSet's revision "
                                    "history."),
    "minReadySeconds": integer(),
    "persistentVolumeClaimRetentionPolicy": obj(
        f"{_API}.StatefulSetPersistentVolumeClaimRetentionPolicy", "", {
            "whenDeleted": string(enum=tuple(RETENTION_POLICIES)),
            "whenScaled": string(enum=tuple(RETENTION_POLICIES))}),
    "ordinals": obj(f"{_API}.StatefulSetOrdinals", "", {"start": integer()}),
}, required=("selector", "template"))

STATEFUL_SET_STATUS = obj(f"{_API}.StatefulSetStatus", "StatefulSetStatus represents the "
                          "current state of a StatefulSet.", {
    "observedGeneration": INT64, "replicas": integer(), "readyReplicas": integer(),
    "currentReplicas": integer(), "updatedReplicas": integer(),
    "currentRevision": string(), "updateRevision": string(), "collisionCount": integer(),
    "availableReplicas": integer(),
    "conditions": Arr(items=obj(f"{_API}.StatefulSetCondition", "", APPS_CONDITION),
                      merge_key="type", strategy="merge"),
}, required=("replicas",))

STATEFUL_SET = top_level(f"{_API}.StatefulSet", "StatefulSet represents a set of pods with "
                         "consistent identities.", {
    "spec": STATEFUL_SET_SPEC.with_description("Spec defines the desired identities of pods "
                                               "in this set."),
    "status": STATEFUL_SET_STATUS,
})


_PET_SET_API = "io.k8s.api.apps.v1alpha1"
PET_SET = top_level(f"{_PET_SET_API}.PetSet", "PetSet represents a set of pods with consistent "
                    "identities (Kubernetes 1.3; StatefulSet today).", {
    "spec": obj(f"{_PET_SET_API}.PetSetSpec", "A PetSetSpec is the specification of a "
                "PetSet (the 1.3 fields first; the later StatefulSet ones are kept).", {
                    **{k: STATEFUL_SET_SPEC.fields[k] for k in (
                        "replicas", "selector", "template", "volumeClaimTemplates",
                        "serviceName")}, **STATEFUL_SET_SPEC.fields},
                required=("template", "serviceName")),
    "status": obj(f"{_PET_SET_API}.PetSetStatus", "PetSetStatus represents the current state "
                  "of a PetSet.", {"observedGeneration": INT64, "replicas": integer()},
                  required=("replicas",)),
})


# --- defaults -------------------------------------------------------------------------


def default_stateful_set(sts: Object) -> Object:
    out = copy.deepcopy(sts)
    spec = w.ensure(out, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    strategy = w.ensure(spec, "updateStrategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        rolling.setdefault("partition", 0)
    retention = w.ensure(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    w.default_template(spec.get("template"))
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            default_pvc(claim)
    return out


# --- validation -----------------------------------------------------------------------

_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
            "persistentVolumeClaimRetentionPolicy", "minReadySeconds")


def _validate_claim_templates(claims: list[Any], path: str) -> list[FieldError]:
    """Each claim template needs a name: the controller's claims are <name>-<set>-<ordinal>."""
    out: list[FieldError] = []
    for i, claim in enumerate(claims):
        claim = claim if isinstance(claim, dict) else {}
        meta = w.section(claim, "metadata")
        if not meta.get("name"):
            out.append(fe.required(f"{path}[{i}].metadata.name"))
        out += validate_labels(meta.get("labels"), f"{path}[{i}].metadata.labels")
        out += validate_pvc_spec(claim.get("spec"), f"{path}[{i}].spec")
    return out


def _validate_strategy(spec: w.Json) -> list[FieldError]:
    strategy = w.section(spec, "updateStrategy")
    kind = strategy.get("type")
    path = "spec.updateStrategy"
    if kind not in UPDATE_STRATEGIES:
        return [fe.not_supported(f"{path}.type", kind or "", UPDATE_STRATEGIES)] if kind else \
            [fe.required(f"{path}.type")]
    rolling = strategy.get("rollingUpdate")
    if kind == "OnDelete" and rolling is not None:
        return [fe.invalid(f"{path}.rollingUpdate", rolling,
                           "only allowed for updateStrategy 'RollingUpdate'")]
    if isinstance(rolling, dict):
        return w.non_negative(rolling, ("partition",), f"{path}.rollingUpdate")
    return []


def _validate_enums(spec: w.Json) -> list[FieldError]:
    out: list[FieldError] = []
    policy = spec.get("podManagementPolicy")
    if policy not in POD_MANAGEMENT_POLICIES:
        out.append(fe.not_supported("spec.podManagementPolicy", policy or "",
                                    POD_MANAGEMENT_POLICIES))
    retention = w.section(spec, "persistentVolumeClaimRetentionPolicy")
    for key in ("whenDeleted", "whenScaled"):
        if retention.get(key) not in RETENTION_POLICIES:
            out.append(fe.not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                                        retention.get(key, ""), RETENTION_POLICIES))
    return out


def validate_stateful_set(new: Object, old: Object | None) -> list[FieldError]:
    spec = w.section(new, "spec")
    out = w.non_negative(spec, ("replicas", "minReadySeconds", "revisionHistoryLimit"), "spec")
    out += w.non_negative(w.section(spec, "ordinals"), ("start",), "spec.ordinals")
    out += _validate_enums(spec)
    out += _validate_strategy(spec)
    out += w.validate_selector(spec, "spec", "statefulset")
    out += w.validate_controller_template(_with_claim_volumes(spec), "spec.template",
                                          "StatefulSet")
    out += _validate_claim_templates(spec.get("volumeClaimTemplates") or [],
                                     "spec.volumeClaimTemplates")
    if old is not None:
        out += _validate_update(spec, w.section(old, "spec"))
    return out


def _with_claim_volumes(spec: w.Json) -> Any:
    """The template as its pods will be: each claim template is a volume (claim
    <name>-<set>-<ordinal>), so containers may mount it by the template's name."""
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return template
    volumes = list(template["spec"].get("volumes") or [])
    known = {v.get("name") for v in volumes if isinstance(v, dict)}
    for claim in spec.get("volumeClaimTemplates") or []:
        name = w.section(claim if isinstance(claim, dict) else {}, "metadata").get("name")
        if name and name not in known:
            volumes.append({"name": name, "persistentVolumeClaim": {"claimName": name}})
    pod_spec = {**template["spec"], "volumes": volumes} if volumes else template["spec"]
    return {**template, "spec": pod_spec}


def _validate_update(spec: w.Json, old: w.Json) -> list[FieldError]:
    def fixed(s: w.Json) -> w.Json:
        return {k: v for k, v in s.items() if k not in _MUTABLE}
    if fixed(spec) == fixed(old):
        return []
    listed = ", ".join(f"'{k}'" for k in _MUTABLE[:-1])
    return [fe.forbidden("spec", f"updates to statefulset spec for fields other than {listed} "
                         f"and '{_MUTABLE[-1]}' are forbidden")]


# --- PetSet (apps/v1alpha1) <-> StatefulSet -------------------------------------------

_PET_SET_STATUS = ("observedGeneration", "replicas")
_template_in, _template_out = w.templates_in(("spec", "template"))


def pet_set_to_stateful_set(pet_set: Object) -> Object:
    """The 1.3 defaults (replicas 1, selector and labels from the template) happen here,
    where the object still is a PetSet; apps/v1 defaults the rest in storage."""
    out = _template_in(pet_set)
    w.default_selector_from_template(out)
    spec = w.ensure(out, "spec")
    spec.setdefault("replicas", 1)
    return out


def stateful_set_to_pet_set(sts: Object) -> Object:
    out = _template_out(sts)
    status = w.section(out, "status")
    if "status" in out:
        out["status"] = {k: status[k] for k in _PET_SET_STATUS if k in status}
        out["status"].setdefault("replicas", 0)
    return out


# --- printing -------------------------------------------------------------------------


def stateful_set_cells(sts: Object, now: datetime) -> list[Any]:
    template = w.section(sts, "spec").get("template")
    ready = f"{w.count(sts, 'status', 'readyReplicas')}/{w.count(sts, 'spec', 'replicas')}"
    return [name_of(sts), ready, object_age(sts, now), *w.container_cells(template)]


objects.register(KindSpec(
    "statefulsets", STATEFUL_SET, default=default_stateful_set, validate=validate_stateful_set,
    columns=(NAME_COLUMN, Column("Ready", description="Number of the pod with ready state"),
             AGE_COLUMN, w.CONTAINERS_COLUMN, w.IMAGES_COLUMN),
    cells=stateful_set_cells))

objects.TO_STORAGE[("apps/v1", "StatefulSet")] = _template_in
objects.FROM_STORAGE[("apps/v1", "StatefulSet")] = _template_out
objects.SERVED_SCHEMAS[("apps/v1alpha1", "PetSet")] = PET_SET
objects.TO_STORAGE[("apps/v1alpha1", "PetSet")] = pet_set_to_stateful_set
objects.FROM_STORAGE[("apps/v1alpha1", "PetSet")] = stateful_set_to_pet_set
