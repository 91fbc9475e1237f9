"""Schemas shared by every API group: ObjectMeta, ListMeta, LabelSelector, references.

The component names are Kubernetes' own (`io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`),
so `kubectl explain` and `kubectl apply` find what they expect. The printing helpers every
group's table needs are handed on from minikube13.model.printing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minikube13.model.printing import AGE_COLUMN as AGE_COLUMN
from minikube13.model.printing import NAME_COLUMN as NAME_COLUMN
from minikube13.model.printing import age as age
from minikube13.model.printing import default_cells as default_cells
from minikube13.model.printing import human_duration as human_duration
from minikube13.model.printing import name_of as name_of
from minikube13.model.printing import object_age as object_age
from minikube13.model.printing import parse_time as parse_time
from minikube13.model.schema import AnyValue, Arr, Map, Obj, Schema, boolean, integer, string

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"

STRING_LIST = Arr(items=string())
STRING_MAP = Map(values=string())
TIME = string("Time is a wrapper around time.Time which supports correct marshaling to "
              "YAML and JSON. RFC 3339 date and time at second precision.",
              format="date-time")
MICRO_TIME = string("MicroTime is version of Time with microsecond level precision.",
                    format="date-time")
INT64 = integer(format="int64")
DURATION = string("Duration is a wrapper around time.Duration, e.g. \"30s\".")


def obj(name: str, description: str, fields: Mapping[str, Schema],
        required: tuple[str, ...] = ()) -> Obj:
    """A named (component) object schema; `name` is the full OpenAPI component name."""
    return Obj(description=description, fields=dict(fields), name=name, required=required)


def dict_at(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] when it is an object, else an empty dict (for reading only)."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


OWNER_REFERENCE = obj(
    f"{META}.OwnerReference",
    "OwnerReference contains enough information to let you identify an owning object.",
    {
        "apiVersion": string("API version of the referent."),
        "kind": string("Kind of the referent."),
        "name": string("Name of the referent."),
        "uid": string("UID of the referent."),
        "controller": boolean("If true, this reference points to the managing controller."),
        "blockOwnerDeletion": boolean(
            "If true, AND if the owner has the \"foregroundDeletion\" finalizer, then the "
            "owner cannot be deleted from the key-value store until this reference is removed."),
    },
    required=("apiVersion", "kind", "name", "uid"),
)

MANAGED_FIELDS_ENTRY = obj(
    f"{META}.ManagedFieldsEntry",
    "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
    "that the fieldset applies to.",
    {
        "apiVersion": string(), "fieldsType": string(), "fieldsV1": AnyValue(),
        "manager": string(), "operation": string(), "subresource": string(), "time": TIME,
    },
)

OBJECT_META = obj(
    f"{META}.ObjectMeta",
    "ObjectMeta is metadata that all persisted resources must have, which includes all "
    "objects users must create.",
    {
        "name": string("Name must be unique within a namespace."),
        "generateName": string("An optional prefix, used by the server, to generate a unique "
                               "name ONLY IF the Name field has not been provided."),
        "namespace": string("Namespace defines the space within which each name must be "
                            "unique."),
        "selfLink": string("Deprecated: selfLink is a legacy read-only field."),
        "uid": string("UID is the unique in time and space value for this object."),
        "resourceVersion": string("An opaque value that represents the internal version of "
                                  "this object."),
        "generation": INT64.with_description(
            "A sequence number representing a specific generation of the desired state."),
        "creationTimestamp": TIME.with_description(
            "CreationTimestamp is a timestamp representing the server time when this object "
            "was created."),
        "deletionTimestamp": TIME.with_description(
            "DeletionTimestamp is RFC 3339 date and time at which this resource will be "
            "deleted."),
        "deletionGracePeriodSeconds": INT64.with_description(
            "Number of seconds allowed for this object to gracefully terminate."),
        "labels": STRING_MAP.with_description(
            "Map of string keys and values that can be used to organize and categorize "
            "(scope and select) objects."),
        "annotations": STRING_MAP.with_description(
            "Annotations is an unstructured key value map stored with a resource."),
        "ownerReferences": Arr(items=OWNER_REFERENCE, merge_key="uid", strategy="merge",
                               list_type="map", map_keys=("uid",),
                               description="List of objects depended by this object."),
        "finalizers": Arr(items=string(), strategy="merge", list_type="set",
                          description="Must be empty before the object is deleted from the "
                                      "registry."),
        "managedFields": Arr(items=MANAGED_FIELDS_ENTRY, list_type="atomic"),
        "clusterName": string("The name of the cluster which the object belongs to "
                              "(1.3-era field, kept for old clients)."),
    },
)

LIST_META = obj(
    f"{META}.ListMeta",
    "ListMeta describes metadata that synthetic resources must have, including lists.",
    {
        "selfLink": string(), "resourceVersion": string(), "continue": string(),
        "remainingItemCount": INT64,
    },
)

LABEL_SELECTOR_REQUIREMENT = obj(
    f"{META}.LabelSelectorRequirement",
    "A label selector requirement is a selector that contains values, a key, and an "
    "operator that relates the key and values.",
    {
        "key": string("key is the label key that the selector applies to."),
        "operator": string("operator represents a key's relationship to a set of values. "
                           "Valid operators are In, NotIn, Exists and DoesNotExist."),
        "values": Arr(items=string(), list_type="atomic"),
    },
    required=("key", "operator"),
)

LABEL_SELECTOR = obj(
    f"{META}.LabelSelector",
    "A label selector is a label query over a set of resources.",
    {
        "matchLabels": STRING_MAP.with_description("matchLabels is a map of {key,value} pairs."),
        "matchExpressions": Arr(items=LABEL_SELECTOR_REQUIREMENT, list_type="atomic"),
    },
)

CONDITION = obj(
    f"{META}.Condition",
    "Condition contains details for one aspect of the current state of this API Resource.",
    {
        "type": string(), "status": string(), "observedGeneration": INT64,
        "lastTransitionTime": TIME, "reason": string(), "message": string(),
    },
    required=("type", "status", "lastTransitionTime", "reason", "message"),
)

OBJECT_REFERENCE = obj(
    f"{CORE}.ObjectReference",
    "ObjectReference contains enough information to let you inspect or modify the referred "
    "object.",
    {
        "kind": string(), "namespace": string(), "name": string(), "uid": string(),
        "apiVersion": string(), "resourceVersion": string(), "fieldPath": string(),
    },
)

LOCAL_OBJECT_REFERENCE = obj(
    f"{CORE}.LocalObjectReference",
    "LocalObjectReference contains enough information to let you locate the referenced "
    "object inside the same namespace.",
    {"name": string("Name of the referent.")},
)


def top_level(name: str, description: str, fields: Mapping[str, Schema]) -> Obj:
    """A kind's top-level schema: apiVersion, kind, metadata, then its own fields."""
    head: dict[str, Schema] = {
        "apiVersion": string("APIVersion defines the versioned schema of this representation "
                             "of an object."),
        "kind": string("Kind is a string value representing the REST resource this object "
                       "represents."),
        "metadata": OBJECT_META,
    }
    return Obj(description=description, fields={**head, **fields}, name=name)
