"""Kubernetes REST paths parse to exactly what the apiserver would serve there."""

from __future__ import annotations

import pytest

from minikube13.api.routes import Target, parse, verb_for


def test_discovery_paths() -> None:
    """/api, /apis, /apis/apps and the group/version lists are discovery documents."""
    assert parse("/api").target is Target.API_VERSIONS  # type: ignore[union-attr]
    assert parse("/apis").target is Target.GROUP_LIST  # type: ignore[union-attr]
    assert parse("/apis/apps").group == "apps"  # type: ignore[union-attr]
    r = parse("/apis/batch/v2alpha1")
    assert r is not None and r.target is Target.RESOURCE_LIST and r.version == "v2alpha1"
    assert parse("/api/v1/").target is Target.RESOURCE_LIST  # type: ignore[union-attr]


@pytest.mark.parametrize("path", [
    "/", "/apis/nosuch.io", "/apis/apps/v9", "/api/v2", "/api/v1/widgets",
    "/api/v1/pods/foo",  # namespaced objects live under /namespaces/{ns}/
    "/api/v1/namespaces/default/nodes", "/api/v1/namespaces/default/pods/p/nosuch",
    "/api/v1/namespaces/default/pods/p/status/more", "/api/v1//pods", "/apis//v1",
    "/api/v1/watch", "/api/v1/watch/namespaces/default/pods/p/status",
    "/apis/apps/v1/namespaces/x",
])
def test_unknown_paths_are_none(path: str) -> None:
    """Paths the apiserver does not serve come out as None (404)."""
    assert parse(path) is None


def test_namespaced_object_and_subresource() -> None:
    """A pod, its status, and a deployment's scale are found with namespace and name."""
    r = parse("/api/v1/namespaces/ns1/pods/web")
    assert r is not None and r.target is Target.OBJECT
    assert (r.namespace, r.name, r.info and r.info.kind) == ("ns1", "web", "Pod")
    r = parse("/apis/apps/v1/namespaces/ns1/deployments/d/scale")
    assert r is not None and r.target is Target.SUBRESOURCE and r.subresource == "scale"


def test_namespaces_themselves() -> None:
    """/api/v1/namespaces/{name}[/status|/finalize] address the Namespace object."""
    r = parse("/api/v1/namespaces/team")
    assert r is not None and r.target is Target.OBJECT and r.name == "team"
    assert r.namespace == "" and r.info is not None and r.info.kind == "Namespace"
    r = parse("/api/v1/namespaces/team/finalize")
    assert r is not None and r.subresource == "finalize" and r.name == "team"
    r = parse("/api/v1/namespaces/team/pods")
    assert r is not None and r.target is Target.COLLECTION and r.namespace == "team"


def test_all_namespaces_and_watch_prefix() -> None:
    """/api/v1/pods lists every namespace; /watch/ paths mark a watch."""
    r = parse("/api/v1/pods")
    assert r is not None and r.all_namespaces
    r = parse("/api/v1/watch/namespaces/default/pods/p")
    assert r is not None and r.watch_prefix and r.name == "p"


def test_verbs() -> None:
    """Methods map to Kubernetes verbs; ones a path does not take are None (405)."""
    coll = parse("/api/v1/namespaces/default/pods")
    obj = parse("/api/v1/namespaces/default/pods/p")
    status = parse("/api/v1/namespaces/default/pods/p/status")
    binding = parse("/api/v1/namespaces/default/pods/p/binding")
    everywhere = parse("/api/v1/pods")
    assert coll and obj and status and binding and everywhere
    assert verb_for(coll, "GET", False) == "list"
    assert verb_for(coll, "GET", True) == "watch"
    assert verb_for(coll, "POST", False) == "create"
    assert verb_for(coll, "DELETE", False) == "deletecollection"
    assert verb_for(coll, "PUT", False) is None
    assert verb_for(obj, "PATCH", False) == "patch"
    assert verb_for(obj, "POST", False) is None
    assert verb_for(obj, "GET", True) == "watch"
    assert verb_for(status, "PUT", False) == "update"
    assert verb_for(status, "DELETE", False) is None
    assert verb_for(binding, "POST", False) == "create"
    assert verb_for(binding, "GET", False) is None
    assert verb_for(everywhere, "POST", False) is None
    assert verb_for(parse("/apis"), "POST", False) is None  # type: ignore[arg-type]
