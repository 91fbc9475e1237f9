"""core/v1 PodSpec and PodTemplateSpec: schema, defaults, validation, 1.3 init containers.

Every group with a pod template (ReplicationController, ReplicaSet, Deployment, PetSet, Job,
ScheduledJob) reuses these: POD_TEMPLATE_SPEC in its schema, default_pod_spec and
validate_pod_spec on `spec.template.spec`, and the init-container annotation converters on
`spec.template` in its TO_STORAGE / FROM_STORAGE functions.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import (
    CONTAINER,
    RESOURCE_REQUIREMENTS,
    SE_LINUX,
    SECCOMP,
    core,
    default_container,
    keyed,
    validate_container,
)
from minikube13.model.groups.core_volume import VOLUME, default_volume, validate_volumes
from minikube13.model.groups.meta import (
    INT64,
    LOCAL_OBJECT_REFERENCE,
    OBJECT_META,
    STRING_LIST,
    STRING_MAP,
)
from minikube13.model.schema import AnyValue, Arr, Map, Quantity, boolean, integer, string

Json = dict[str, Any]

TOLERATION = core("Toleration", {
    "key": string(), "operator": string(enum=("Equal", "Exists")), "value": string(),
    "effect": string(enum=("NoExecute", "NoSchedule", "PreferNoSchedule")),
    "tolerationSeconds": INT64,
})
POD_SECURITY_CONTEXT = core("PodSecurityContext", {
    "seLinuxOptions": SE_LINUX, "windowsOptions": AnyValue(), "runAsUser": INT64,
    "runAsGroup": INT64, "runAsNonRoot": boolean(), "supplementalGroups": Arr(items=INT64),
    "supplementalGroupsPolicy": string(), "fsGroup": INT64,
    "sysctls": Arr(items=core("Sysctl", {"name": string(), "value": string()})),
    "fsGroupChangePolicy": string(), "seccompProfile": SECCOMP,
    "appArmorProfile": AnyValue(), "seLinuxChangePolicy": string(),
})
AFFINITY = core("Affinity", {
    "nodeAffinity": AnyValue(), "podAffinity": AnyValue(), "podAntiAffinity": AnyValue()},
    "Affinity is a group of affinity scheduling rules.")
POD_SPEC = core("PodSpec", {
    "volumes": keyed(VOLUME, "name"),
    "initContainers": keyed(CONTAINER, "name").with_description(
        "List of initialization containers belonging to the pod, run in order before the "
        "app containers (1.3: annotation pod.alpha.kubernetes.io/init-containers)."),
    "containers": keyed(CONTAINER, "name").with_description(
        "List of containers belonging to the pod."),
    "ephemeralContainers": Arr(items=AnyValue()),
    "restartPolicy": string("Restart policy for all containers within the pod. One of "
                            "Always, OnFailure, Never. Default to Always.",
                            enum=("Always", "Never", "OnFailure")),
    "terminationGracePeriodSeconds": INT64, "activeDeadlineSeconds": INT64,
    "dnsPolicy": string("Set DNS policy for the pod. Defaults to \"ClusterFirst\".",
                        enum=("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")),
    "nodeSelector": STRING_MAP, "serviceAccountName": string(),
    "serviceAccount": string("Deprecated alias of serviceAccountName."),
    "automountServiceAccountToken": boolean(), "nodeName": string(),
    "hostNetwork": boolean(), "hostPID": boolean(), "hostIPC": boolean(),
    "shareProcessNamespace": boolean(), "securityContext": POD_SECURITY_CONTEXT,
    "imagePullSecrets": keyed(LOCAL_OBJECT_REFERENCE, "name"),
    "hostname": string(), "subdomain": string(), "affinity": AFFINITY,
    "schedulerName": string(), "tolerations": Arr(items=TOLERATION, list_type="atomic"),
    "hostAliases": keyed(core("HostAlias", {"ip": string(), "hostnames": STRING_LIST}), "ip"),
    "priorityClassName": string(), "priority": integer(),
    "dnsConfig": core("PodDNSConfig", {
        "nameservers": STRING_LIST, "searches": STRING_LIST,
        "options": Arr(items=core("PodDNSConfigOption", {"name": string(), "value": string()}))}),
    "readinessGates": Arr(items=core("PodReadinessGate", {"conditionType": string()})),
    "runtimeClassName": string(), "enableServiceLinks": boolean(),
    "preemptionPolicy": string(), "overhead": Map(values=Quantity()),
    "topologySpreadConstraints": Arr(items=AnyValue()), "setHostnameAsFQDN": boolean(),
    "os": core("PodOS", {"name": string()}), "hostUsers": boolean(),
    "schedulingGates": Arr(items=core("PodSchedulingGate", {"name": string()})),
    "resourceClaims": Arr(items=AnyValue()), "resources": RESOURCE_REQUIREMENTS,
}, "PodSpec is a description of a pod.", ("containers",))
POD_TEMPLATE_SPEC = core("PodTemplateSpec", {
    "metadata": OBJECT_META, "spec": POD_SPEC,
}, "PodTemplateSpec describes the data a pod should have when created from a template")


# --- defaults -------------------------------------------------------------------------------

_SPEC_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30),
    ("dnsPolicy", "ClusterFirst"), ("securityContext", {}),
    ("schedulerName", "default-scheduler"), ("enableServiceLinks", True),
)


def default_pod_spec(spec: Json) -> Json:
    """The apiserver's v1 defaults for a pod spec (in place; returns it)."""
    for key, value in _SPEC_DEFAULTS:
        spec.setdefault(key, copy.deepcopy(value))
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                default_container(container)
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict):
            default_volume(volume)
    # serviceAccount is the deprecated spelling; the apiserver keeps both in step
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    elif spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]
    for toleration in spec.get("tolerations") or []:
        if isinstance(toleration, dict) and toleration.get("key") is None \
                and not toleration.get("operator"):
            toleration["operator"] = "Exists"
    return spec


