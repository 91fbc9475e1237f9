"""core/v1 PersistentVolume and PersistentVolumeClaim."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import RESOURCE_REQUIREMENTS, core
from minikube13.model.groups.core_volume import PV_SOURCES, validate_access_modes
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    LABEL_SELECTOR,
    NAME_COLUMN,
    OBJECT_REFERENCE,
    STRING_LIST,
    TIME,
    dict_at,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import AnyValue, Arr, Map, Quantity, string

Json = dict[str, Any]

ACCESS_MODES = Arr(items=string(enum=("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce",
                                      "ReadWriteOncePod")), list_type="atomic")
PV = top_level("io.k8s.api.core.v1.PersistentVolume", "PersistentVolume (PV) is a storage "
               "resource provisioned by an administrator.", {
                   "spec": core("PersistentVolumeSpec", {
                       "capacity": Map(values=Quantity()), "accessModes": ACCESS_MODES,
                       "claimRef": OBJECT_REFERENCE,
                       "persistentVolumeReclaimPolicy": string(
                           enum=("Delete", "Recycle", "Retain")),
                       "storageClassName": string(), "mountOptions": STRING_LIST,
                       "volumeMode": string(enum=("Block", "Filesystem")),
                       "nodeAffinity": core("VolumeNodeAffinity", {"required": AnyValue()}),
                       "volumeAttributesClassName": string(),
                       **PV_SOURCES}),
                   "status": core("PersistentVolumeStatus", {
                       "phase": string(enum=("Available", "Bound", "Failed", "Pending",
                                             "Released")),
                       "message": string(), "reason": string(),
                       "lastPhaseTransitionTime": TIME}),
               })
PVC_SPEC = core("PersistentVolumeClaimSpec", {
    "accessModes": ACCESS_MODES, "selector": LABEL_SELECTOR,
    "resources": RESOURCE_REQUIREMENTS, "volumeName": string(), "storageClassName": string(),
    "volumeMode": string(enum=("Block", "Filesystem")), "dataSource": AnyValue(),
    "dataSourceRef": AnyValue(), "volumeAttributesClassName": string(),
})
PVC = top_level("io.k8s.api.core.v1.PersistentVolumeClaim", "PersistentVolumeClaim is a "
                "user's request for and claim to a persistent volume", {
                    "spec": PVC_SPEC,
                    "status": core("PersistentVolumeClaimStatus", {
                        "phase": string(enum=("Bound", "Lost", "Pending")),
                        "accessModes": ACCESS_MODES, "capacity": Map(values=Quantity()),
                        "conditions": Arr(items=AnyValue(), merge_key="type",
                                          strategy="merge"),
                        "allocatedResources": Map(values=Quantity()),
                        "allocatedResourceStatuses": AnyValue(),
                        "currentVolumeAttributesClassName": string(),
                        "modifyVolumeStatus": AnyValue()}),
                })

RECLAIM = ["Delete", "Recycle", "Retain"]
_ABBREVIATIONS = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                  "ReadWriteOncePod": "RWOP"}


def default_pv(pv: Json) -> Json:
    spec = pv.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
    return pv


def validate_pv(pv: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    spec = dict_at(pv, "spec")
    out += validate_access_modes(spec.get("accessModes"), "spec.accessModes")
    capacity = spec.get("capacity") or {}
    if "storage" not in capacity:
        out.append(fe.required("spec.capacity"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in RECLAIM:
        out.append(fe.not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM))
    sources = [key for key in PV_SOURCES if key in spec]
    if not sources:
        out.append(fe.required("spec", "must specify a volume type"))
    elif len(sources) > 1:
        out.append(fe.forbidden(f"spec.{sources[1]}", "may not specify more than 1 volume type"))
    for key in ("hostPath", "local"):
        if isinstance(spec.get(key), dict) and not spec[key].get("path"):
            out.append(fe.required(f"spec.{key}.path"))
    return out


def default_pvc(pvc: Json) -> Json:
    spec = pvc.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    return pvc


def validate_pvc(pvc: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    out += validate_pvc_spec(pvc.get("spec"), "spec")
    if old is not None:
        old_spec = old.get("spec") or {}
        spec = pvc.get("spec") or {}
        for key in ("accessModes", "selector", "storageClassName", "volumeMode"):
            if spec.get(key) != old_spec.get(key) and key in old_spec:
                out.append(fe.forbidden("spec", "spec is immutable after creation except "
                                        "resources.requests and volumeAttributesClassName for "
                                        "bound claims"))
                break
    return out


def validate_pvc_spec(spec: Any, path: str) -> list[FieldError]:
    """Also used for volumeClaimTemplates (PetSet/StatefulSet)."""
    spec = spec if isinstance(spec, dict) else {}
    out = validate_access_modes(spec.get("accessModes"), f"{path}.accessModes")
    requests = (spec.get("resources") or {}).get("requests") or {}
    if "storage" not in requests:
        out.append(fe.required(f"{path}.resources[storage]"))
    out += v.validate_label_selector(spec.get("selector"), f"{path}.selector")
    return out


def _modes(modes: Any) -> str:
    return ",".join(_ABBREVIATIONS.get(m, m) for m in modes or [])


def pv_cells(pv: Json, now: datetime) -> list[Any]:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    return [name_of(pv), (spec.get("capacity") or {}).get("storage", ""),
            _modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""),
            status.get("phase", ""), claim, spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", status.get("reason", ""),
            object_age(pv, now), spec.get("volumeMode", "")]


def pvc_cells(pvc: Json, now: datetime) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    return [name_of(pvc), status.get("phase", ""), spec.get("volumeName", ""),
            (status.get("capacity") or {}).get("storage", ""),
            _modes(status.get("accessModes")), spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", object_age(pvc, now),
            spec.get("volumeMode", "")]


_VAC = Column("VolumeAttributesClass", description="VolumeAttributesClass of the volume")
_MODE = Column("VolumeMode", priority=1, description="The volume mode")
_CLASS = Column("StorageClass", description="StorageClass of the pv")
_ACCESS = Column("Access Modes", description="All access modes the volume has.")

objects.register(KindSpec(
    storage="persistentvolumes", schema=PV, default=default_pv, validate=validate_pv,
    columns=(NAME_COLUMN, Column("Capacity", description="The capacity of the volume"),
             _ACCESS, Column("Reclaim Policy", description="What happens to a released "
                                                           "volume"),
             Column("Status", description="The phase of the volume"),
             Column("Claim", description="The claim bound to the volume"), _CLASS, _VAC,
             Column("Reason", description="Why the volume is in this phase"), AGE_COLUMN,
             _MODE),
    cells=pv_cells,
    extra={"on_create": lambda pv: dict(pv, status={"phase": "Pending"})},
))
objects.register(KindSpec(
    storage="persistentvolumeclaims", schema=PVC, default=default_pvc, validate=validate_pvc,
    columns=(NAME_COLUMN, Column("Status", description="The phase of the claim"),
             Column("Volume", description="The volume bound to the claim"),
             Column("Capacity", description="The capacity of the bound volume"), _ACCESS,
             _CLASS, _VAC, AGE_COLUMN, _MODE),
    cells=pvc_cells,
    extra={"on_create": lambda pvc: dict(pvc, status={"phase": "Pending"})},
))
