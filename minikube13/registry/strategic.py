"""Strategic merge patch, as kubectl apply/edit/patch send it (pure).

Like a JSON merge patch, except that lists whose schema says `x-kubernetes-patch-strategy:
merge` are merged: lists of maps item by item on their merge key (containers by name, ports
by containerPort, ...), lists of scalars as a set union. Directives: `$patch: replace |
delete | merge` (in a map or as a list element), `$retainKeys`, `$deleteFromPrimitiveList/<f>`
and `$setElementOrder/<f>`. The order rules follow k8s.io/apimachinery strategicpatch.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from minikube13.model.schema import Arr, Map, Obj, Schema

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVES = "$deleteFromPrimitiveList/"


class PatchError(ValueError):
    """The patch is not a valid strategic merge patch for this object (400 BadRequest)."""


SchemaLike = Schema | None


def merge(original: dict[str, Any], patch: dict[str, Any],
          schema: Schema | None) -> dict[str, Any]:
    """Apply `patch` to a copy of `original`; lists the schema says nothing about are
    replaced, as in a JSON merge patch."""
    return _merge_map(copy.deepcopy(original), patch, schema)


def _child(schema: SchemaLike, key: str) -> SchemaLike:
    if isinstance(schema, Obj):
        return schema.fields.get(key)
    if isinstance(schema, Map):
        return schema.values
    return None


def _list_meta(schema: SchemaLike, key: str) -> tuple[bool, str, SchemaLike]:
    """(merge the list?, its merge key, the schema of its items) for field `key`."""
    sub = _child(schema, key)
    if isinstance(sub, Arr):
        return "merge" in sub.strategy.split(","), sub.merge_key, sub.items
    return False, "", None


def _is_directive_map(value: Any, directive: str) -> bool:
    return isinstance(value, dict) and value.get(DIRECTIVE) == directive


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               schema: SchemaLike) -> dict[str, Any]:
    patch = dict(patch)
    directive = patch.pop(DIRECTIVE, None)
    if directive not in (None, "merge", "replace", "delete"):
        raise PatchError(f"Unknown patch type: {directive} in map: {_show(patch)}")
    if directive == "replace":
        return _merge_map({}, patch, schema)
    if directive == "delete":
        return {}
    retain = patch.pop(RETAIN_KEYS, None)
    orders = _pop_prefixed(patch, SET_ORDER)
    deletions = _pop_prefixed(patch, DELETE_PRIMITIVES)
    for key, values in deletions.items():
        current = original.get(key)
        if isinstance(current, list):
            original[key] = [v for v in current if v not in values]
    for key, value in patch.items():
        if value is None or _is_directive_map(value, "delete"):
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            base = current if isinstance(current, dict) else {}
            original[key] = _merge_map(base, value, _child(schema, key))
        elif isinstance(value, list):
            base_list = current if isinstance(current, list) else []
            original[key] = _merge_list(base_list, value, *_list_meta(schema, key))
        else:
            original[key] = value
    for key, order in orders.items():
        _, merge_key, _ = _list_meta(schema, key)
        if isinstance(original.get(key), list):
            original[key] = _normalize_order(original[key], order, merge_key)
    if retain is not None:
        _retain(original, retain)
    return original


def _pop_prefixed(patch: dict[str, Any], prefix: str) -> dict[str, list[Any]]:
    found = {k: v for k, v in patch.items() if k.startswith(prefix)}
    for key, value in found.items():
        del patch[key]
        if not isinstance(value, list):
            raise PatchError(f"invalid type for {key}: {_show(value)}; expected a list")
    return {k[len(prefix):]: v for k, v in found.items()}


def _retain(original: dict[str, Any], retain: Any) -> None:
    if not isinstance(retain, list):
        raise PatchError(f"invalid $retainKeys: {_show(retain)}; expected a list")
    for key in [k for k in original if k not in retain]:
        del original[key]


def _merge_list(original: list[Any], patch: list[Any], merge: bool, merge_key: str,
                items: SchemaLike) -> list[Any]:
    if not merge:
        return copy.deepcopy([_strip(v, items) for v in patch])
    if not merge_key:
        out = list(original)
        for value in patch:
            if isinstance(value, dict):
                raise PatchError(f"found a map {_show(value)} in a list of scalars")
            if value not in out:
                out.append(value)
        return out
    if any(_is_directive_map(v, "replace") for v in patch):
        return [_merge_map({}, v, items) for v in patch if not _only_directive(v)]
    out = list(original)
    for value in patch:
        if _only_directive(value):
            continue
        if not isinstance(value, dict) or merge_key not in value:
            raise PatchError(f"map: {_show(value)} does not contain declared merge key: "
                             f"{merge_key}")
        found = [i for i, item in enumerate(out)
                 if isinstance(item, dict) and item.get(merge_key) == value[merge_key]]
        if _is_directive_map(value, "delete"):
            out = [item for i, item in enumerate(out) if i not in found]
        elif found:
            out[found[0]] = _merge_map(out[found[0]], value, items)
        else:
            out.append(_merge_map({}, value, items))
    return out


def _only_directive(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {DIRECTIVE}


def _strip(value: Any, schema: SchemaLike) -> Any:
    """A replaced list's items, with any directives inside them applied to nothing."""
    return _merge_map({}, value, schema) if isinstance(value, dict) else value


def _normalize_order(merged: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    """$setElementOrder: items it names in its order, the others where the server had
    them (strategicpatch.normalizeElementOrder and mergeSortedSlice)."""
    def key(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [key(v) for v in order]
    named = sorted((v for v in merged if key(v) in wanted), key=lambda v: wanted.index(key(v)))
    server_order = [key(v) for v in merged]
    rest = [v for v in merged if key(v) not in wanted]
    out: list[Any] = []
    i = j = 0
    while i < len(named) or j < len(rest):
        if j >= len(rest):
            out.append(named[i])
            i += 1
        elif i >= len(named):
            out.append(rest[j])
            j += 1
        elif server_order.index(key(named[i])) < server_order.index(key(rest[j])):
            out.append(named[i])
            i += 1
        else:
            out.append(rest[j])
            j += 1
    return out


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)[:200]
