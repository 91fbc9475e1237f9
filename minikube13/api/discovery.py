"""Discovery documents: /api, /apis, /apis/{g}, the resource lists, and aggregated v2.

Pure, built from `model.kinds.RESOURCES`. kubectl 1.32 first asks for aggregated discovery
(apidiscovery.k8s.io/v2, one document for all groups); older clients walk the legacy
documents. Both are served from the same table so they never disagree.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from minikube13.api.routes import subresource_of
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = ("application/json;g=apidiscovery.k8s.io;v=v2beta1;"
                      "as=APIGroupDiscoveryList")

Doc = dict[str, Any]


def storage_version_hash(info: ResourceInfo) -> str:
    """As the apiserver computes it: base64 of 8 bytes of sha256("group/version/kind") of
    the storage version, so every served version of one stored resource shares it."""
    stored = kinds.storage_info(info)
    gvk = f"{stored.group}/{stored.version}/{stored.kind}"
    return base64.b64encode(hashlib.sha256(gvk.encode()).digest()[:8]).decode()


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _versions_doc(group: str) -> list[Doc]:
    return [{"groupVersion": _group_version(group, v), "version": v}
            for v in kinds.group_versions()[group]]


def api_versions(server_address: str) -> Doc:
    return {
        "kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                        "serverAddress": server_address}],
    }


def api_group(group: str) -> Doc:
    versions = _versions_doc(group)
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
            "preferredVersion": versions[0]}


def api_group_list() -> Doc:
    groups = [api_group(g) for g in kinds.group_versions() if g]
    for g in groups:
        del g["kind"], g["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _in_version(group: str, version: str) -> list[ResourceInfo]:
    return [i for i in kinds.RESOURCES if (i.group, i.version) == (group, version)]


def api_resource_list(group: str, version: str) -> Doc:
    resources: list[Doc] = []
    for info in _in_version(group, version):
        resources.append(_api_resource(info))
        for sub in info.subresources:
            resources.append(_api_subresource(info, sub))
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": _group_version(group, version), "resources": resources}


def _api_resource(info: ResourceInfo) -> Doc:
    doc: Doc = {"name": info.plural, "singularName": info.singular,
                "namespaced": info.namespaced, "kind": info.kind, "verbs": list(info.verbs)}
    if info.short_names:
        doc["shortNames"] = list(info.short_names)
    if info.categories:
        doc["categories"] = list(info.categories)
    doc["storageVersionHash"] = storage_version_hash(info)
    return doc


def _api_subresource(info: ResourceInfo, sub: str) -> Doc:
    spec = subresource_of(info, sub)
    doc: Doc = {"name": f"{info.plural}/{sub}", "singularName": "",
                "namespaced": info.namespaced, "kind": spec.kind or info.kind,
                "verbs": list(spec.verbs)}
    if spec.group is not None:
        doc = {**doc, "group": spec.group, "version": spec.version}
    return doc


# -- aggregated discovery (apidiscovery.k8s.io/v2) ---------------------------------------


def aggregated(core: bool, api_version: str = "apidiscovery.k8s.io/v2") -> Doc:
    """The APIGroupDiscoveryList at /api (core=True) or /apis (core=False)."""
    groups = [g for g in kinds.group_versions() if (g == "") == core]
    items = [{"metadata": {"name": g, "creationTimestamp": None},
              "versions": [_aggregated_version(g, v) for v in kinds.group_versions()[g]]}
             for g in groups]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version,
            "metadata": {}, "items": items}


def _aggregated_version(group: str, version: str) -> Doc:
    return {"version": version, "freshness": "Current",
            "resources": [_aggregated_resource(i) for i in _in_version(group, version)]}


def _aggregated_resource(info: ResourceInfo) -> Doc:
    doc: Doc = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": "Namespaced" if info.namespaced else "Cluster",
        "singularResource": info.singular, "verbs": list(info.verbs),
    }
    if info.short_names:
        doc["shortNames"] = list(info.short_names)
    if info.categories:
        doc["categories"] = list(info.categories)
    subs = []
    for sub in info.subresources:
        spec = subresource_of(info, sub)
        subs.append({"subresource": sub, "verbs": list(spec.verbs), "responseKind": {
            "group": info.group if spec.group is None else spec.group,
            "version": info.version if spec.version is None else spec.version,
            "kind": spec.kind or info.kind}})
    if subs:
        doc["subresources"] = subs
    return doc
