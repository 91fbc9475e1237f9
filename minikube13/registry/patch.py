"""The three PATCH bodies kubectl and the clients send, applied to a served object (pure).

JSON patch (RFC 6902) and JSON merge patch (RFC 7386) here; strategic merge patch, which
needs the kind's schema for merge keys and list strategies, in `strategic.py`. A patch that
cannot be decoded is a 400 BadRequest; one that decodes but does not apply to this object
(a failed `test`, a missing path) is a 422, as the apiserver answers.
"""

from __future__ import annotations

import copy
from typing import Any

from minikube13.model.schema import Schema
from minikube13.registry import strategic
from minikube13.registry.errors import StatusError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def not_applicable(message: str) -> StatusError:
    """A well-formed patch that does not apply to the current object (HTTP 422)."""
    return StatusError(422, "Invalid", message)


def apply_patch(patch_type: str, original: dict[str, Any], patch: Any,
                schema: Schema | None) -> dict[str, Any]:
    """Apply one decoded patch body to a copy of `original`; return the patched object."""
    if patch_type == JSON_PATCH:
        result = apply_json_patch(original, patch)
    elif patch_type == MERGE_PATCH:
        result = apply_merge_patch(original, patch)
    elif patch_type == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request(f"json: cannot unmarshal {_json_type(patch)} into Go value of "
                              "type map[string]interface {}")
        try:
            result = strategic.merge(original, patch, schema)
        except strategic.PatchError as err:
            raise bad_request(str(err)) from err
    else:
        raise StatusError(415, "UnsupportedMediaType",
                          f"the body of the request was in an unknown format - accepted "
                          f"media types include: {', '.join(PATCH_TYPES)}")
    if not isinstance(result, dict):
        raise bad_request(f"json: cannot unmarshal {_json_type(result)} into Go value of "
                          "type map[string]interface {}")
    return result


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "object" if isinstance(value, dict) else "null"


# -- JSON merge patch (RFC 7386) -----------------------------------------------------------

def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null removes a member, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# -- JSON patch (RFC 6902) -----------------------------------------------------------------

_OPS = ("add", "remove", "replace", "move", "copy", "test")


def _pointer(text: Any, field: str = "path") -> list[str]:
    if not isinstance(text, str):
        raise bad_request(f"json patch: operation is missing a string {field!r}")
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"json patch: invalid JSON pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _decode_ops(patch: Any) -> list[dict[str, Any]]:
    if not isinstance(patch, list):
        raise bad_request(f"json: cannot unmarshal {_json_type(patch)} into Go value of type "
                          "jsonpatch.Patch")
    for op in patch:
        if not isinstance(op, dict):
            raise bad_request("json: cannot unmarshal operation: not an object")
        kind = op.get("op")
        if kind not in _OPS:
            raise bad_request(f"Unexpected kind: {kind}")
        _pointer(op.get("path"))
        if kind in ("move", "copy"):
            _pointer(op.get("from"), "from")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f"json patch: {kind} operation at {op.get('path')!r} has no "
                              "'value'")
    return patch


def apply_json_patch(doc: Any, patch: Any) -> Any:
    """Apply every operation in order to a copy; any failure leaves nothing applied."""
    result = copy.deepcopy(doc)
    for op in _decode_ops(patch):
        result = _apply_op(result, op)
    return result


def _apply_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op["op"], op["path"]
    parts = _pointer(path)
    if kind == "add":
        return _add(doc, parts, copy.deepcopy(op["value"]), kind, path)
    if kind == "remove":
        _remove(doc, parts, kind, path)
        return doc
    if kind == "replace":
        _get(doc, parts, kind, path)  # the target must exist
        if not parts:
            return copy.deepcopy(op["value"])
        _remove(doc, parts, kind, path)
        return _add(doc, parts, copy.deepcopy(op["value"]), kind, path)
    if kind == "test":
        if not _equal(_get(doc, parts, kind, path), op["value"]):
            raise not_applicable(f"testing value {path} failed: test failed")
        return doc
    source = _pointer(op["from"], "from")
    value = copy.deepcopy(_get(doc, source, kind, op["from"]))
    if kind == "move":
        if parts[:len(source)] == source and len(parts) > len(source):
            raise not_applicable(f"move operation does not apply: {path} is a child of "
                                 f"{op['from']}")
        _remove(doc, source, kind, op["from"])
    return _add(doc, parts, value, kind, path)


def _missing(kind: str, path: str) -> StatusError:
    return not_applicable(f'{kind} operation does not apply: doc is missing path: "{path}": '
                          "missing value")


def _index(container: list[Any], token: str, kind: str, path: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise _missing(kind, path)
    index = int(token)
    if index > len(container) or (index == len(container) and not adding):
        raise not_applicable(f"{kind} operation does not apply: index out of bounds: "
                             f"{path}")
    return index


def _get(doc: Any, parts: list[str], kind: str, path: str) -> Any:
    node = doc
    for token in parts:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, kind, path, adding=False)]
        else:
            raise _missing(kind, path)
    return node


def _add(doc: Any, parts: list[str], value: Any, kind: str, path: str) -> Any:
    if not parts:
        return value
    parent = _get(doc, parts[:-1], kind, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, kind, path, adding=True), value)
    else:
        raise _missing(kind, path)
    return doc


def _remove(doc: Any, parts: list[str], kind: str, path: str) -> None:
    if not parts:
        raise not_applicable(f"{kind} operation does not apply: cannot remove the root")
    parent = _get(doc, parts[:-1], kind, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, kind, path, adding=False)]
    else:
        raise _missing(kind, path)


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    numbers = isinstance(a, int | float), isinstance(b, int | float)
    if any(numbers):
        return all(numbers) and a == b
    return type(a) is type(b) and bool(a == b)
