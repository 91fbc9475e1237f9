"""core/v1 Pod as a kind: status schema, create-time status, update rules, `kubectl get`
columns, field selectors and the 1.3 init-container conversion on the way in and out."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import RESOURCE_REQUIREMENTS, core, parse_quantity
from minikube13.model.groups.core_pod import (
    POD_SPEC,
    default_pod_spec,
    init_containers_from_annotations,
    init_containers_to_annotations,
    validate_init_annotations,
    validate_pod_spec,
)
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    NAME_COLUMN,
    TIME,
    age,
    dict_at,
    name_of,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec
from minikube13.model.schema import AnyValue, Arr, Map, Quantity, boolean, integer, string

Json = dict[str, Any]

CONTAINER_STATE = core("ContainerState", {
    "waiting": core("ContainerStateWaiting", {"reason": string(), "message": string()}),
    "running": core("ContainerStateRunning", {"startedAt": TIME}),
    "terminated": core("ContainerStateTerminated", {
        "exitCode": integer(), "signal": integer(), "reason": string(), "message": string(),
        "startedAt": TIME, "finishedAt": TIME, "containerID": string()}),
})
CONTAINER_STATUS = core("ContainerStatus", {
    "name": string(), "state": CONTAINER_STATE, "lastState": CONTAINER_STATE,
    "ready": boolean(), "restartCount": integer(), "image": string(), "imageID": string(),
    "containerID": string(), "started": boolean(),
    "allocatedResources": Map(values=Quantity()), "resources": RESOURCE_REQUIREMENTS,
    "volumeMounts": Arr(items=AnyValue()), "user": AnyValue(),
    "allocatedResourcesStatus": Arr(items=AnyValue()), "stopSignal": string(),
})
POD_CONDITION = core("PodCondition", {
    "type": string(), "status": string(), "observedGeneration": INT64,
    "lastProbeTime": TIME, "lastTransitionTime": TIME, "reason": string(), "message": string(),
})
POD_IP = core("PodIP", {"ip": string()})
POD_STATUS = core("PodStatus", {
    "phase": string("The phase of a Pod: Pending, Running, Succeeded, Failed or Unknown.",
                    enum=("Failed", "Pending", "Running", "Succeeded", "Unknown")),
    "conditions": Arr(items=POD_CONDITION, merge_key="type", strategy="merge",
                      list_type="map", map_keys=("type",)),
    "message": string(), "reason": string(), "nominatedNodeName": string(),
    "hostIP": string(), "hostIPs": Arr(items=core("HostIP", {"ip": string()})),
    "podIP": string(), "podIPs": Arr(items=POD_IP, merge_key="ip", strategy="merge"),
    "startTime": TIME, "observedGeneration": INT64,
    "initContainerStatuses": Arr(items=CONTAINER_STATUS, list_type="atomic"),
    "containerStatuses": Arr(items=CONTAINER_STATUS, list_type="atomic"),
    "ephemeralContainerStatuses": Arr(items=CONTAINER_STATUS, list_type="atomic"),
    "qosClass": string(enum=("BestEffort", "Burstable", "Guaranteed")),
    "resize": string(), "resourceClaimStatuses": Arr(items=AnyValue()),
})
POD = top_level(
    "io.k8s.api.core.v1.Pod",
    "Pod is a collection of containers that can run on a host.",
    {"spec": POD_SPEC, "status": POD_STATUS})


def qos_class(spec: Json) -> str:
    """Guaranteed when every container limits cpu and memory with requests equal to limits;
    BestEffort with no requests or limits at all; otherwise Burstable."""
    containers = [c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
                  if isinstance(c, dict)]
    any_set, guaranteed = False, True
    for container in containers:
        res = container.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if any(parse_quantity(q) for q in list(limits.values()) + list(requests.values())):
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or parse_quantity(requests.get(name, limits[name])) \
                    != parse_quantity(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: Json) -> Json:
    if isinstance(pod.get("spec"), dict):
        default_pod_spec(pod["spec"])
    return pod


def pod_on_create(pod: Json) -> Json:
    """A new pod's status is the server's: Pending, with its QoS class."""
    spec = dict_at(pod, "spec")
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    return pod


_MUTABLE_SPEC_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)")


def _masked_spec(spec: Json, old: Json) -> Json:
    masked = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        for container in masked.get(key) or []:
            container.pop("image", None)
    for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
        masked.pop(key, None)
    if not old.get("nodeName"):  # binding a pod sets its node once
        masked.pop("nodeName", None)
    return masked


def validate_pod(pod: Json, old: Json | None) -> list[FieldError]:
    meta = pod.get("metadata") or {}
    out: list[FieldError] = []
    out += validate_init_annotations(meta, "metadata")
    out += validate_pod_spec(pod.get("spec"), "spec")
    if old is not None:
        new_spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
        if _masked_spec(new_spec, old_spec) != _masked_spec(old_spec, old_spec):
            out.append(fe.forbidden("spec", _MUTABLE_SPEC_MESSAGE))
    return out


# --- kubectl get pods -----------------------------------------------------------------------

POD_COLUMNS = (
    NAME_COLUMN,
    Column("Ready", description="The aggregate readiness state of this pod for accepting "
                                "traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been "
                                   "restarted and when the last container in this pod has "
                                   "restarted."),
    AGE_COLUMN,
    Column("IP", priority=1, description="IP address allocated to the pod."),
    Column("Node", priority=1, description="Name of the node the pod is assigned to."),
    Column("Nominated Node", priority=1, description="Name of the node where the pod was "
                                                     "nominated to run."),
    Column("Readiness Gates", priority=1, description="The readiness gates of this pod."),
)


def _init_reason(status: Json, spec: Json) -> tuple[str | None, int]:
    """kubectl's walk over init container statuses: (reason if initializing, restarts)."""
    restarts = 0
    statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(statuses):
        restarts += int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if term is not None:
            if term.get("reason"):
                return "Init:" + term["reason"], restarts
            if term.get("signal"):
                return f"Init:Signal:{term['signal']}", restarts
            return f"Init:ExitCode:{term.get('exitCode', 0)}", restarts
        if wait is not None and wait.get("reason") and wait["reason"] != "PodInitializing":
            return "Init:" + wait["reason"], restarts
        return f"Init:{i}/{len(spec.get('initContainers') or [])}", restarts
    return None, restarts


