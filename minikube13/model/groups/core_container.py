"""core/v1 Container: its schema, the apiserver's defaults and its validation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.meta import CORE, INT64, STRING_LIST
from minikube13.model.schema import (
    AnyValue,
    Arr,
    IntOrString,
    Map,
    Obj,
    Quantity,
    Schema,
    boolean,
    integer,
    string,
)

Json = dict[str, Any]


def core(short: str, fields: Mapping[str, Schema], description: str = "",
         required: tuple[str, ...] = ()) -> Obj:
    """A named core/v1 type, e.g. core("Container", ...) -> io.k8s.api.core.v1.Container."""
    return Obj(description=description, fields=dict(fields), name=f"{CORE}.{short}",
               required=required)


def keyed(items: Obj, key: str) -> Arr:
    """A list merged by `key` in strategic merge patch (containers, ports, env...)."""
    return Arr(items=items, merge_key=key, strategy="merge", list_type="map", map_keys=(key,))


NAME_REF: dict[str, Schema] = {"name": string("Name of the referent."), "optional": boolean()}
KEY_SELECTOR: dict[str, Schema] = {**NAME_REF, "key": string("The key to select.")}
OBJECT_FIELD_SELECTOR = core("ObjectFieldSelector", {
    "apiVersion": string(), "fieldPath": string()}, required=("fieldPath",))
RESOURCE_FIELD_SELECTOR = core("ResourceFieldSelector", {
    "containerName": string(), "resource": string(), "divisor": Quantity()},
    required=("resource",))
ENV_VAR = core("EnvVar", {
    "name": string("Name of the environment variable."),
    "value": string(),
    "valueFrom": core("EnvVarSource", {
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "resourceFieldRef": RESOURCE_FIELD_SELECTOR,
        "configMapKeyRef": core("ConfigMapKeySelector", KEY_SELECTOR),
        "secretKeyRef": core("SecretKeySelector", KEY_SELECTOR),
    }),
}, "EnvVar represents an environment variable present in a Container.", ("name",))
ENV_FROM = core("EnvFromSource", {
    "prefix": string(),
    "configMapRef": core("ConfigMapEnvSource", NAME_REF),
    "secretRef": core("SecretEnvSource", NAME_REF),
})
CONTAINER_PORT = core("ContainerPort", {
    "name": string("If specified, this must be an IANA_SVC_NAME and unique within the pod."),
    "containerPort": integer("Number of port to expose on the pod's IP address."),
    "hostPort": integer("Number of port to expose on the host."),
    "hostIP": string("What host IP to bind the external port to."),
    "protocol": string("Protocol for port. Must be UDP, TCP, or SCTP. Defaults to \"TCP\".",
                       enum=("SCTP", "TCP", "UDP")),
}, "ContainerPort represents a network port in a single container.", ("containerPort",))
RESOURCE_REQUIREMENTS = core("ResourceRequirements", {
    "limits": Map(values=Quantity(), description="Limits describes the maximum amount of "
                  "compute resources allowed."),
    "requests": Map(values=Quantity(), description="Requests describes the minimum amount "
                    "of compute resources required."),
    "claims": Arr(items=core("ResourceClaim", {"name": string(), "request": string()})),
}, "ResourceRequirements describes the compute resource requirements.")
VOLUME_MOUNT = core("VolumeMount", {
    "name": string("This must match the Name of a Volume."),
    "mountPath": string("Path within the container at which the volume should be mounted."),
    "readOnly": boolean(), "subPath": string(), "subPathExpr": string(),
    "mountPropagation": string(), "recursiveReadOnly": string(),
}, "VolumeMount describes a mounting of a Volume within a container.", ("mountPath", "name"))
HTTP_GET = core("HTTPGetAction", {
    "path": string(), "port": IntOrString(), "host": string(), "scheme": string(),
    "httpHeaders": Arr(items=core("HTTPHeader", {"name": string(), "value": string()})),
}, required=("port",))
EXEC = core("ExecAction", {"command": STRING_LIST})
TCP_SOCKET = core("TCPSocketAction", {"port": IntOrString(), "host": string()},
                  required=("port",))
PROBE = core("Probe", {
    "exec": EXEC, "httpGet": HTTP_GET, "tcpSocket": TCP_SOCKET,
    "grpc": core("GRPCAction", {"port": integer(), "service": string()}),
    "initialDelaySeconds": integer(), "timeoutSeconds": integer(),
    "periodSeconds": integer(), "successThreshold": integer(), "failureThreshold": integer(),
    "terminationGracePeriodSeconds": INT64,
}, "Probe describes a health check to be performed against a container.")
HANDLER = core("LifecycleHandler", {
    "exec": EXEC, "httpGet": HTTP_GET, "tcpSocket": TCP_SOCKET,
    "sleep": core("SleepAction", {"seconds": INT64}),
})
SE_LINUX = core("SELinuxOptions", {
    "user": string(), "role": string(), "type": string(), "level": string()})
SECCOMP = core("SeccompProfile", {"type": string(), "localhostProfile": string()})
SECURITY_CONTEXT = core("SecurityContext", {
    "capabilities": core("Capabilities", {"add": STRING_LIST, "drop": STRING_LIST}),
    "privileged": boolean(), "seLinuxOptions": SE_LINUX, "windowsOptions": AnyValue(),
    "runAsUser": INT64, "runAsGroup": INT64, "runAsNonRoot": boolean(),
    "readOnlyRootFilesystem": boolean(), "allowPrivilegeEscalation": boolean(),
    "procMount": string(), "seccompProfile": SECCOMP,
    "appArmorProfile": core("AppArmorProfile", {"type": string(), "localhostProfile": string()}),
})
CONTAINER = core("Container", {
    "name": string("Name of the container specified as a DNS_LABEL."),
    "image": string("Container image name."),
    "command": STRING_LIST.with_description("Entrypoint array. Not executed within a shell."),
    "args": STRING_LIST.with_description("Arguments to the entrypoint."),
    "workingDir": string("Container's working directory."),
    "ports": Arr(items=CONTAINER_PORT, merge_key="containerPort", strategy="merge",
                 list_type="map", map_keys=("containerPort", "protocol"),
                 description="List of ports to expose from the container."),
    "envFrom": Arr(items=ENV_FROM), "env": keyed(ENV_VAR, "name"),
    "resources": RESOURCE_REQUIREMENTS,
    "resizePolicy": Arr(items=core("ContainerResizePolicy", {
        "resourceName": string(), "restartPolicy": string()})),
    "restartPolicy": string("RestartPolicy defines the restart behavior of individual "
                            "containers in a pod (init containers only: Always)."),
    "volumeMounts": keyed(VOLUME_MOUNT, "mountPath"),
    "volumeDevices": keyed(core("VolumeDevice", {"name": string(), "devicePath": string()}),
                           "devicePath"),
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "lifecycle": core("Lifecycle", {"postStart": HANDLER, "preStop": HANDLER,
                                    "stopSignal": string()}),
    "terminationMessagePath": string(), "terminationMessagePolicy": string(
        enum=("FallbackToLogsOnError", "File")),
    "imagePullPolicy": string("Image pull policy. One of Always, Never, IfNotPresent.",
                              enum=("Always", "IfNotPresent", "Never")),
    "securityContext": SECURITY_CONTEXT,
    "stdin": boolean(), "stdinOnce": boolean(), "tty": boolean(),
}, "A single application container that you want to run within a pod.", ("name",))


# --- defaults ------------------------------------------------------------------------------

def image_pull_policy(image: str) -> str:
    """Always for `:latest` or an untagged image, else IfNotPresent (by digest too)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: Json | None) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                       ("successThreshold", 1), ("failureThreshold", 3)):
        probe.setdefault(key, value)
    _default_http_get(probe.get("httpGet"))


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        action.setdefault("path", "/")
        action.setdefault("scheme", "HTTP")


