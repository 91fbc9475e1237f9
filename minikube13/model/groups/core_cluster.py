"""core/v1 Namespace, Node and Event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import core
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    MICRO_TIME,
    NAME_COLUMN,
    OBJECT_REFERENCE,
    STRING_LIST,
    TIME,
    age,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import AnyValue, Arr, Map, Quantity, boolean, integer, string

Json = dict[str, Any]

# --- Namespace -------------------------------------------------------------------------------

NAMESPACE = top_level("io.k8s.api.core.v1.Namespace", "Namespace provides a scope for Names.", {
    "spec": core("NamespaceSpec", {"finalizers": Arr(items=string(), list_type="atomic")}),
    "status": core("NamespaceStatus", {
        "phase": string("Phase is the current lifecycle phase of the namespace.",
                        enum=("Active", "Terminating")),
        "conditions": Arr(items=AnyValue(), merge_key="type", strategy="merge")}),
})


def default_namespace(ns: Json) -> Json:
    ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    ns.setdefault("status", {}).setdefault("phase", "Active")
    return ns


def validate_namespace(ns: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    for i, finalizer in enumerate((ns.get("spec") or {}).get("finalizers") or []):
        out += v.check_value(f"spec.finalizers[{i}]", finalizer, v.qualified_name)
    return out


objects.register(KindSpec(
    storage="namespaces", schema=NAMESPACE, default=default_namespace,
    validate=validate_namespace,
    columns=(NAME_COLUMN, Column("Status", description="The status of the namespace"),
             AGE_COLUMN),
    cells=lambda ns, now: [name_of(ns), (ns.get("status") or {}).get("phase", ""),
                           object_age(ns, now)],
    field_labels=lambda ns: {"status.phase": (ns.get("status") or {}).get("phase", "")},
    extra={"on_create": lambda ns: dict(ns, status={"phase": "Active"}),
           "name_check": v.dns1123_label},
))

# --- Node -------------------------------------------------------------------------------------

TAINT = core("Taint", {"key": string(), "value": string(), "effect": string(),
                       "timeAdded": TIME}, required=("key", "effect"))
NODE = top_level("io.k8s.api.core.v1.Node", "Node is a worker node in Kubernetes.", {
    "spec": core("NodeSpec", {
        "podCIDR": string(), "podCIDRs": Arr(items=string(), strategy="merge"),
        "providerID": string(), "unschedulable": boolean(),
        "taints": Arr(items=TAINT, list_type="atomic"), "configSource": AnyValue(),
        "externalID": string()}),
    "status": core("NodeStatus", {
        "capacity": Map(values=Quantity()), "allocatable": Map(values=Quantity()),
        "phase": string(),
        "conditions": Arr(items=core("NodeCondition", {
            "type": string(), "status": string(), "lastHeartbeatTime": TIME,
            "lastTransitionTime": TIME, "reason": string(), "message": string()}),
            merge_key="type", strategy="merge", list_type="map", map_keys=("type",)),
        "addresses": Arr(items=core("NodeAddress", {"type": string(), "address": string()}),
                         merge_key="type", strategy="merge"),
        "daemonEndpoints": core("NodeDaemonEndpoints", {"kubeletEndpoint": core(
            "DaemonEndpoint", {"Port": integer()})}),
        "nodeInfo": core("NodeSystemInfo", {key: string() for key in (
            "machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
            "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
            "operatingSystem", "architecture")} | {"swap": AnyValue()}),
        "images": Arr(items=core("ContainerImage", {"names": STRING_LIST,
                                                    "sizeBytes": INT64})),
        "volumesInUse": STRING_LIST, "volumesAttached": Arr(items=AnyValue()),
        "config": AnyValue(), "runtimeHandlers": Arr(items=AnyValue()),
        "features": AnyValue()}),
})

_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def validate_node(node: Json, old: Json | None) -> list[FieldError]:
    out: list[FieldError] = []
    for i, taint in enumerate((node.get("spec") or {}).get("taints") or []):
        out += v.check_value(f"spec.taints[{i}].key", taint.get("key") or "", v.qualified_name)
        if taint.get("effect") not in _TAINT_EFFECTS:
            out.append(fe.not_supported(f"spec.taints[{i}].effect", taint.get("effect"),
                                        _TAINT_EFFECTS))
    return out


def _node_status(node: Json) -> str:
    conditions = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    text = "Unknown"
    if ready is not None:
        text = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node: Json) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = {k.split("/", 1)[1] for k in labels
             if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(roles)) or "<none>"


def _address(node: Json, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def node_cells(node: Json, now: datetime) -> list[Any]:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return [name_of(node), _node_status(node), _node_roles(node), object_age(node, now),
            info.get("kubeletVersion", ""), _address(node, "InternalIP"),
            _address(node, "ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


objects.register(KindSpec(
    storage="nodes", schema=NODE, validate=validate_node,
    columns=(NAME_COLUMN, Column("Status", description="The status of the node"),
             Column("Roles", description="The roles of the node"), AGE_COLUMN,
             Column("Version", description="Kubelet Version reported by the node."),
             Column("Internal-IP", priority=1, description="List of addresses reachable to "
                                                           "the node."),
             Column("External-IP", priority=1, description="List of addresses reachable to "
                                                           "the node."),
             Column("OS-Image", priority=1, description="OS Image reported by the node."),
             Column("Kernel-Version", priority=1, description="Kernel Version reported by "
                                                              "the node."),
             Column("Container-Runtime", priority=1, description="Container Runtime Version "
                                                                 "reported by the node.")),
    cells=node_cells,
    field_labels=lambda node: {"spec.unschedulable": "true" if (node.get("spec") or {}).get(
        "unschedulable") else "false"},
))

# --- Event ------------------------------------------------------------------------------------

EVENT_SOURCE = core("EventSource", {"component": string(), "host": string()})
EVENT = top_level("io.k8s.api.core.v1.Event", "Event is a report of an event somewhere in the "
                  "cluster.", {
                      "involvedObject": OBJECT_REFERENCE, "reason": string(),
                      "message": string(), "source": EVENT_SOURCE, "firstTimestamp": TIME,
                      "lastTimestamp": TIME, "count": integer(), "type": string(),
                      "eventTime": MICRO_TIME,
                      "series": core("EventSeries", {"count": integer(),
                                                     "lastObservedTime": MICRO_TIME}),
                      "action": string(), "related": OBJECT_REFERENCE,
                      "reportingComponent": string(), "reportingInstance": string(),
                  })


def validate_event(event: Json, old: Json | None) -> list[FieldError]:
    meta = event.get("metadata") or {}
    out: list[FieldError] = []
    involved = event.get("involvedObject") or {}
    if involved.get("namespace") and involved["namespace"] != meta.get("namespace"):
        out.append(fe.invalid("involvedObject.namespace", involved["namespace"],
                              "does not match event.namespace"))
    return out


def _source(event: Json) -> str:
    src = event.get("source") or {}
    component, host = src.get("component"), src.get("host")
    if not component:
        component, host = event.get("reportingComponent"), event.get("reportingInstance")
    if not component:
        return ""
    return f"{component}, {host}" if host else str(component)


def event_cells(event: Json, now: datetime) -> list[Any]:
    first = age(event.get("firstTimestamp") or event.get("eventTime"), now)
    last = age(event["lastTimestamp"], now) if event.get("lastTimestamp") else first
    count = event.get("count") or 1
    series = event.get("series")
    if isinstance(series, dict):
        last, count = age(series.get("lastObservedTime"), now), series.get("count") or 0
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last, event.get("type", ""), event.get("reason", ""), target,
            involved.get("fieldPath", ""), _source(event),
            str(event.get("message", "")).strip(), first, count, name_of(event)]


def event_field_labels(event: Json) -> dict[str, str]:
    involved = event.get("involvedObject") or {}
    labels = {f"involvedObject.{key}": str(involved.get(key) or "") for key in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    labels.update({
        "reason": event.get("reason") or "", "type": event.get("type") or "",
        "source": (event.get("source") or {}).get("component") or "",
        "reportingComponent": event.get("reportingComponent") or "",
    })
    return labels


objects.register(KindSpec(
    storage="events", schema=EVENT, validate=validate_event,
    columns=(Column("Last Seen", description="Time when this Event was last seen"),
             Column("Type", description="Type of this event (Normal, Warning)"),
             Column("Reason", description="This should be a short, machine understandable "
                                          "string that gives the reason for this event."),
             Column("Object", description="The object this Event is about"),
             Column("Subobject", priority=1, description="The subobject this Event is about"),
             Column("Source", priority=1, description="The component reporting this event."),
             Column("Message", description="A human-readable description of the status of "
                                           "this operation."),
             Column("First Seen", priority=1, description="The first time this Event was "
                                                          "seen"),
             Column("Count", priority=1, description="The number of times this event has "
                                                     "occurred."),
             Column("Name", "string", "name", priority=1, description="Name of the event")),
    cells=event_cells, field_labels=event_field_labels,
))
