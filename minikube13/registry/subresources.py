"""The `scale` and `binding` subresources as pure functions of the stored object.

Scale is autoscaling/v1 Scale (extensions/v1beta1 Scale for the extensions resources, whose
status.selector is a map and status.targetSelector the string form). A binding sets a pod's
spec.nodeName once, as the scheduler's POST pods/{name}/binding does.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model.kinds import ResourceInfo
from minikube13.model.selectors import SelectorError, from_label_selector, from_map
from minikube13.registry.errors import bad_request, conflict, invalid
from minikube13.registry.metadata import timestamp

Object = dict[str, Any]

_SCALE_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def scale_api_version(info: ResourceInfo) -> str:
    return "extensions/v1beta1" if info.group == "extensions" else "autoscaling/v1"


def _selector_of(obj: Object) -> tuple[str, dict[str, str] | None]:
    """(the selector as a string, as a plain map when it is only matchLabels)."""
    selector = (obj.get("spec") or {}).get("selector")
    if selector is None:
        return "", None
    try:
        if "matchLabels" in selector or "matchExpressions" in selector:
            parsed = from_label_selector(selector)
            only_labels = not selector.get("matchExpressions")
            return str(parsed), dict(selector.get("matchLabels") or {}) if only_labels else None
        return str(from_map(selector)), dict(selector)
    except (SelectorError, AttributeError, TypeError):
        return "", None


def scale_of(info: ResourceInfo, obj: Object) -> Object:
    """The Scale view of a stored object with spec.replicas."""
    meta = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    text, labels = _selector_of(obj)
    scale_status: Object = {"replicas": status.get("replicas", 0)}
    if info.group == "extensions":
        if labels is not None:
            scale_status["selector"] = labels
        if text:
            scale_status["targetSelector"] = text
    elif text:
        scale_status["selector"] = text
    return {
        "apiVersion": scale_api_version(info), "kind": "Scale",
        "metadata": {k: meta[k] for k in _SCALE_META if k in meta},
        "spec": {"replicas": spec.get("replicas", 0)} if "replicas" in spec else {},
        "status": scale_status,
    }


def apply_scale(info: ResourceInfo, obj: Object, scale: Any) -> Object:
    """The object with spec.replicas taken from a Scale body (422 for a bad count)."""
    if not isinstance(scale, dict):
        raise bad_request("the body of a scale update must be a Scale object")
    name = (obj.get("metadata") or {}).get("name", "")
    group = "extensions" if info.group == "extensions" else "autoscaling"
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        error = fe.type_invalid("spec.replicas", replicas, "integer")
        raise invalid(group, "Scale", name, f'Scale.{group} "{name}" is invalid: '
                      f"{error.message()}", [error])
    if replicas < 0:
        error = fe.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
        raise invalid(group, "Scale", name, f'Scale.{group} "{name}" is invalid: '
                      f"{error.message()}", [error])
    out = copy.deepcopy(obj)
    out.setdefault("spec", {})["replicas"] = replicas
    return out


def bind(pod: Object, binding: Any, now: datetime) -> Object:
    """The pod bound to the binding's target node (409 if it already has one)."""
    if not isinstance(binding, dict):
        raise bad_request("the body of a binding must be a Binding object")
    meta = pod.get("metadata") or {}
    name = meta.get("name", "")
    target = binding.get("target") or {}
    node = target.get("name") or ""
    if target.get("kind") not in (None, "", "Node"):
        error = fe.not_supported("target.kind", target.get("kind"), ["Node"])
        raise invalid("", "Binding", name, f'Binding "{name}" is invalid: {error.message()}',
                      [error])
    if not node:
        error = fe.required("target.name")
        raise invalid("", "Binding", name, f'Binding "{name}" is invalid: {error.message()}',
                      [error])
    if meta.get("deletionTimestamp"):
        raise conflict("", "pods/binding", name,
                       f"pod {name} is being deleted, cannot be assigned to a host")
    current = (pod.get("spec") or {}).get("nodeName")
    if current:
        raise conflict("", "pods/binding", name,
                       f'pod {name} is already assigned to node "{current}"')
    out = copy.deepcopy(pod)
    out.setdefault("spec", {})["nodeName"] = node
    annotations = (binding.get("metadata") or {}).get("annotations") or {}
    if annotations:
        out["metadata"].setdefault("annotations", {}).update(annotations)
    _set_scheduled(out.setdefault("status", {}), now)
    return out


def _set_scheduled(status: Object, now: datetime) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True",
                       "lastTransitionTime": timestamp(now)})
    status["conditions"] = conditions


def success_status(code: int) -> Object:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": code}
