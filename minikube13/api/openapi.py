"""OpenAPI v3: the /openapi/v3 index and one document per group/version.

Pure. The schemas (components) come from the model (minikube13.model.openapi); this module
adds the `paths`, because kubectl reads them: before `create`/`apply`/`patch` it looks for a PATCH
operation tagged with the object's group/version/kind that lists a `fieldValidation` query
parameter, and when it finds one it leaves validation to the server (`fieldValidation=Strict`)
instead of validating on the client. `kubectl explain` reads only the components.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from minikube13 import KUBERNETES_GIT_VERSION
from minikube13.api.routes import subresource_of
from minikube13.model import kinds
from minikube13.model import openapi as model_openapi
from minikube13.model.kinds import ResourceInfo

Doc = dict[str, Any]
GVK = "x-kubernetes-group-version-kind"


def gv_path(group: str, version: str) -> str:
    """The index key of a group/version: "api/v1" or "apis/apps/v1"."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def all_group_versions() -> list[tuple[str, str]]:
    return [(g, v) for g, versions in kinds.group_versions().items() for v in versions]


def content_hash(body: bytes) -> str:
    """What the apiserver puts in `?hash=`: the upper-case hex sha512 of the document."""
    return hashlib.sha512(body).hexdigest().upper()


def index(hashes: dict[str, str]) -> Doc:
    """{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=..."}, ...}}."""
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={h}"}
                      for path, h in hashes.items()}}


def encode(doc: Doc) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")


def document(group: str, version: str) -> Doc:
    doc: Doc = {"openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": KUBERNETES_GIT_VERSION}}
    doc.update(_model_document(group, version))
    doc.setdefault("components", {}).setdefault("schemas", {})
    doc["paths"] = paths(group, version, doc["components"]["schemas"])
    return doc


def _model_document(group: str, version: str) -> Doc:
    """The model's document without its own paths (ours carry the query parameters)."""
    found = model_openapi.openapi_v3(group, version)
    return {k: v for k, v in found.items() if k != "paths"}


def _schema_ref(schemas: Doc, group: str, version: str, kind: str) -> Doc:
    """A $ref to the component tagged with this group/version/kind, or a bare object."""
    for name, schema in schemas.items():
        for gvk in schema.get(GVK) or []:
            if (gvk.get("group", ""), gvk.get("version"), gvk.get("kind")) == (
                    group, version, kind):
                return {"$ref": f"#/components/schemas/{name}"}
    return {"type": "object"}


def _query(name: str, description: str, type_: str = "string") -> Doc:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": type_, "uniqueItems": True}}


_DRY_RUN = _query("dryRun", "When present, indicates that modifications should not be "
                  "persisted. Valid value: All")
_FIELD_MANAGER = _query("fieldManager", "fieldManager is a name associated with the actor "
                        "or entity that is making these changes.")
_FIELD_VALIDATION = _query(
    "fieldValidation", "fieldValidation instructs the server on how to handle objects in "
    "the request containing unknown or duplicate fields: Ignore, Warn or Strict.")