def default_container(c: Json) -> Json:
    """The v1 defaults the apiserver applies to one container (in place; returns it)."""
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if isinstance(c.get("image"), str) and c["image"]:
        c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(key))
    for hook in ((c.get("lifecycle") or {}).values() if isinstance(c.get("lifecycle"), dict)
                 else ()):
        if isinstance(hook, dict):
            _default_http_get(hook.get("httpGet"))
    resources = c["resources"]
    if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        # requests default to limits for every resource given only a limit
        requests = resources.setdefault("requests", {})
        for name, quantity in resources["limits"].items():
            requests.setdefault(name, quantity)
    return c


# --- quantities -----------------------------------------------------------------------------

_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")


def parse_quantity(value: Any) -> Decimal | None:
    """A resource quantity ("100m", "1.5Gi", 2) as a Decimal, or None if malformed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


# --- validation -----------------------------------------------------------------------------

_STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods", "storage")


def _validate_resource_name(name: str, path: str) -> list[FieldError]:
    if name in _STANDARD_RESOURCES or name.startswith("hugepages-") or "/" in name:
        return v.check_value(path, name, v.qualified_name)
    return [fe.invalid(path, name, "must be a standard resource type or fully qualified")]


def validate_resources(res: Any, path: str) -> list[FieldError]:
    """limits/requests: known names, non-negative, requests <= limits."""
    if not isinstance(res, dict):
        return []
    out: list[FieldError] = []
    parsed: dict[str, dict[str, Decimal]] = {}
    for part in ("limits", "requests"):
        parsed[part] = {}
        for name, quantity in (res.get(part) or {}).items():
            here = f"{path}.{part}[{name}]"
            out += _validate_resource_name(name, here)
            amount = parse_quantity(quantity)
            if amount is None:
                continue
            if amount < 0:
                out.append(fe.invalid(here, str(quantity), "must be greater than or equal to 0"))
            parsed[part][name] = amount
    for name, amount in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and amount > limit:
            out.append(fe.invalid(f"{path}.requests", str(res["requests"][name]),
                                  f"must be less than or equal to {name} limit of "
                                  f"{res['limits'][name]}"))
    return out


def port_name_problems(name: str) -> list[str]:
    """IANA_SVC_NAME rules for a port name, with the apiserver's wording."""
    out = []
    if len(name) > 15:
        out.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        out.append("must not contain consecutive hyphens")
    if not re.search(r"[a-z]", name):
        out.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def validate_port_number(value: Any, path: str) -> list[FieldError]:
    if v.is_valid_port(value):
        return []
    return [fe.invalid(path, value, v.port_range_msg())]


