"""Kubernetes REST paths -> what they name, and which HTTP methods each one takes.

Pure. `parse(path)` understands exactly the apiserver's layout:

    /api                       /apis        /apis/{g}
    /api/v1                    /apis/{g}/{v}                              (resource lists)
    {prefix}/{plural}[/{name}[/{sub}]]                                    (cluster-scoped, or
                                                                           all namespaces)
    {prefix}/namespaces/{ns}/{plural}[/{name}[/{sub}]]
    /api/v1/namespaces/{name}[/status|/finalize]
    {prefix}/watch/...         (the old watch prefix, same shapes)

where {prefix} is /api/v1 or /apis/{g}/{v}. Anything else is None (404).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo


class Target(enum.Enum):
    API_VERSIONS = "api-versions"  # /api
    GROUP_LIST = "group-list"  # /apis
    GROUP = "group"  # /apis/{g}
    RESOURCE_LIST = "resource-list"  # /api/v1, /apis/{g}/{v}
    COLLECTION = "collection"
    OBJECT = "object"
    SUBRESOURCE = "subresource"


@dataclass(frozen=True)
class Route:
    target: Target
    group: str = ""
    version: str = ""
    info: ResourceInfo | None = None
    namespace: str = ""  # "" for cluster-scoped resources and all-namespace collections
    name: str = ""
    subresource: str = ""
    watch_prefix: bool = False  # reached through the old /watch/ paths

    @property
    def all_namespaces(self) -> bool:
        return self.info is not None and self.info.namespaced and not self.namespace


@dataclass(frozen=True)
class Subresource:
    """How a subresource is served: its kind (None = the parent's) and its verbs."""

    verbs: tuple[str, ...]
    kind: str | None = None
    group: str | None = None  # None = the parent's group/version
    version: str | None = None


SUBRESOURCES: dict[str, Subresource] = {
    "status": Subresource(("get", "patch", "update")),
    "scale": Subresource(("get", "patch", "update"), "Scale", "autoscaling", "v1"),
    "binding": Subresource(("create",), "Binding"),
    "eviction": Subresource(("create",), "Eviction", "policy", "v1"),
    "log": Subresource(("get",), "Pod"),
    "exec": Subresource(("create", "get"), "PodExecOptions"),
    "finalize": Subresource(("update",), "Namespace"),
    "token": Subresource(("create",), "TokenRequest", "authentication.k8s.io", "v1"),
}


def subresource_of(info: ResourceInfo, sub: str) -> Subresource:
    """The served shape of `info`'s subresource (extensions/v1beta1 scales its own way)."""
    spec = SUBRESOURCES[sub]
    if sub == "scale" and info.group == "extensions":
        return Subresource(spec.verbs, "Scale", "extensions", "v1beta1")
    return spec


# The served table is fixed at import time; parse() runs on every request.
_GROUP_VERSIONS = kinds.group_versions()


def parse(path: str) -> Route | None:
    segs = path.strip("/").split("/") if path.strip("/") else []
    if any(not s for s in segs):
        return None
    if segs[:1] == ["api"]:
        if len(segs) == 1:
            return Route(Target.API_VERSIONS)
        return _in_group_version("", segs[1], segs[2:])
    if segs[:1] == ["apis"]:
        if len(segs) == 1:
            return Route(Target.GROUP_LIST)
        group = segs[1]
        if group not in _GROUP_VERSIONS or group == "":
            return None
        if len(segs) == 2:
            return Route(Target.GROUP, group=group)
        return _in_group_version(group, segs[2], segs[3:])
    return None


def _in_group_version(group: str, version: str, rest: list[str]) -> Route | None:
    if version not in _GROUP_VERSIONS.get(group, []):
        return None
    if not rest:
        return Route(Target.RESOURCE_LIST, group=group, version=version)
    watch = rest[0] == "watch"
    if watch:
        rest = rest[1:]
        if not rest:
            return None
    route = _resource_path(group, version, rest)
    if route is None or not watch:
        return route
    if route.target is Target.SUBRESOURCE:
        return None
    return Route(route.target, group, version, route.info, route.namespace, route.name,
                 watch_prefix=True)


def _resource_path(group: str, version: str, rest: list[str]) -> Route | None:
    if rest[0] == "namespaces" and len(rest) >= 3 and not _is_namespace_sub(group, rest):
        namespace, rest = rest[1], rest[2:]
        info = kinds.find(group, version, rest[0])
        if info is None or not info.namespaced:
            return None
        return _below(info, namespace, rest[1:])
    info = kinds.find(group, version, rest[0])
    if info is None:
        return None
    if info.namespaced and len(rest) > 1:
        return None  # a namespaced object is only reachable under /namespaces/{ns}/
    return _below(info, "", rest[1:])


def _is_namespace_sub(group: str, rest: list[str]) -> bool:
    """/api/v1/namespaces/{name}/status (or /finalize) is the namespace's subresource."""
    ns_info = kinds.find(group, "v1", "namespaces") if group == "" else None
    return (ns_info is not None and len(rest) == 3 and rest[2] in ns_info.subresources)


def _below(info: ResourceInfo, namespace: str, rest: list[str]) -> Route | None:
    group, version = info.group, info.version
    if not rest:
        return Route(Target.COLLECTION, group, version, info, namespace)
    if len(rest) == 1:
        return Route(Target.OBJECT, group, version, info, namespace, rest[0])
    if len(rest) == 2 and rest[1] in info.subresources and rest[1] in SUBRESOURCES:
        return Route(Target.SUBRESOURCE, group, version, info, namespace, rest[0], rest[1])
    return None


# -- methods ------------------------------------------------------------------------------

_OBJECT_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_SUB_METHODS = {"get": "GET", "update": "PUT", "patch": "PATCH", "create": "POST"}


def verb_for(route: Route, method: str, watch: bool) -> str | None:
    """The Kubernetes verb an HTTP method means on this route; None = 405."""
    info = route.info
    if info is None:
        return "get" if method in ("GET", "HEAD") else None
    if route.watch_prefix:
        verb = "watch" if method == "GET" else None
    elif route.target is Target.COLLECTION:
        verb = _collection_verb(route, method, watch)
    elif route.target is Target.OBJECT:
        verb = _OBJECT_VERBS.get(method)
        if verb == "get" and watch:
            verb = "watch"
    else:
        spec = subresource_of(info, route.subresource)
        allowed = {_SUB_METHODS[v]: v for v in spec.verbs}
        return allowed.get(method)
    if verb is None or verb not in info.verbs:
        return None
    return verb


def _collection_verb(route: Route, method: str, watch: bool) -> str | None:
    if method == "GET":
        return "watch" if watch else "list"
    if route.all_namespaces:
        return None  # across namespaces one may only read
    return {"POST": "create", "DELETE": "deletecollection"}.get(method)
