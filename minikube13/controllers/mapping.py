"""How a change of one object maps to the keys of the controllers that care about it (the
event handlers of kube-controller-manager): a pod concerns its controller owner or, when it
has none, every ReplicaSet/ReplicationController/Job of its namespace whose selector matches;
a ReplicaSet concerns its Deployment; a Job its CronJob; a Lease or a pod its Node."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from minikube13.controllers.actions import ObjectRef
from minikube13.controllers.node_lifecycle import LEASE_NAMESPACE
from minikube13.controllers.object_cache import ObjectCache
from minikube13.model import kinds
from minikube13.model.selectors import SelectorError, from_label_selector, from_map

Object = dict[str, Any]
KeysOf = Callable[[str, Object, bool, ObjectCache], list[Hashable]]


def controller_of(obj: Object) -> Object | None:
    """The ownerReference with controller: true, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def _owner_key(obj: Object, storage: str) -> ObjectRef | None:
    """The key of `obj`'s controller owner when it is stored in `storage`."""
    ref = controller_of(obj)
    if ref is None:
        return None
    info = kinds.find_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
    if info is None or info.storage != storage:
        return None
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    return ObjectRef(storage, namespace, ref.get("name", ""))


def selector_matches(owner_storage: str, owner: Object, labels: dict[str, str]) -> bool:
    spec = owner.get("spec") or {}
    try:
        if owner_storage == "replicationcontrollers":
            selector = spec.get("selector")
            if not selector:  # an RC defaults its selector to its template's labels
                selector = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
            return bool(selector) and from_map(selector).matches(labels)
        chosen = from_label_selector(spec.get("selector"))
    except SelectorError:
        return False
    return not chosen.empty and chosen.matches(labels)


def owned_by(owner_storage: str, child_storage: str) -> KeysOf:
    """Keys of `owner_storage` for a change of a `child_storage` object: its controller
    owner, or for an orphan every owner in its namespace whose selector matches."""

    def keys(storage: str, obj: Object, deleted: bool, cache: ObjectCache) -> list[Hashable]:
        if storage != child_storage:
            return []
        if controller_of(obj) is not None:
            owner = _owner_key(obj, owner_storage)
            return [owner] if owner is not None else []
        meta = obj.get("metadata") or {}
        namespace, labels = meta.get("namespace") or "", meta.get("labels") or {}
        return [ObjectRef(owner_storage, namespace, o["metadata"]["name"])
                for o in cache.objects(owner_storage, namespace)
                if selector_matches(owner_storage, o, labels)]

    return keys


def pod_to_deployment(storage: str, obj: Object, deleted: bool,
                      cache: ObjectCache) -> list[Hashable]:
    """A pod concerns the Deployment owning its ReplicaSet (Recreate waits on pods)."""
    if storage != "pods":
        return []
    rs = _owner_key(obj, "replicasets")
    if rs is None:
        return []
    found = cache.get(rs)
    deployment = _owner_key(found, "deployments") if found is not None else None
    return [deployment] if deployment is not None else []


def both(*mappers: KeysOf) -> KeysOf:
    def keys(storage: str, obj: Object, deleted: bool, cache: ObjectCache) -> list[Hashable]:
        return [k for m in mappers for k in m(storage, obj, deleted, cache)]

    return keys


def node_related(storage: str, obj: Object, deleted: bool,
                 cache: ObjectCache) -> list[Hashable]:
    """A node's Lease and the pods bound to it concern the node."""
    meta = obj.get("metadata") or {}
    if storage == "leases" and meta.get("namespace") == LEASE_NAMESPACE:
        return [ObjectRef("nodes", "", meta.get("name", ""))]
    if storage == "pods":
        node = (obj.get("spec") or {}).get("nodeName")
        return [ObjectRef("nodes", "", node)] if node else []
    return []


def pods_of_node(storage: str, obj: Object, deleted: bool,
                 cache: ObjectCache) -> list[Hashable]:
    """A node's coming or going concerns the pods bound to it (the pod GC)."""
    if storage != "nodes":
        return []
    name = (obj.get("metadata") or {}).get("name", "")
    return [ObjectRef("pods", p["metadata"].get("namespace", ""), p["metadata"]["name"])
            for p in cache.pods_on_node(name)]