def _validate_ports(ports: list[Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        here = f"{path}[{i}]"
        name = port.get("name")
        if name:
            out += v.check_value(f"{here}.name", name, port_name_problems)
            if name in names:
                out.append(fe.duplicate(f"{here}.name", name))
            names.add(name)
        if not port.get("containerPort"):
            out.append(fe.required(f"{here}.containerPort"))
        else:
            out += validate_port_number(port["containerPort"], f"{here}.containerPort")
        if port.get("hostPort"):
            out += validate_port_number(port["hostPort"], f"{here}.hostPort")
        protocol = port.get("protocol")
        if protocol not in ("SCTP", "TCP", "UDP"):
            out.append(fe.not_supported(f"{here}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return out


def _validate_env(env: list[Any], path: str) -> list[FieldError]:
    out: list[FieldError] = []
    for i, var in enumerate(env):
        if not isinstance(var, dict):
            continue
        name = var.get("name") or ""
        if not name:
            out.append(fe.required(f"{path}[{i}].name"))
        elif not re.fullmatch(r"[-._a-zA-Z][-._a-zA-Z0-9]*", name):
            out.append(fe.invalid(f"{path}[{i}].name", name,
                                  "a valid environment variable name must consist of "
                                  "alphabetic characters, digits, '_', '-', or '.', and must "
                                  "not start with a digit (e.g. 'my.env-name',  or "
                                  "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation "
                                  "is '[-._a-zA-Z][-._a-zA-Z0-9]*')"))
        if var.get("value") and var.get("valueFrom"):
            out.append(fe.invalid(f"{path}[{i}].valueFrom", "",
                                  "may not be specified when `value` is not empty"))
    return out


_PULL = ["Always", "IfNotPresent", "Never"]
_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]


def validate_container(c: Json, path: str, volumes: set[str]) -> list[FieldError]:
    """One container (app or init); `volumes` are the pod's volume names."""
    out: list[FieldError] = []
    name = c.get("name") or ""
    if not name:
        out.append(fe.required(f"{path}.name"))
    else:
        out += v.check_value(f"{path}.name", name, v.dns1123_label)
    if not c.get("image"):
        out.append(fe.required(f"{path}.image"))
    policy = c.get("imagePullPolicy")
    if policy is not None and policy not in _PULL:
        out.append(fe.not_supported(f"{path}.imagePullPolicy", policy, _PULL))
    message_policy = c.get("terminationMessagePolicy")
    if message_policy is not None and message_policy not in _MESSAGE_POLICIES:
        out.append(fe.not_supported(f"{path}.terminationMessagePolicy", message_policy,
                                    _MESSAGE_POLICIES))
    out += _validate_ports(c.get("ports") or [], f"{path}.ports")
    out += _validate_env(c.get("env") or [], f"{path}.env")
    out += validate_resources(c.get("resources"), f"{path}.resources")
    for i, mount in enumerate(c.get("volumeMounts") or []):
        here = f"{path}.volumeMounts[{i}]"
        if not mount.get("name"):
            out.append(fe.required(f"{here}.name"))
        elif mount["name"] not in volumes:
            out.append(fe.not_found(f"{here}.name", mount["name"]))
        if not mount.get("mountPath"):
            out.append(fe.required(f"{here}.mountPath"))
    return out
