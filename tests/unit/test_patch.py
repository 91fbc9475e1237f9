"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) as `kubectl patch --type` sends."""

from __future__ import annotations

from typing import Any

import pytest

from minikube13.registry.errors import StatusError
from minikube13.registry.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    apply_json_patch,
    apply_merge_patch,
    apply_patch,
)

DOC: dict[str, Any] = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 1, "list": ["a", "b"], "flag": True},
}


def test_json_patch_every_operation() -> None:
    """add, remove, replace, move, copy and test apply in order."""
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
        {"op": "add", "path": "/spec/list/1", "value": "x"},
        {"op": "add", "path": "/spec/list/-", "value": "z"},
        {"op": "remove", "path": "/spec/list/0"},
        {"op": "copy", "from": "/metadata/labels", "path": "/spec/labels"},
        {"op": "move", "from": "/spec/flag", "path": "/spec/enabled"},
    ]
    out = apply_json_patch(DOC, ops)
    assert out["spec"] == {"replicas": 3, "list": ["x", "b", "z"], "enabled": True,
                           "labels": {"app": "web", "tier": "front"}}
    assert DOC["spec"]["replicas"] == 1, "the original is not modified"


def test_json_patch_escaped_pointer() -> None:
    """`~1` is `/` and `~0` is `~` in a path, as in annotation keys."""
    out = apply_json_patch({"metadata": {"annotations": {}}}, [
        {"op": "add", "path": "/metadata/annotations/example.com~1a~0b", "value": "1"}])
    assert out["metadata"]["annotations"] == {"example.com/a~b": "1"}


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/spec/replicas", "value": 2}],
    [{"op": "test", "path": "/spec/flag", "value": 1}],
    [{"op": "remove", "path": "/spec/missing"}],
    [{"op": "replace", "path": "/spec/missing", "value": 1}],
    [{"op": "add", "path": "/nothing/here", "value": 1}],
    [{"op": "add", "path": "/spec/list/5", "value": 1}],
    [{"op": "move", "from": "/spec", "path": "/spec/inner"}],
])
def test_json_patch_that_does_not_apply_is_422(ops: list[dict[str, Any]]) -> None:
    """A well-formed patch that does not fit the object is 422 and changes nothing."""
    with pytest.raises(StatusError) as err:
        apply_patch(JSON_PATCH, DOC, ops, None)
    assert err.value.code == 422


@pytest.mark.parametrize("ops", [
    {"op": "add"},
    [{"op": "frobnicate", "path": "/a"}],
    [{"op": "add", "path": "/a"}],
    [{"path": "/a", "value": 1}],
    [{"op": "add", "path": "no-slash", "value": 1}],
    ["not an object"],
])
def test_malformed_json_patch_is_400(ops: Any) -> None:
    """A body that is not a JSON patch is a 400 BadRequest."""
    with pytest.raises(StatusError) as err:
        apply_patch(JSON_PATCH, DOC, ops, None)
    assert err.value.code == 400


# The test cases of RFC 7386, appendix A.
@pytest.mark.parametrize(("target", "patch", "result"), [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_rfc7386_examples(target: Any, patch: Any, result: Any) -> None:
    """JSON merge patch gives exactly the RFC's results."""
    assert apply_merge_patch(target, patch) == result


def test_merge_patch_replaces_lists_and_deletes_with_null() -> None:
    """kubectl patch --type=merge: lists are replaced whole, null removes a field."""
    out = apply_patch(MERGE_PATCH, DOC, {"metadata": {"labels": {"app": None, "x": "1"}},
                                         "spec": {"list": ["q"]}}, None)
    assert out["metadata"]["labels"] == {"x": "1"}
    assert out["spec"]["list"] == ["q"]


def test_merge_patch_that_is_not_an_object_is_400() -> None:
    """A merge patch that would turn the object into a list is refused."""
    with pytest.raises(StatusError) as err:
        apply_patch(MERGE_PATCH, DOC, ["x"], None)
    assert err.value.code == 400


def test_unknown_patch_type_is_415() -> None:
    """An unknown patch content type is an unsupported media type."""
    with pytest.raises(StatusError) as err:
        apply_patch("application/apply-patch+yaml", DOC, {}, None)
    assert err.value.code == 415
