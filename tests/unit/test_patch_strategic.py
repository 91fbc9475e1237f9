"""Strategic merge patch, in the shapes kubectl apply, edit and patch send."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube13.model import kinds, objects
from minikube13.registry.errors import StatusError
from minikube13.registry.patch import STRATEGIC_MERGE_PATCH, apply_patch
from minikube13.registry.strategic import PatchError, merge

DEPLOYMENTS = kinds.find("apps", "v1", "deployments")
assert DEPLOYMENTS is not None
SCHEMA = objects.schema_of(DEPLOYMENTS)


def deployment(**spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                "containers": [
                    {"name": "app", "image": "nginx:1", "env": [
                        {"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                    {"name": "sidecar", "image": "busybox", "args": ["sleep", "1d"]},
                ],
                "volumes": [{"name": "data", "emptyDir": {}}],
            }},
            **spec_extra,
        },
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def patched(patch: dict[str, Any], original: dict[str, Any] | None = None) -> dict[str, Any]:
    base = original or deployment()
    before = copy.deepcopy(base)
    out = merge(base, patch, SCHEMA)
    assert base == before, "the original is not modified"
    return out


def test_container_merged_by_name() -> None:
    """`kubectl set image`-style patch changes one container and keeps the other."""
    out = patched({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:2"}]}}}})
    containers = pod_spec(out)["containers"]
    assert [c["name"] for c in containers] == ["app", "sidecar"]
    assert containers[0]["image"] == "nginx:2"
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]


def test_new_items_are_appended() -> None:
    """A container, env var and port not yet present are added after the existing ones."""
    out = patched({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}],
         "ports": [{"containerPort": 443}]},
        {"name": "extra", "image": "redis"}]}}}})
    app = pod_spec(out)["containers"][0]
    assert app["env"] == [{"name": "A", "value": "9"}, {"name": "B", "value": "2"},
                          {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in app["ports"]] == [80, 443]
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["app", "sidecar", "extra"]


def test_delete_directive_removes_one_item() -> None:
    """`$patch: delete` with a merge key removes that item only."""
    out = patched({"spec": {"template": {"spec": {
        "containers": [{"name": "sidecar", "$patch": "delete"},
                       {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
        "volumes": [{"name": "data", "$patch": "delete"}]}}}})
    assert [c["name"] for c in pod_spec(out)["containers"]] == ["app"]
    assert pod_spec(out)["containers"][0]["env"] == [{"name": "B", "value": "2"}]
    assert pod_spec(out)["volumes"] == []


def test_replace_directive_in_a_list() -> None:
    """A `{"$patch": "replace"}` element makes the patch list the whole list."""
    out = patched({"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}})
    assert pod_spec(out)["containers"] == [{"name": "only", "image": "x"}]


def test_replace_and_delete_directives_on_maps() -> None:
    """`$patch: replace` swaps a map whole; `$patch: delete` removes it."""
    out = patched({"metadata": {"labels": {"new": "1", "$patch": "replace"}},
                   "spec": {"selector": {"$patch": "delete"}}})
    assert out["metadata"]["labels"] == {"new": "1"}
    assert "selector" not in out["spec"]


def test_null_deletes_a_field() -> None:
    """A null value removes the field (kubectl apply removing a label or an env value)."""
    out = patched({"metadata": {"labels": {"app": None}}, "spec": {"template": {"spec": {
        "containers": [{"name": "app", "env": [{"name": "A", "value": None}]}]}}}})
    assert out["metadata"]["labels"] == {}
    assert pod_spec(out)["containers"][0]["env"][0] == {"name": "A"}


def test_list_without_merge_key_is_replaced() -> None:
    """args has no patch strategy, so the patch's list replaces it."""
    out = patched({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "args": ["sleep", "2d"]}]}}}})
    assert pod_spec(out)["containers"][1]["args"] == ["sleep", "2d"]


def test_scalar_list_with_merge_strategy_is_a_union() -> None:
    """finalizers (patchStrategy merge) gain new values and keep old ones."""
    out = patched({"metadata": {"finalizers": ["b", "c"]}})
    assert out["metadata"]["finalizers"] == ["a", "b", "c"]


def test_delete_from_primitive_list() -> None:
    """`$deleteFromPrimitiveList/finalizers` removes the named values."""
    out = patched({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == ["b"]


def test_set_element_order_from_kubectl_apply() -> None:
    """kubectl apply's `$setElementOrder` puts the named items in the patch's order and
    keeps server-only items where they were."""
    original = deployment()
    pod_spec(original)["containers"].append({"name": "injected", "image": "proxy"})
    out = patched({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "app"}],
        "containers": [{"name": "app", "image": "nginx:3"}]}}}}, original)
    names = [c["name"] for c in pod_spec(out)["containers"]]
    assert names == ["sidecar", "app", "injected"]
    assert pod_spec(out)["containers"][1]["image"] == "nginx:3"


def test_retain_keys() -> None:
    """`$retainKeys` drops the keys it does not list (strategy type switch)."""
    original = deployment(strategy={"type": "RollingUpdate",
                                    "rollingUpdate": {"maxSurge": 1}})
    out = patched({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                  original)
    assert out["spec"]["strategy"] == {"type": "Recreate"}


def test_directives_inside_new_items_are_not_stored() -> None:
    """A new map that carries directives is stored without them."""
    out = patched({"spec": {"template": {"spec": {"containers": [
        {"name": "new", "image": "x", "env": [{"name": "Q", "$patch": "delete"}]}]}}}})
    assert pod_spec(out)["containers"][-1] == {"name": "new", "image": "x", "env": []}


def test_missing_merge_key_is_an_error() -> None:
    """A container without a name cannot be merged: 400 BadRequest through apply_patch."""
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        merge(deployment(), {"spec": {"template": {"spec": {"containers": [
            {"image": "x"}]}}}}, SCHEMA)
    with pytest.raises(StatusError) as err:
        apply_patch(STRATEGIC_MERGE_PATCH, deployment(), {"spec": {"template": {"spec": {
            "containers": [{"image": "x"}]}}}}, SCHEMA)
    assert err.value.code == 400


def test_unknown_patch_directive_is_an_error() -> None:
    """`$patch: explode` is not a directive."""
    with pytest.raises(PatchError, match="Unknown patch type: explode"):
        merge(deployment(), {"spec": {"$patch": "explode"}}, SCHEMA)


def test_without_schema_lists_are_replaced() -> None:
    """For an object with no patch metadata, strategic merge is a merge patch."""
    out = merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}, None)
    assert out == {"a": [3], "b": {"c": 1, "d": 2}}


def test_kubectl_edit_style_patch() -> None:
    """kubectl edit sends only the difference: a label and one container's image."""
    out = apply_patch(STRATEGIC_MERGE_PATCH, deployment(), {
        "metadata": {"labels": {"edited": "true"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [
            {"name": "sidecar", "image": "busybox:2"}]}}}}, SCHEMA)
    assert out["metadata"]["labels"] == {"app": "web", "edited": "true"}
    assert out["spec"]["replicas"] == 3
    assert [c["image"] for c in pod_spec(out)["containers"]] == ["nginx:1", "busybox:2"]
