"""A small schema language for Kubernetes objects.

One schema per kind drives four things: type checking with field paths, pruning of unknown
fields (and strict field validation), the OpenAPI v3 document that `kubectl explain` and
`kubectl apply` read, and the patch metadata (merge keys) that strategic merge patch needs.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from minikube13.model import errors as fe


@dataclass(frozen=True)
class Schema:
    """Base of every schema node; `description` is what `kubectl explain` prints."""

    description: str = ""

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        """Type-check `value`, append type errors to `out` and unknown field paths to
        `unknown`; return the value with unknown fields and nulls pruned."""
        raise NotImplementedError

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def with_description(self, text: str) -> Schema:
        return dataclasses.replace(self, description=text)


def _described(doc: dict[str, Any], schema: Schema) -> dict[str, Any]:
    if schema.description:
        doc["description"] = schema.description
    return doc


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class Scalar(Schema):
    """string, integer, number or boolean; optional enum and format."""

    type: str = "string"
    format: str = ""
    enum: tuple[str, ...] = ()

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        ok = isinstance(value, _PY_TYPES[self.type])
        if self.type in ("integer", "number") and isinstance(value, bool):
            ok = False
        if self.type == "integer" and isinstance(value, float) and value.is_integer():
            return int(value)
        if not ok:
            out.append(fe.type_invalid(path, value, self.type))
        return value

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type}
        if self.format:
            doc["format"] = self.format
        if self.enum:
            doc["enum"] = list(self.enum)
        return _described(doc, self)


@dataclass(frozen=True)
class IntOrString(Schema):
    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            out.append(fe.type_invalid(path, value, "integer or string"))
        return value

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        return _described({"x-kubernetes-int-or-string": True, "anyOf": [
            {"type": "integer"}, {"type": "string"}]}, self)


QUANTITY_RE = re.compile(
    r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$")


@dataclass(frozen=True)
class Quantity(Schema):
    """A resource quantity such as `100m`, `1.5Gi` or `2` (string or number)."""

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            out.append(fe.type_invalid(path, value, "quantity"))
        elif isinstance(value, str) and not QUANTITY_RE.match(value):
            out.append(fe.invalid(path, value, "must match the regular expression "
                                  "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
        return value

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        return _described({"x-kubernetes-int-or-string": True, "anyOf": [
            {"type": "integer"}, {"type": "string"}]}, self)


@dataclass(frozen=True)
class AnyValue(Schema):
    """Anything, kept as it is (x-kubernetes-preserve-unknown-fields)."""

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        return value

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        return _described({"type": "object", "x-kubernetes-preserve-unknown-fields": True}, self)


@dataclass(frozen=True)
class Arr(Schema):
    """A list; `merge_key`/`strategy` are the strategic-merge-patch metadata."""

    items: Schema = field(default_factory=AnyValue)
    merge_key: str = ""
    strategy: str = ""  # "merge", "replace", "retainKeys" or ""
    list_type: str = ""  # "atomic", "set", "map" or ""
    map_keys: tuple[str, ...] = ()

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        if not isinstance(value, list):
            out.append(fe.type_invalid(path, value, "array"))
            return value
        return [self.items.check(v, f"{path}[{i}]", out, unknown) for i, v in enumerate(value)]

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "array", "items": self.items.openapi(components)}
        if self.merge_key:
            doc["x-kubernetes-patch-merge-key"] = self.merge_key
        if self.strategy:
            doc["x-kubernetes-patch-strategy"] = self.strategy
        if self.list_type:
            doc["x-kubernetes-list-type"] = self.list_type
        if self.map_keys:
            doc["x-kubernetes-list-map-keys"] = list(self.map_keys)
        return _described(doc, self)


@dataclass(frozen=True)
class Map(Schema):
    """A map from string keys to one value type (labels, data, resources)."""

    values: Schema = field(default_factory=AnyValue)

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        if not isinstance(value, dict):
            out.append(fe.type_invalid(path, value, "object"))
            return value
        return {k: self.values.check(v, f"{path}[{k}]", out, unknown)
                for k, v in value.items() if v is not None}

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        return _described({"type": "object",
                           "additionalProperties": self.values.openapi(components)}, self)


@dataclass(frozen=True)
class Obj(Schema):
    """An object with known fields. A `name` makes it a shared OpenAPI component
    (e.g. `io.k8s.api.core.v1.Container`), referenced wherever it is used."""

    fields: dict[str, Schema] = field(default_factory=dict)
    name: str = ""
    required: tuple[str, ...] = ()
    preserve_unknown: bool = False

    def check(self, value: Any, path: str, out: list[fe.FieldError], unknown: list[str]) -> Any:
        if not isinstance(value, dict):
            out.append(fe.type_invalid(path, value, "object"))
            return value
        kept: dict[str, Any] = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            schema = self.fields.get(key)
            if item is None:
                continue
            if schema is None:
                if self.preserve_unknown:
                    kept[key] = item
                else:
                    unknown.append(sub)
                continue
            kept[key] = schema.check(item, sub, out, unknown)
        return kept

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "object"}
        if self.fields:
            body["properties"] = {k: s.openapi(components) for k, s in self.fields.items()}
        if self.required:
            body["required"] = list(self.required)
        if self.preserve_unknown:
            body["x-kubernetes-preserve-unknown-fields"] = True
        if not self.name:
            return _described(body, self)
        if self.name not in components:
            components[self.name] = {}  # reserve first: schemas may be recursive
            components[self.name] = _described(body, self)
        return {"allOf": [{"$ref": f"#/components/schemas/{self.name}"}]}

    def field_schema(self, key: str) -> Schema | None:
        return self.fields.get(key)


def string(description: str = "", *, enum: tuple[str, ...] = (), format: str = "") -> Scalar:
    return Scalar(description=description, type="string", enum=enum, format=format)


def integer(description: str = "", *, format: str = "int32") -> Scalar:
    return Scalar(description=description, type="integer", format=format)


def number(description: str = "") -> Scalar:
    return Scalar(description=description, type="number", format="double")


def boolean(description: str = "") -> Scalar:
    return Scalar(description=description, type="boolean")


def time(description: str = "") -> Scalar:
    return Scalar(description=description, type="string", format="date-time")


def check(schema: Schema, value: Any, path: str = "") -> tuple[Any, list[fe.FieldError], list[str]]:
    """Type-check and prune: (pruned value, type errors, unknown field paths)."""
    out: list[fe.FieldError] = []
    unknown: list[str] = []
    pruned = schema.check(value, path, out, unknown)
    return pruned, out, unknown
