"""Pod volumes, planned (pure): what each volume is on the host and what files it holds,
and how a container's volumeMounts bind them. stage0 carries the plan out.

emptyDir is a directory under the pod dir (medium Memory: a tmpfs, sizeLimit as its size);
hostPath is the host path itself; secret, configMap and downwardAPI are directories of
files written once (keys or `items`, each with `mode` or the volume's `defaultMode`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from minikube13.model.groups.core_container import parse_quantity
from minikube13.runtime.bundle import Mount, bind
from minikube13.runtime.errors import config_error, create_error
from minikube13.runtime.podenv import PodFacts, decode_secret_bytes, field_value

Json = dict[str, Any]
VolumeKind = Literal["dir", "tmpfs", "host", "files"]
DEFAULT_MODE = 0o644
DOWNWARD_FIELDS = ("metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels",
                   "metadata.annotations")


@dataclass(frozen=True)
class VolumeFile:
    path: str          # relative to the volume directory
    data: bytes
    mode: int = DEFAULT_MODE


@dataclass(frozen=True)
class VolumePlan:
    name: str
    kind: VolumeKind
    host_path: str = ""                  # hostPath only
    size_bytes: int | None = None        # tmpfs only: None = the tmpfs default
    files: tuple[VolumeFile, ...] = ()   # files only


def plan_volumes(pod: Json, facts: PodFacts) -> list[VolumePlan]:
    """Every volume of the pod; a missing secret/config map/key is CreateContainerConfigError."""
    return [plan_volume(pod, v, facts) for v in (pod.get("spec") or {}).get("volumes") or []]


def plan_volume(pod: Json, volume: Json, facts: PodFacts) -> VolumePlan:
    name = volume["name"]
    if "emptyDir" in volume:
        empty = volume.get("emptyDir") or {}
        if empty.get("medium") == "Memory":
            size = parse_quantity(empty["sizeLimit"]) if empty.get("sizeLimit") else None
            return VolumePlan(name, "tmpfs", size_bytes=int(size) if size else None)
        return VolumePlan(name, "dir")
    if "hostPath" in volume:
        return VolumePlan(name, "host", host_path=str((volume["hostPath"] or {}).get("path", "")))
    if "secret" in volume:
        source = volume["secret"] or {}
        data = _source_data(facts.secrets, "secret", source.get("secretName", ""), pod)
        raw = {k: decode_secret_bytes(v) for k, v in data.items()}
        return VolumePlan(name, "files", files=key_files(raw, source, "secret"))
    if "configMap" in volume:
        source = volume["configMap"] or {}
        data = _source_data(facts.config_maps, "configmap", source.get("name", ""), pod)
        raw = {k: str(v).encode() for k, v in data.items()}
        return VolumePlan(name, "files", files=key_files(raw, source, "configmap"))
    if "downwardAPI" in volume:
        return VolumePlan(name, "files", files=downward_files(pod, volume["downwardAPI"] or {},
                                                              facts))
    kinds = sorted(k for k in volume if k != "name")
    raise create_error(f"volume {name!r}: unsupported volume type {', '.join(kinds)}")


def _source_data(objects: Mapping[str, Mapping[str, str]], kind: str, name: str,
                 pod: Json) -> Mapping[str, str]:
    data = objects.get(name)
    if data is None:
        namespace = (pod.get("metadata") or {}).get("namespace", "default")
        raise config_error(f'{kind} "{name}" not found in namespace {namespace}')
    return data


def key_files(data: Mapping[str, bytes], source: Json, kind: str) -> tuple[VolumeFile, ...]:
    """All keys as files, or only `items` (key -> path, mode) when given."""
    default = int(source.get("defaultMode", DEFAULT_MODE))
    items = source.get("items")
    if not items:
        return tuple(VolumeFile(safe_path(k), data[k], default) for k in sorted(data))
    out = []
    for item in items:
        key = item.get("key", "")
        if key not in data:
            raise config_error(f"couldn't find key {key} in {kind} {source}")
        out.append(VolumeFile(safe_path(item.get("path") or key), data[key],
                              int(item.get("mode", default))))
    return tuple(out)


def downward_files(pod: Json, source: Json, facts: PodFacts) -> tuple[VolumeFile, ...]:
    default = int(source.get("defaultMode", DEFAULT_MODE))
    out = []
    for item in source.get("items") or []:
        path = (item.get("fieldRef") or {}).get("fieldPath", "")
        if path not in DOWNWARD_FIELDS and not path.startswith(("metadata.labels['",
                                                                 "metadata.annotations['")):
            raise config_error(f"downwardAPI: unsupported fieldPath {path!r}")
        text = field_value(pod, path, facts)
        out.append(VolumeFile(safe_path(item.get("path", "")), text.encode(),
                              int(item.get("mode", default))))
    return tuple(out)


def safe_path(path: str) -> str:
    """A relative path inside the volume: no absolute path, no `..`, not empty."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or path.startswith("/") or ".." in parts:
        raise config_error(f"invalid volume file path {path!r}")
    return "/".join(parts)


def volume_source(plan: VolumePlan, volume_dir: Callable[[str], str]) -> str:
    """The host directory a volume's mounts bind: the hostPath, else its pod-dir folder."""
    return plan.host_path if plan.kind == "host" else volume_dir(plan.name)


def container_mounts(container: Json, plans: Sequence[VolumePlan],
                     volume_dir: Callable[[str], str]) -> list[Mount]:
    """The container's volumeMounts as binds (subPath inside the volume; readOnly)."""
    by_name = {p.name: p for p in plans}
    out = []
    for mount in container.get("volumeMounts") or []:
        plan = by_name.get(mount.get("name", ""))
        if plan is None:
            raise config_error(f"volume {mount.get('name')!r} of container "
                               f"{container.get('name')!r} is not in the pod's volumes")
        source = volume_source(plan, volume_dir)
        if mount.get("subPath"):
            source = f"{source.rstrip('/')}/{safe_path(mount['subPath'])}"
        out.append(bind(mount["mountPath"], source, bool(mount.get("readOnly"))))
    return out


def sub_paths(containers: Sequence[Json], plans: Sequence[VolumePlan],
              volume_dir: Callable[[str], str]) -> list[str]:
    """The subPath sources stage0 creates (as directories) when they do not exist yet."""
    by_name = {p.name: p for p in plans}
    out: list[str] = []
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            plan = by_name.get(mount.get("name", ""))
            if plan is not None and mount.get("subPath"):
                source = volume_source(plan, volume_dir).rstrip("/")
                path = f"{source}/{safe_path(mount['subPath'])}"
                if path not in out:
                    out.append(path)
    return out
