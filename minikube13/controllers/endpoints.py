"""The endpoints controller's decisions (pure), like kube-controller-manager's.

For every Service with a selector, the Endpoints of the same name list the pods the
selector matches: ready pods under `addresses`, the others under `notReadyAddresses`
(all under `addresses` when the Service has `publishNotReadyAddresses` or the 1.3 annotation
`service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"`). Each service port's
`targetPort` is resolved per pod (a name through the pod's container ports), and pods with
the same resolved ports share one subset. Services without a selector keep their manual
Endpoints; Endpoints this controller wrote are deleted with their Service.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    ReplaceObject,
    View,
)
from minikube13.controllers.object_cache import ObjectCache
from minikube13.model.selectors import from_map

Object = dict[str, Any]
PortKey = tuple[str, int, str]  # (service port name, resolved port, protocol)

# Marks Endpoints written by this controller (kube sets it on the ones it manages too).
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
TERMINATED = ("Succeeded", "Failed")


def _meta(obj: Object) -> Object:
    return obj.get("metadata") or {}


def reconcile(key: ObjectRef, view: View, now: datetime) -> list[Action]:
    """The write that makes the Endpoints of the Service at `key` match its pods (an
    empty selector counts as none, as an empty map does in the apiserver)."""
    service = view.get(key)
    current = view.get(ObjectRef("endpoints", key.namespace, key.name))
    if service is None or _meta(service).get("deletionTimestamp"):
        if current is not None and TRIGGER_TIME in (_meta(current).get("annotations") or {}):
            return [DeleteObject(ObjectRef("endpoints", key.namespace, key.name,
                                           _meta(current).get("uid", "")), "Background")]
        return []
    spec = service.get("spec") or {}
    if not spec.get("selector") or spec.get("type") == "ExternalName":
        return []
    pods = [p for p in view.objects("pods", key.namespace)
            if from_map(spec["selector"]).matches(_meta(p).get("labels") or {})]
    subsets = endpoint_subsets(service, pods)
    labels = dict(_meta(service).get("labels") or {})
    if current is not None and current.get("subsets", []) == subsets and \
            (_meta(current).get("labels") or {}) == labels and \
            TRIGGER_TIME in (_meta(current).get("annotations") or {}):
        return []
    return [_write(key, current, subsets, labels, now)]


def _write(key: ObjectRef, current: Object | None, subsets: list[Object],
           labels: dict[str, str], now: datetime) -> Action:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    if current is None:
        meta: Object = {"name": key.name, "namespace": key.namespace,
                        "annotations": {TRIGGER_TIME: stamp}}
        if labels:
            meta["labels"] = labels
        return CreateObject("endpoints", key.namespace, {
            "apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets})
    meta = dict(_meta(current))
    meta["annotations"] = {**(meta.get("annotations") or {}), TRIGGER_TIME: stamp}
    meta["labels"] = labels
    if not labels:
        meta.pop("labels")
    replaced = {**current, "metadata": meta, "subsets": subsets}
    return ReplaceObject(ObjectRef("endpoints", key.namespace, key.name,
                                   meta.get("uid", "")), replaced)


def endpoint_subsets(service: Object, pods: list[Object]) -> list[Object]:
    """The subsets for `service` over the pods its selector matched (sorted, repacked)."""
    spec = service.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    headless_no_ports = not ports and spec.get("clusterIP") == "None"
    tolerate = bool(spec.get("publishNotReadyAddresses")) or \
        (_meta(service).get("annotations") or {}).get(TOLERATE_UNREADY) == "true"
    groups: dict[tuple[PortKey, ...], tuple[list[Object], list[Object]]] = {}
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or _meta(pod).get("deletionTimestamp") or \
                (pod.get("status") or {}).get("phase") in TERMINATED:
            continue
        resolved = tuple(k for k in (_resolve(p, pod) for p in ports) if k is not None)
        if not resolved and not headless_no_ports:
            continue
        ready, not_ready = groups.setdefault(resolved, ([], []))
        (ready if tolerate or is_ready(pod) else not_ready).append(address(service, pod))
    return [_subset(key, ready, not_ready) for key, (ready, not_ready) in sorted(groups.items())]


def _subset(ports: tuple[PortKey, ...], ready: list[Object],
            not_ready: list[Object]) -> Object:
    subset: Object = {}
    if ready:
        subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
    if not_ready:
        subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
    if ports:
        subset["ports"] = [{"name": name, "port": port, "protocol": protocol} if name else
                           {"port": port, "protocol": protocol}
                           for name, port, protocol in ports]
    return subset


def _resolve(port: Object, pod: Object) -> PortKey | None:
    """The pod's port for one service port: a number as is, a name through the pod's
    container ports (same protocol); None when the pod has no such port."""
    protocol = str(port.get("protocol") or "TCP")
    target = port.get("targetPort", port.get("port"))
    name = str(port.get("name") or "")
    if isinstance(target, int) and not isinstance(target, bool):
        return name, target, protocol
    if isinstance(target, str) and target.isdigit():
        return name, int(target), protocol
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cport in container.get("ports") or []:
            if cport.get("name") == target and (cport.get("protocol") or "TCP") == protocol:
                return name, int(cport["containerPort"]), protocol
    return None


def is_ready(pod: Object) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def address(service: Object, pod: Object) -> Object:
    """An EndpointAddress for `pod`: its IP, node, a reference to it and, when the pod
    names this Service as its subdomain, its hostname (the PetSet DNS identity)."""
    meta, spec = _meta(pod), pod.get("spec") or {}
    out: Object = {"ip": pod["status"]["podIP"]}
    if spec.get("hostname") and spec.get("subdomain") == _meta(service).get("name"):
        out["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        out["nodeName"] = spec["nodeName"]
    out["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""),
                        "name": meta.get("name", ""), "uid": meta.get("uid", "")}
    return out


def related(storage: str, obj: Object, deleted: bool, cache: ObjectCache) -> list[Hashable]:
    """A pod concerns the Services of its namespace that select it; an Endpoints its
    Service (so a stray edit is put right)."""
    meta = _meta(obj)
    namespace = meta.get("namespace") or ""
    if storage == "endpoints":
        return [ObjectRef("services", namespace, meta.get("name", ""))]
    if storage != "pods":
        return []
    labels = meta.get("labels") or {}
    return [ObjectRef("services", namespace, s["metadata"]["name"])
            for s in cache.objects("services", namespace)
            if (s.get("spec") or {}).get("selector")
            and from_map(s["spec"]["selector"]).matches(labels)]
