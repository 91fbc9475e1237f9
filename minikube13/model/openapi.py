"""The OpenAPI v3 document of one served group/version, in the shape the apiserver serves at
/openapi/v3/api/v1 and /openapi/v3/apis/<group>/<version>.

`kubectl explain` finds a kind by the `x-kubernetes-group-version-kind` of a component and
walks its fields through `properties` and `allOf: [{$ref}]`; `kubectl apply` reads the
patch merge keys from the same components.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from minikube13.model import kinds, objects
from minikube13.model.groups.meta import LIST_META
from minikube13.model.kinds import ResourceInfo
from minikube13.model.schema import Obj, string

# group -> the name Kubernetes uses inside component names (io.k8s.api.<name>.<version>.Kind)
_GROUP_PACKAGES = {"": "core"}


def component_prefix(group: str, version: str) -> str:
    package = _GROUP_PACKAGES.get(group, group.split(".", 1)[0])
    return f"io.k8s.api.{package}.{version}"


def _gvk(info: ResourceInfo, kind: str) -> list[dict[str, str]]:
    return [{"group": info.group, "kind": kind, "version": info.version}]


def _kind_schema(info: ResourceInfo) -> Obj:
    """The served top-level schema, named for the served group/version (PetSet gets
    io.k8s.api.apps.v1alpha1.PetSet even though it is stored as a StatefulSet)."""
    schema = objects.schema_of(info)
    return dataclasses.replace(schema, name=f"{component_prefix(info.group, info.version)}."
                                            f"{info.kind}")


def _list_schema(info: ResourceInfo, item_ref: str) -> Obj:
    kind = info.list_kind
    return Obj(
        description=f"{kind} is a list of {info.kind} objects.",
        name=f"{component_prefix(info.group, info.version)}.{kind}",
        required=("items",),
        fields={
            "apiVersion": string("APIVersion defines the versioned schema of this "
                                 "representation of an object."),
            "items": _RefList(ref=item_ref),
            "kind": string("Kind is a string value representing the REST resource this "
                           "object represents."),
            "metadata": LIST_META,
        },
    )


@dataclasses.dataclass(frozen=True)
class _RefList(Obj):
    """An array of $refs to an already-registered component (a List's items)."""

    ref: str = ""

    def openapi(self, components: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "description": "List of objects.",
                "items": {"allOf": [{"$ref": f"#/components/schemas/{self.ref}"}]}}


def _operation(info: ResourceInfo, action: str, ref: str) -> dict[str, Any]:
    verb = "list objects of kind" if action == "list" else "read the specified"
    return {
        "description": f"{verb} {info.kind}",
        "operationId": f"{action}{info.kind}",
        "responses": {"200": {"description": "OK", "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{ref}"}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": info.group, "kind": info.kind,
                                            "version": info.version},
    }


def resource_paths(info: ResourceInfo, kind_ref: str, list_ref: str) -> dict[str, Any]:
    """The collection and item GET operations; `kubectl explain` maps a resource to its
    kind through their x-kubernetes-group-version-kind."""
    root = f"/apis/{info.group}/{info.version}" if info.group else "/api/v1"
    base = f"{root}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else \
        f"{root}/{info.plural}"
    return {
        base: {"get": _operation(info, "list", list_ref)},
        f"{base}/{{name}}": {"get": _operation(info, "get", kind_ref)},
    }


def served(group: str, version: str) -> list[ResourceInfo]:
    return [info for info in kinds.RESOURCES
            if (info.group, info.version) == (group, version)]


def openapi_v3(group: str, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for info in served(group, version):
        schema = _kind_schema(info)
        schema.openapi(components)
        components[schema.name]["x-kubernetes-group-version-kind"] = _gvk(info, info.kind)
        list_schema = _list_schema(info, schema.name)
        list_schema.openapi(components)
        components[list_schema.name]["x-kubernetes-group-version-kind"] = _gvk(
            info, info.list_kind)
        paths.update(resource_paths(info, schema.name, list_schema.name))
    title = "Kubernetes"
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v1.3.0-minikube13"},
        "paths": paths,
        "components": {"schemas": components},
    }
