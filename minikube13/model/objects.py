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
  The OpenAPI v3 documents are built from schema_of() in minikube13.model.openapi.

KindSpec.extra hooks understood by admit() (all optional):
  "decode":     fn(obj) -> obj     after the type check, before defaulting; may raise
                                   BadRequest (Secret: base64 data, stringData merge)
  "on_create":  fn(obj) -> obj     create only (server-set status, e.g. pod phase Pending)
  "on_update":  fn(new, old) -> new update only (keep server-allocated values)
  "name_check": fn(name) -> [msg]  validator for metadata.name (default: DNS-1123 subdomain)
SERVED_SCHEMAS holds the top-level schema of a served version whose shape differs from the
canonical one (PetSet, ScheduledJob...); schema_of (and so OpenAPI) uses it when present.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from minikube13.model import kinds, validation
from minikube13.model import schema as sc
from minikube13.model.errors import BadRequest, FieldError, Invalid
from minikube13.model.kinds import ResourceInfo
from minikube13.model.printing import AGE_COLUMN, NAME_COLUMN, default_cells
from minikube13.model.printing import Column as Column
from minikube13.model.schema import Obj

Object = dict[str, Any]


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

# (served apiVersion, kind) -> top-level schema of that served form, where it differs.
SERVED_SCHEMAS: dict[tuple[str, str], Obj] = {}


def register(spec: KindSpec) -> None:
    SPECS[spec.storage] = spec


def to_storage(info: ResourceInfo, obj: Object) -> Object:
    _load_groups()
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
    _load_groups()
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


# --- the facade: admission, printing, schemas ---------------------------------------------

_GENERIC = Obj(name="", preserve_unknown=True)


def admit(info: ResourceInfo, obj: Object, old: Object | None,
          field_validation: str = "Strict") -> tuple[Object, list[str]]:
    """Type-check and prune, decode, default and validate one canonical object."""
    spec = spec_for(info)
    if spec is None:
        return copy.deepcopy(obj), []
    pruned, type_errors, unknown = sc.check(spec.schema, copy.deepcopy(obj))
    prefix = f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '
    if type_errors:
        raise BadRequest(prefix + type_errors[0].message())
    warnings: list[str] = []
    if unknown and field_validation == "Strict":
        raise BadRequest(prefix + "strict decoding error: " +
                         ", ".join(f'unknown field "{path}"' for path in unknown))
    if field_validation == "Warn":
        warnings = [f'unknown field "{path}"' for path in unknown]
    hooks = spec.extra
    if "decode" in hooks:
        pruned = hooks["decode"](pruned)
    if old is None and "on_create" in hooks:
        pruned = hooks["on_create"](pruned)
    elif old is not None and "on_update" in hooks:
        pruned = hooks["on_update"](pruned, old)
    pruned = spec.default(pruned)
    errors = _validate_meta(info, pruned, old, hooks.get("name_check"))
    errors += spec.validate(pruned, old)
    if errors:
        name = (pruned.get("metadata") or {}).get("name") or ""
        raise Invalid(info.kind, name, errors)
    return pruned, warnings


def _validate_meta(info: ResourceInfo, obj: Object, old: Object | None,
                   name_check: validation.NameCheck | None) -> list[FieldError]:
    meta = obj.get("metadata")
    errors = validation.validate_object_meta(
        meta, "metadata", info.namespaced, name_check or validation.dns1123_subdomain)
    if old is not None:
        errors += validation.validate_object_meta_update(meta, old.get("metadata"))
    return errors


def field_labels(info: ResourceInfo, obj: Object) -> dict[str, str]:
    """The fields a fieldSelector may name, with their values as strings."""
    meta = obj.get("metadata") or {}
    labels = {"metadata.name": str(meta.get("name") or "")}
    if info.namespaced:
        labels["metadata.namespace"] = str(meta.get("namespace") or "")
    spec = spec_for(info)
    if spec is not None and spec.field_labels is not None:
        labels.update(spec.field_labels(obj))
    return labels


def _default_columns() -> tuple[Column, ...]:
    return (NAME_COLUMN, AGE_COLUMN)


def table_columns(info: ResourceInfo) -> list[dict[str, Any]]:
    """meta.k8s.io/v1 TableColumnDefinitions for `kubectl get` (NAME/AGE by default)."""
    spec = spec_for(info)
    columns = spec.columns if spec is not None and spec.columns else _default_columns()
    return [{"name": c.name, "type": c.type, "format": c.format,
             "description": c.description, "priority": c.priority} for c in columns]


def table_cells(info: ResourceInfo, obj: Object, now: datetime) -> list[Any]:
    """One Table row's cells for `obj` (served form), matching table_columns(info)."""
    spec = spec_for(info)
    if spec is not None and spec.columns and spec.cells is not None:
        return spec.cells(obj, now)
    return default_cells(obj, now)


def schema_of(info: ResourceInfo) -> Obj:
    """The top-level schema of the served form of `info`."""
    _load_groups()
    served = SERVED_SCHEMAS.get((info.api_version, info.kind))
    if served is not None:
        return served
    spec = spec_for(info)
    return spec.schema if spec is not None else _GENERIC