# --- validation -----------------------------------------------------------------------------

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]


def validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    """A pod spec (also a template's): containers, volumes, policies, names."""
    if not isinstance(spec, dict):
        return [fe.required(path)]
    volumes, out = validate_volumes(spec.get("volumes") or [], f"{path}.volumes")
    out += _validate_containers(spec, path, volumes)
    policy = spec.get("restartPolicy")
    if policy not in RESTART_POLICIES:
        out.append(fe.required(f"{path}.restartPolicy") if not policy else
                   fe.not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns is not None and dns not in DNS_POLICIES:
        out.append(fe.not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    out += v.validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    for key, check in (("serviceAccountName", v.dns1123_subdomain),
                       ("nodeName", v.dns1123_subdomain),
                       ("hostname", v.dns1123_label), ("subdomain", v.dns1123_label)):
        if spec.get(key):
            out += v.check_value(f"{path}.{key}", spec[key], check)
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= 2**31 - 1:
        out.append(fe.invalid(f"{path}.activeDeadlineSeconds", deadline,
                              "must be between 1 and 2147483647, inclusive"))
    out += v.validate_non_negative(spec.get("terminationGracePeriodSeconds"),
                                   f"{path}.terminationGracePeriodSeconds")
    out += _validate_tolerations(spec.get("tolerations") or [], f"{path}.tolerations")
    return out


def _validate_containers(spec: Json, path: str, volumes: set[str]) -> list[FieldError]:
    out: list[FieldError] = []
    seen: set[str] = set()
    init = spec.get("initContainers") or []
    for i, container in enumerate(init):
        if isinstance(container, dict):
            here = f"{path}.initContainers[{i}]"
            out += _validate_one(container, here, volumes, seen)
            if container.get("readinessProbe") and container.get("restartPolicy") != "Always":
                out.append(fe.forbidden(f"{here}.readinessProbe", "may not be set for init "
                                        "containers without restartPolicy=Always"))
    containers = spec.get("containers") or []
    if not containers:
        out.append(fe.required(f"{path}.containers"))
    for i, container in enumerate(containers):
        if isinstance(container, dict):
            out += _validate_one(container, f"{path}.containers[{i}]", volumes, seen)
    if spec.get("hostNetwork"):
        out += _validate_host_network_ports(containers, f"{path}.containers")
    return out


def _validate_one(container: Json, path: str, volumes: set[str],
                  seen: set[str]) -> list[FieldError]:
    out = validate_container(container, path, volumes)
    name = container.get("name")
    if name and name in seen:
        out.append(fe.duplicate(f"{path}.name", name))
    if name:
        seen.add(name)
    return out


def _validate_host_network_ports(containers: list[Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    for i, container in enumerate(containers):
        for j, port in enumerate(container.get("ports") or [] if isinstance(
                container, dict) else []):
            host = port.get("hostPort")
            if host and host != port.get("containerPort"):
                out.append(fe.invalid(f"{path}[{i}].ports[{j}].hostPort", host,
                                      "must match `containerPort` when `hostNetwork` is true"))
    return out


_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _validate_tolerations(tolerations: list[Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    for i, toleration in enumerate(tolerations):
        if not isinstance(toleration, dict):
            continue
        operator = toleration.get("operator") or "Equal"
        if operator not in ("Equal", "Exists"):
            out.append(fe.not_supported(f"{path}[{i}].operator", operator, ["Equal", "Exists"]))
        if operator == "Exists" and toleration.get("value"):
            out.append(fe.invalid(f"{path}[{i}].operator", toleration, "value must be empty "
                                  "when `operator` is 'Exists'"))
        effect = toleration.get("effect")
        if effect and effect not in _EFFECTS:
            out.append(fe.not_supported(f"{path}[{i}].effect", effect, _EFFECTS))
    return out


# --- 1.3 init containers: annotations <-> fields ---------------------------------------------

INIT_CONTAINERS_ANNOTATIONS = ("pod.beta.kubernetes.io/init-containers",
                               "pod.alpha.kubernetes.io/init-containers")
INIT_STATUSES_ANNOTATIONS = ("pod.beta.kubernetes.io/init-container-statuses",
                             "pod.alpha.kubernetes.io/init-container-statuses")


def _take_annotation(annotations: Json, keys: tuple[str, ...]) -> list[Any] | None:
    """The first parseable JSON-array annotation among `keys` (beta before alpha, as 1.5
    did); every parsed one is removed. An unparseable one stays for validation to name."""
    found: list[Any] | None = None
    for key in keys:
        text = annotations.get(key)
        try:
            value = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            continue
        if not isinstance(value, list):
            continue
        del annotations[key]
        if found is None:
            found = value
    return found


def _move_in(obj: Json, part: str, field: str, keys: tuple[str, ...]) -> None:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not any(k in annotations for k in keys):
        return
    value = _take_annotation(annotations, keys)
    if value is not None:
        section = obj.get(part)
        if not isinstance(section, dict):
            section = obj[part] = {}
        if not section.get(field):  # the field wins when both are set
            section[field] = value
    if not annotations and isinstance(meta, dict):
        del meta["annotations"]


def init_containers_from_annotations(template_or_pod: Json) -> Json:
    """1.3/1.4 annotations -> spec.initContainers and status.initContainerStatuses (new
    dict; the annotations are dropped so the store holds them once, as fields)."""
    out = copy.deepcopy(template_or_pod)
    _move_in(out, "spec", "initContainers", INIT_CONTAINERS_ANNOTATIONS)
    _move_in(out, "status", "initContainerStatuses", INIT_STATUSES_ANNOTATIONS)
    return out


def init_containers_to_annotations(template_or_pod: Json) -> Json:
    """Fields -> alpha and beta annotations as well, so 1.3-1.5 clients see them (new dict)."""
    out = copy.deepcopy(template_or_pod)
    for part, field, keys in (("spec", "initContainers", INIT_CONTAINERS_ANNOTATIONS),
                              ("status", "initContainerStatuses", INIT_STATUSES_ANNOTATIONS)):
        value = (out.get(part) or {}).get(field) if isinstance(out.get(part), dict) else None
        if not value:
            continue
        meta = out.setdefault("metadata", {})
        annotations = meta.setdefault("annotations", {})
        text = json.dumps(value, separators=(",", ":"))
        for key in keys:
            annotations[key] = text
    return out


def validate_init_annotations(meta: Any, path: str) -> list[FieldError]:
    """An init-container annotation left after conversion could not be parsed."""
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    out: list[FieldError] = []
    for key in INIT_CONTAINERS_ANNOTATIONS + INIT_STATUSES_ANNOTATIONS:
        if isinstance(annotations, dict) and key in annotations:
            out.append(fe.invalid(f"{path}.annotations[{key}]", annotations[key],
                                  "must be a JSON array of containers"))
    return out


def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    """A pod template: its labels and annotations and its pod spec."""
    if not isinstance(template, dict):
        return [fe.required(path)]
    meta = template.get("metadata") or {}
    out = v.validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    out += v.validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    out += validate_init_annotations(meta, f"{path}.metadata")
    return out + validate_pod_spec(template.get("spec"), f"{path}.spec")


def default_pod_template(template: Any) -> Any:
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])
    return template


def on_template(convert: Callable[[Json], Json]) -> Callable[[Json], Json]:
    """Apply a pod-template converter to `spec.template` of a workload object."""
    def apply(obj: Json) -> Json:
        spec = obj.get("spec")
        if isinstance(spec, dict) and isinstance(spec.get("template"), dict):
            obj = dict(obj, spec=dict(spec, template=convert(spec["template"])))
        return obj
    return apply
