"""The object model's face to the registry and the API: convert, default, validate, print.

Every function here is pure. `info` is the *served* resource a request named; objects in
the store are always in the canonical form of `kinds.storage_info(info)`.

CONTRACT (filled in by the group modules; the registry and API depend only on this file):
  to_storage(info, obj)            served form -> canonical form (apiVersion/kind set to the
                                   storage version). Raises BadRequest if obj's
                                   apiVersion/kind do not belong to `info` (empty ones are
                                   taken as info's).
  from_storage(info, obj)          canonical -> served form of `info`.
  admit(info, obj, old, field_validation="Strict"|"Warn"|"Ignore")
                                   on a canonical object: type-check and prune unknown fields
                                   (Strict: BadRequest `strict decoding error: unknown field
                                   "spec.foo"`; Warn: returned as warnings), default, then
                                   validate (Invalid with field paths). `old` is the stored
                                   object for updates (immutability checks), None on create.
                                   Returns (object, warnings). Validates metadata (name,
                                   labels, annotations) too.
  field_labels(info, obj)          the fields a fieldSelector may name, as strings
                                   (metadata.name, metadata.namespace, and per kind).
  table_columns(info)              Table columnDefinitions for `kubectl get`.
  table_cells(info, obj, now)      one row of cells, matching table_columns (served form).
  schema_of(info)                  the top-level schema (for strategic merge patch metadata).
  openapi_v3(group, version)       the OpenAPI v3 document of one group/version (components
                                   only; the API layer adds paths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube13.model import kinds
from minikube13.model.errors import BadRequest, FieldError
from minikube13.model.kinds import ResourceInfo
from minikube13.model.schema import Obj

Object = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """A Table column: name, type and format as in meta.k8s.io/v1 TableColumnDefinition."""

    name: str
    type: str = "string"
    format: str = ""
    description: str = ""
    priority: int = 0  # 1 = only with -o wide


@dataclass(frozen=True)
class KindSpec:
    """What a group module registers for each storage resource (canonical form)."""

    storage: str
    schema: Obj
    default: Callable[[Object], Object] = lambda obj: obj
    validate: Callable[[Object, Object | None], list[FieldError]] = lambda new, old: []
    columns: tuple[Column, ...] = ()
    cells: Callable[[Object, datetime], list[Any]] | None = None
    field_labels: Callable[[Object], dict[str, str]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# storage resource name -> KindSpec; filled by the group modules at import time.
SPECS: dict[str, KindSpec] = {}

# (served apiVersion, kind) -> converter to / from the canonical form, for versions whose
# shape differs from the storage version (PetSet, ScheduledJob, v1alpha1 RBAC, ...).
TO_STORAGE: dict[tuple[str, str], Callable[[Object], Object]] = {}
FROM_STORAGE: dict[tuple[str, str], Callable[[Object], Object]] = {}


def register(spec: KindSpec) -> None:
    SPECS[spec.storage] = spec


def to_storage(info: ResourceInfo, obj: Object) -> Object:
    api_version = obj.get("apiVersion") or info.api_version
    kind = obj.get("kind") or info.kind
    if (api_version, kind) != (info.api_version, info.kind):
        raise BadRequest(f"the API version in the data ({api_version}) does not match the "
                         f"expected API version ({info.api_version})"
                         if api_version != info.api_version else
                         f"the kind in the data ({kind}) does not match the expected kind "
                         f"({info.kind})")
    out = dict(obj, apiVersion=info.api_version, kind=info.kind)
    convert = TO_STORAGE.get((info.api_version, info.kind))
    if convert is not None:
        out = convert(out)
    target = kinds.storage_info(info)
    out["apiVersion"], out["kind"] = target.api_version, target.kind
    return out


def from_storage(info: ResourceInfo, obj: Object) -> Object:
    convert = FROM_STORAGE.get((info.api_version, info.kind))
    out = convert(dict(obj)) if convert is not None else dict(obj)
    out["apiVersion"], out["kind"] = info.api_version, info.kind
    return out


def spec_for(info: ResourceInfo) -> KindSpec | None:
    _load_groups()
    return SPECS.get(info.storage)


_loaded = False


def _load_groups() -> None:
    """Import the group modules once; each registers its KindSpecs and converters."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    from minikube13.model import groups  # noqa: F401  (registers on import)