def _condition_true(status: Json, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in status.get("conditions") or [])


def pod_cells(pod: Json, now: datetime) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    reason = status.get("reason") or status.get("phase") or ""
    init_reason, restarts = _init_reason(status, spec)
    if init_reason is not None:
        reason = init_reason
    ready, last_restart = 0, None
    if init_reason is None or _condition_true(status, "Initialized"):
        restarts, has_running = 0, False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
            if last and last.get("finishedAt") and (last_restart is None
                                                    or last["finishedAt"] > last_restart):
                last_restart = last["finishedAt"]
            term = state.get("terminated")
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = (f"Signal:{term['signal']}" if term.get("signal")
                          else f"ExitCode:{term.get('exitCode', 0)}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({age(last_restart, now)} ago)"
    return [name_of(pod), f"{ready}/{len(spec.get('containers') or [])}", reason,
            restarts_text, object_age(pod, now), *_wide_cells(spec, status)]


def _wide_cells(spec: Json, status: Json) -> list[str]:
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    gates_text = "<none>"
    if gates:
        true = sum(1 for g in gates if _condition_true(status, g.get("conditionType")))
        gates_text = f"{true}/{len(gates)}"
    return [ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            gates_text]


def pod_field_labels(pod: Json) -> dict[str, str]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ips = status.get("podIPs") or []
    return {
        "spec.nodeName": spec.get("nodeName") or "",
        "spec.restartPolicy": spec.get("restartPolicy") or "",
        "spec.schedulerName": spec.get("schedulerName") or "",
        "spec.serviceAccountName": spec.get("serviceAccountName") or "",
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": status.get("phase") or "",
        "status.podIP": (ips[0].get("ip") if ips else status.get("podIP")) or "",
        "status.nominatedNodeName": status.get("nominatedNodeName") or "",
    }


objects.register(KindSpec(
    storage="pods", schema=POD, default=default_pod, validate=validate_pod,
    columns=POD_COLUMNS, cells=pod_cells, field_labels=pod_field_labels,
    extra={"on_create": pod_on_create},
))
objects.TO_STORAGE[("v1", "Pod")] = init_containers_from_annotations
objects.FROM_STORAGE[("v1", "Pod")] = init_containers_to_annotations