_WRITE = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
_LIST = [_query(n, d, t) for n, d, t in (
    ("labelSelector", "A selector to restrict the list of returned objects by their labels.",
     "string"),
    ("fieldSelector", "A selector to restrict the list of returned objects by their fields.",
     "string"),
    ("limit", "limit is the maximum number of responses to return for a list call.",
     "integer"),
    ("continue", "The continue option should be set when retrieving more results.", "string"),
    ("resourceVersion", "resourceVersion sets a constraint on what resource versions a "
     "request may be served from.", "string"),
    ("resourceVersionMatch", "resourceVersionMatch determines how resourceVersion is "
     "applied to list calls.", "string"),
    ("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    ("watch", "Watch for changes to the described resources.", "boolean"),
    ("allowWatchBookmarks", "allowWatchBookmarks requests watch events with type BOOKMARK.",
     "boolean"),
    ("sendInitialEvents", "sendInitialEvents=true may be set together with watch=true.",
     "boolean"),
)]
_DELETE = [_DRY_RUN, _query("gracePeriodSeconds", "The duration in seconds before the object "
                            "should be deleted.", "integer"),
           _query("propagationPolicy", "Whether and how garbage collection will be "
                  "performed: Orphan, Background or Foreground.")]
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")


def _operation(info: ResourceInfo, action: str, op_id: str, ref: Doc, params: list[Doc],
               *, body: bool = False, patch: bool = False, kind: Doc | None = None) -> Doc:
    op: Doc = {
        "tags": [info.group.replace(".", "_") + "_" + info.version if info.group
                 else "core_" + info.version],
        "operationId": op_id, "parameters": list(params),
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": ref}}},
                      "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        GVK: kind or {"group": info.group, "version": info.version, "kind": info.kind},
    }
    if body:
        types = _PATCH_TYPES if patch else ("*/*",)
        op["requestBody"] = {"required": True, "content": {
            t: {"schema": {"type": "object"} if patch else ref} for t in types}}
    return op


def _op_name(info: ResourceInfo) -> str:
    gv = "".join(p[:1].upper() + p[1:] for p in info.group.split(".")[:1] + [info.version]
                 if p) if info.group else "Core" + info.version.capitalize()
    return gv + ("Namespaced" if info.namespaced else "") + info.kind


def _path_params(namespaced: bool, name: bool) -> list[Doc]:
    out = []
    if name:
        out.append({"name": "name", "in": "path", "required": True,
                    "description": "name of the object", "schema": {"type": "string"}})
    if namespaced:
        out.append({"name": "namespace", "in": "path", "required": True,
                    "description": "object name and auth scope, such as for teams and "
                                   "projects", "schema": {"type": "string"}})
    out.append({"name": "pretty", "in": "query", "schema": {"type": "string"},
                "description": "If 'true', then the output is pretty printed."})
    return out


def paths(group: str, version: str, schemas: Doc) -> Doc:
    out: Doc = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for info in kinds.RESOURCES:
        if (info.group, info.version) != (group, version):
            continue
        base = prefix + ("/namespaces/{namespace}" if info.namespaced else "") + "/" + info.plural
        out.update(_resource_paths(info, base, prefix, schemas))
    return out


def _resource_paths(info: ResourceInfo, base: str, prefix: str, schemas: Doc) -> Doc:
    ref = _schema_ref(schemas, info.group, info.version, info.kind)
    list_ref = _schema_ref(schemas, info.group, info.version, info.list_kind)
    n, ns = _op_name(info), info.namespaced
    out: Doc = {
        base: {"parameters": _path_params(ns, False),
               "get": _operation(info, "list", "list" + n, list_ref, _LIST),
               "post": _operation(info, "post", "create" + n, ref, _WRITE, body=True),
               "delete": _operation(info, "deletecollection", "deleteCollection" + n,
                                    {"type": "object"}, _DELETE + _LIST)},
        base + "/{name}": {
            "parameters": _path_params(ns, True),
            "get": _operation(info, "get", "read" + n, ref, []),
            "put": _operation(info, "put", "replace" + n, ref, _WRITE, body=True),
            "patch": _operation(info, "patch", "patch" + n, ref,
                                [*_WRITE, _query("force", "Force is going to force Apply "
                                                 "requests.", "boolean")],
                                body=True, patch=True),
            "delete": _operation(info, "delete", "delete" + n, ref, _DELETE)},
    }
    if ns:
        out[f"{prefix}/{info.plural}"] = {
            "parameters": _path_params(False, False),
            "get": _operation(info, "list", f"list{n}ForAllNamespaces", list_ref, _LIST)}
    for sub in info.subresources:
        out.update(_subresource_path(info, sub, base, ref, schemas))
    return out


def _subresource_path(info: ResourceInfo, sub: str, base: str, ref: Doc, schemas: Doc) -> Doc:
    spec = subresource_of(info, sub)
    if spec.kind and spec.kind != info.kind:
        group = info.group if spec.group is None else spec.group
        version = info.version if spec.version is None else spec.version
        kind = {"group": group, "version": version, "kind": spec.kind}
        ref = _schema_ref(schemas, group, version, spec.kind)
    else:
        kind = None
    name = _op_name(info) + sub.capitalize()
    item: Doc = {"parameters": _path_params(info.namespaced, True)}
    methods = {"get": ("get", "read", []), "update": ("put", "replace", _WRITE),
               "patch": ("patch", "patch", _WRITE), "create": ("post", "create", _WRITE)}
    for verb in spec.verbs:
        method, prefix, params = methods[verb]
        item[method] = _operation(info, method, prefix + name,
                                  ref, params, body=verb != "get", patch=verb == "patch",
                                  kind=kind)
    return {f"{base}/{{name}}/{sub}": item}
