"""What a container sees of its pod: command line and environment (pure).

Kubernetes rules: `command` replaces the image ENTRYPOINT (and drops its CMD), `args`
replaces CMD; `$(VAR)` in command, args and env values expands to a variable defined
earlier (`$$` is a literal `$`, an unknown reference stays as written). Environment values
come from literals or `valueFrom` (fieldRef, resourceFieldRef, secretKeyRef,
configMapKeyRef); a missing secret, config map or key is a CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from minikube13.model.groups.core_container import parse_quantity
from minikube13.runtime.errors import config_error

Json = dict[str, Any]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class ImageDefaults:
    """The parts of an image's config that shape a container (OCI image config)."""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""


@dataclass(frozen=True)
class PodFacts:
    """What env values and downward API files may refer to, beyond the pod object."""
    secrets: Mapping[str, Mapping[str, str]]      # name -> data (base64 values)
    config_maps: Mapping[str, Mapping[str, str]]  # name -> data
    node_name: str = ""
    host_ip: str = ""
    pod_ip: str = ""
    node_cpu_millis: int = 1000        # what limits.cpu means when a container sets none
    node_memory_bytes: int = 1 << 30
    service_env: Mapping[str, str] = field(default_factory=dict)  # FOO_SERVICE_HOST, ...


def process_args(container: Json, image: ImageDefaults, env: Mapping[str, str]) -> list[str]:
    """The argv: command/args over the image's entrypoint/cmd, with $(VAR) expanded."""
    command = [expand(a, env) for a in container.get("command") or []]
    args = [expand(a, env) for a in container.get("args") or []]
    if command:
        argv = [*command, *args]
    elif args:
        argv = [*image.entrypoint, *args]
    else:
        argv = [*image.entrypoint, *image.cmd]
    if not argv:
        raise config_error(f"container {container.get('name')!r}: no command specified")
    return argv


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: `$$` escapes, unknown references stay literal."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i + 2)) != -1:
            name = text[i + 2:end]
            out.append(env[name] if name in env else text[i:end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def container_env(pod: Json, container: Json, image: ImageDefaults,
                  facts: PodFacts, hostname: str) -> dict[str, str]:
    """The container's environment, in order: image env, HOSTNAME, the Services'
    variables, then `env` entries (which may refer to and override all of those)."""
    env: dict[str, str] = {}
    for item in image.env:
        name, _, value = item.partition("=")
        env[name] = value
    env.setdefault("PATH", DEFAULT_PATH.partition("=")[2])
    env["HOSTNAME"] = hostname
    env.update(facts.service_env)
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" in var and var["valueFrom"]:
            env[name] = value_from(pod, container, var["valueFrom"], facts)
        else:
            env[name] = expand(str(var.get("value", "")), env)
    return env


def value_from(pod: Json, container: Json, source: Json, facts: PodFacts) -> str:
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"]["fieldPath"], facts)
    if "resourceFieldRef" in source:
        return resource_value(pod, container, source["resourceFieldRef"], facts)
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        data = _lookup(facts.secrets, "Secret", pod, ref)
        return decode_secret(data, ref["key"])
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        return _lookup(facts.config_maps, "ConfigMap", pod, ref)[ref["key"]]
    raise config_error(f"unsupported valueFrom {sorted(source)}")


def _lookup(objects: Mapping[str, Mapping[str, str]], kind: str, pod: Json,
            ref: Json) -> Mapping[str, str]:
    namespace = pod.get("metadata", {}).get("namespace", "default")
    name, key = ref.get("name", ""), ref.get("key", "")
    data = objects.get(name)
    if data is None:
        raise config_error(f'{kind.lower()} "{name}" not found')
    if key not in data:
        raise config_error(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data


def decode_secret(data: Mapping[str, str], key: str) -> str:
    return decode_secret_bytes(data[key]).decode("utf-8", "replace")


def decode_secret_bytes(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise config_error(f"secret value is not base64: {e}") from e


def field_value(pod: Json, path: str, facts: PodFacts) -> str:
    """A downward API field of the pod (env var or downwardAPI volume file)."""
    meta = pod.get("metadata", {})
    spec = pod.get("spec", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", "default"),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName") or facts.node_name,
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": facts.pod_ip,
        "status.hostIP": facts.host_ip,
    }
    if path in simple:
        return str(simple[path])
    for key in ("labels", "annotations"):
        mapping = meta.get(key) or {}
        if path == f"metadata.{key}":
            return format_map(mapping)
        prefix = f"metadata.{key}['"
        if path.startswith(prefix) and path.endswith("']"):
            return str(mapping.get(path[len(prefix):-2], ""))
    raise config_error(f"unsupported fieldRef fieldPath {path!r}")


def format_map(mapping: Mapping[str, str]) -> str:
    """The downward API text of labels/annotations: `key="value"` lines, sorted."""
    return "\n".join(f'{k}="{_quote(str(v))}"' for k, v in sorted(mapping.items()))


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def resource_value(pod: Json, container: Json, ref: Json, facts: PodFacts) -> str:
    """resourceFieldRef: limits/requests of cpu or memory, rounded up in `divisor` units."""
    target = container
    if ref.get("containerName"):
        spec = pod.get("spec", {})
        everyone = (spec.get("initContainers") or []) + (spec.get("containers") or [])
        target = next((c for c in everyone if c.get("name") == ref["containerName"]), container)
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory"):
        raise config_error(f"unsupported resourceFieldRef resource {resource!r}")
    raw = ((target.get("resources") or {}).get(kind) or {}).get(name)
    value = parse_quantity(raw) if raw is not None else None
    if value is None:
        node = facts.node_cpu_millis / 1000 if name == "cpu" else facts.node_memory_bytes
        value = Decimal(node) if kind == "limits" else Decimal(0)
    divisor = parse_quantity(ref.get("divisor", "1")) or Decimal(1)
    return str(math.ceil(value / divisor))
