"""LIST: selectors, all namespaces, resourceVersion, limit/continue."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore

CONFIGMAPS = kinds.find("", "v1", "configmaps")
PODS = kinds.find("", "v1", "pods")
assert CONFIGMAPS and PODS
W = WriteOptions()


@pytest.fixture
async def registry(store: MemoryStore) -> ObjectRegistry:
    reg = ObjectRegistry(store)
    for ns in ("default", "other"):
        await reg.ensure_namespace(ns)
    for i in range(10):
        labels = {"app": "web" if i % 2 else "db", "n": str(i)}
        await reg.create(CONFIGMAPS, "default" if i < 8 else "other", {
            "metadata": {"name": f"cm-{i}", "labels": labels}, "data": {"i": str(i)}}, W)
    return reg


def names(listed: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in listed["items"]]


async def test_list_shape(registry: ObjectRegistry) -> None:
    """A list is a ConfigMapList with metadata.resourceVersion and served items."""
    listed = await registry.list(CONFIGMAPS, "default", ListOptions())
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "ConfigMapList")
    assert int(listed["metadata"]["resourceVersion"]) >= 12
    assert "continue" not in listed["metadata"]
    assert names(listed) == [f"cm-{i}" for i in range(8)]
    assert all(item["kind"] == "ConfigMap" for item in listed["items"])


async def test_all_namespaces(registry: ObjectRegistry) -> None:
    """Namespace "" lists every namespace."""
    assert len((await registry.list(CONFIGMAPS, "", ListOptions()))["items"]) == 10
    assert names(await registry.list(CONFIGMAPS, "other", ListOptions())) == ["cm-8", "cm-9"]


async def test_label_and_field_selectors(registry: ObjectRegistry) -> None:
    """labelSelector and fieldSelector both filter."""
    web = await registry.list(CONFIGMAPS, "", ListOptions(label_selector="app=web,n notin (1)"))
    assert names(web) == ["cm-3", "cm-5", "cm-7", "cm-9"]
    one = await registry.list(CONFIGMAPS, "", ListOptions(field_selector="metadata.name=cm-2"))
    assert names(one) == ["cm-2"]
    ns = await registry.list(CONFIGMAPS, "", ListOptions(
        field_selector="metadata.namespace!=default"))
    assert names(ns) == ["cm-8", "cm-9"]


@pytest.mark.parametrize(("opts", "fragment"), [
    (ListOptions(label_selector="a in b"), "unable to parse requirement"),
    (ListOptions(field_selector="spec.nope=1"), "field label not supported: spec.nope"),
    (ListOptions(field_selector="nope"), "invalid selector"),
])
async def test_bad_selectors_are_400(registry: ObjectRegistry, opts: ListOptions,
                                     fragment: str) -> None:
    """A bad selector is 400 BadRequest with the parser's message."""
    with pytest.raises(StatusError) as err:
        await registry.list(CONFIGMAPS, "", opts)
    assert err.value.code == 400 and fragment in err.value.message


async def test_paging(registry: ObjectRegistry) -> None:
    """limit/continue walks the whole list in pages read at one resourceVersion."""
    first = await registry.list(CONFIGMAPS, "", ListOptions(limit=4))
    assert len(first["items"]) == 4 and first["metadata"]["continue"]
    await registry.create(CONFIGMAPS, "default", {"metadata": {"name": "cm-late"}}, W)
    seen = names(first)
    token = first["metadata"]["continue"]
    while token:
        page = await registry.list(CONFIGMAPS, "", ListOptions(limit=4, continue_token=token))
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        seen += names(page)
        token = page["metadata"].get("continue", "")
    assert sorted(seen) == sorted(f"cm-{i}" for i in range(10))


async def test_paging_with_selector_fills_pages(registry: ObjectRegistry) -> None:
    """With a selector each page still holds `limit` matching items."""
    first = await registry.list(CONFIGMAPS, "", ListOptions(label_selector="app=web", limit=2))
    assert names(first) == ["cm-1", "cm-3"]
    rest = await registry.list(CONFIGMAPS, "", ListOptions(
        label_selector="app=web", limit=10, continue_token=first["metadata"]["continue"]))
    assert names(rest) == ["cm-5", "cm-7", "cm-9"]
    assert "continue" not in rest["metadata"]


async def test_continue_token_is_the_apiservers_shape(registry: ObjectRegistry) -> None:
    """The token is base64 JSON with v, rv and start, like the apiserver's."""
    first = await registry.list(CONFIGMAPS, "default", ListOptions(limit=1))
    token = first["metadata"]["continue"]
    doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert doc == {"v": "meta.k8s.io/v1", "rv": int(first["metadata"]["resourceVersion"]),
                   "start": "cm-0\u0000"}


async def test_expired_continue_is_410(registry: ObjectRegistry, store: MemoryStore) -> None:
    """A token whose revision was compacted away is 410 Expired."""
    first = await registry.list(CONFIGMAPS, "", ListOptions(limit=2))
    await registry.create(CONFIGMAPS, "default", {"metadata": {"name": "x"}}, W)
    await store.compact(await store.current_revision())
    with pytest.raises(StatusError) as err:
        await registry.list(CONFIGMAPS, "", ListOptions(
            limit=2, continue_token=first["metadata"]["continue"]))
    assert (err.value.code, err.value.reason) == (410, "Expired")
    assert err.value.message.startswith("The provided continue parameter is too old")


async def test_bad_continue_token_is_400(registry: ObjectRegistry) -> None:
    """A token that does not decode is 400."""
    with pytest.raises(StatusError) as err:
        await registry.list(CONFIGMAPS, "", ListOptions(continue_token="!!!"))
    assert err.value.code == 400


async def test_exact_resource_version(registry: ObjectRegistry) -> None:
    """resourceVersionMatch=Exact lists the state at that revision."""
    before = await registry.list(CONFIGMAPS, "other", ListOptions())
    rv = before["metadata"]["resourceVersion"]
    await registry.create(CONFIGMAPS, "other", {"metadata": {"name": "new"}}, W)
    exact = await registry.list(CONFIGMAPS, "other", ListOptions(
        resource_version=rv, resource_version_match="Exact"))
    assert names(exact) == ["cm-8", "cm-9"]
    latest = await registry.list(CONFIGMAPS, "other", ListOptions(resource_version=rv))
    assert names(latest) == ["cm-8", "cm-9", "new"]
    with pytest.raises(StatusError) as err:
        await registry.list(CONFIGMAPS, "other", ListOptions(resource_version="999999"))
    assert err.value.code == 504
