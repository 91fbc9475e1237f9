"""Server-side printing: meta.k8s.io Table and PartialObjectMetadata(List) transforms.

Pure (`now` is a parameter). `kubectl get` asks for
`application/json;as=Table;v=v1;g=meta.k8s.io` and prints the cells as they come; the
columns and cells of each kind come from the model (`table_columns`, `table_cells`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from minikube13.model import objects as model
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import errors

Doc = dict[str, Any]
META_GROUP = "meta.k8s.io"
TRANSFORMS = ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")


@dataclass(frozen=True)
class Transform:
    """What the client's Accept asked the object to be turned into."""

    kind: str  # "Table", "PartialObjectMetadata" or "PartialObjectMetadataList"
    version: str  # "v1" or "v1beta1" of meta.k8s.io
    include_object: str = "Metadata"  # Table rows: "None", "Metadata" or "Object"

    @property
    def api_version(self) -> str:
        return f"{META_GROUP}/{self.version}"


def supported(as_kind: str, group: str, version: str) -> bool:
    return as_kind in TRANSFORMS and group == META_GROUP and version in ("v1", "v1beta1")


def columns(info: ResourceInfo) -> list[Doc]:
    """columnDefinitions; a kind the model prints nothing for gets Name and Created At."""
    defined = _model_call("table_columns", info)
    if not defined:
        return [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                 "description": "Name must be unique within a namespace."},
                {"name": "Created At", "type": "date", "format": "", "priority": 0,
                 "description": "CreationTimestamp is when the object was created."}]
    return [_column_doc(c) for c in defined]


def _column_doc(column: Any) -> Doc:
    if isinstance(column, dict):
        doc = dict(column)
    else:
        doc = {"name": column.name, "type": column.type, "format": column.format,
               "description": column.description, "priority": column.priority}
    doc.setdefault("format", "")
    doc.setdefault("description", "")
    doc.setdefault("priority", 0)
    return doc


def cells(info: ResourceInfo, obj: Doc, now: datetime) -> list[Any]:
    if not _model_call("table_columns", info):
        meta = obj.get("metadata") or {}
        return [meta.get("name", ""), meta.get("creationTimestamp")]
    return list(_model_call("table_cells", info, obj, now) or [])


def _model_call(name: str, *args: Any) -> Any:
    """The model facade function `name`, tolerating a model that does not print yet."""
    fn: Callable[..., Any] | None = getattr(model, name, None)
    return fn(*args) if fn is not None else None


def partial(obj: Doc, version: str = "v1") -> Doc:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"{META_GROUP}/{version}",
            "metadata": obj.get("metadata") or {}}


def _row(info: ResourceInfo, obj: Doc, now: datetime, t: Transform) -> Doc:
    row: Doc = {"cells": cells(info, obj, now)}
    if t.include_object == "Object":
        row["object"] = obj
    elif t.include_object == "Metadata":
        row["object"] = partial(obj, t.version)
    return row


def table(info: ResourceInfo, objects: list[Doc], list_meta: Doc, now: datetime,
          t: Transform, *, with_columns: bool = True) -> Doc:
    return {
        "kind": "Table", "apiVersion": t.api_version, "metadata": list_meta,
        "columnDefinitions": columns(info) if with_columns else [],
        "rows": [_row(info, o, now, t) for o in objects],
    }


def _list_meta(list_obj: Doc) -> Doc:
    meta = list_obj.get("metadata") or {}
    return {k: meta[k] for k in ("resourceVersion", "continue", "remainingItemCount")
            if k in meta}


def transform_list(info: ResourceInfo, list_obj: Doc, now: datetime, t: Transform) -> Doc:
    items = list(list_obj.get("items") or [])
    if t.kind == "Table":
        return table(info, items, _list_meta(list_obj), now, t)
    return {"kind": "PartialObjectMetadataList", "apiVersion": t.api_version,
            "metadata": _list_meta(list_obj), "items": [partial(o, t.version) for o in items]}


def transform_object(info: ResourceInfo, obj: Doc, now: datetime, t: Transform,
                     *, with_columns: bool = True) -> Doc:
    if t.kind == "Table":
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        meta = {"resourceVersion": rv} if rv else {}
        return table(info, [obj], meta, now, t, with_columns=with_columns)
    if t.kind == "PartialObjectMetadataList":
        raise errors.not_acceptable("only the list endpoint serves PartialObjectMetadataList")
    return partial(obj, t.version)
