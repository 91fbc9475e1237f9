"""Every stored object, kept current by the runner's watches, indexed the ways the garbage
collector, the namespace controller and the workload controllers ask: by owner uid, by
namespace, by storage resource and (pods) by node."""

from __future__ import annotations

from typing import Any

from minikube13.controllers.garbage_collector import ObjectRef, ref_of

Object = dict[str, Any]


class ObjectCache:
    """The controllers' View: canonical objects by (storage, namespace, name)."""

    def __init__(self) -> None:
        self._objects: dict[ObjectRef, Object] = {}
        self._by_owner: dict[str, set[ObjectRef]] = {}
        self._by_namespace: dict[str, set[ObjectRef]] = {}
        self._by_storage: dict[str, set[ObjectRef]] = {}
        self._by_node: dict[str, set[ObjectRef]] = {}

    def put(self, storage: str, obj: Object) -> Object | None:
        """Store an added or modified object; return the version it replaces."""
        key = ref_of(storage, obj).key
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        self._index(key, obj)
        return old

    def remove(self, storage: str, obj: Object) -> Object | None:
        key = ref_of(storage, obj).key
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def keys(self, storage: str) -> set[ObjectRef]:
        return set(self._by_storage.get(storage, ()))

    def remove_key(self, key: ObjectRef) -> Object | None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    # -- the View protocol -----------------------------------------------------------------

    def get(self, ref: ObjectRef) -> Object | None:
        return self._objects.get(ref.key)

    def objects(self, storage: str, namespace: str | None = None) -> list[Object]:
        """Every object of one storage resource (in one namespace, or all), by name."""
        if namespace is None:
            keys = self._by_storage.get(storage, set())
        else:
            keys = {k for k in self._by_namespace.get(namespace, ()) if k.storage == storage}
        return [self._objects[k] for k in sorted(keys, key=_order)]

    def pods_on_node(self, node: str) -> list[Object]:
        """The pods bound to `node` (spec.nodeName), by namespace and name."""
        return [self._objects[k] for k in sorted(self._by_node.get(node, ()), key=_order)]

    def dependents(self, owner_uid: str) -> list[tuple[ObjectRef, Object]]:
        keys = sorted(self._by_owner.get(owner_uid, ()), key=_order)
        return [(ref_of(k.storage, self._objects[k]), self._objects[k]) for k in keys]

    def in_namespace(self, namespace: str) -> list[tuple[ObjectRef, Object]]:
        keys = sorted(self._by_namespace.get(namespace, ()), key=_order)
        return [(ref_of(k.storage, self._objects[k]), self._objects[k]) for k in keys]

    def __len__(self) -> int:
        return len(self._objects)

    # -- indexes ---------------------------------------------------------------------------

    def _index(self, key: ObjectRef, obj: Object) -> None:
        for uid in _owner_uids(obj):
            self._by_owner.setdefault(uid, set()).add(key)
        if key.namespace:
            self._by_namespace.setdefault(key.namespace, set()).add(key)
        self._by_storage.setdefault(key.storage, set()).add(key)
        node = _node_of(key, obj)
        if node:
            self._by_node.setdefault(node, set()).add(key)

    def _unindex(self, key: ObjectRef, obj: Object) -> None:
        for uid in _owner_uids(obj):
            _discard(self._by_owner, uid, key)
        if key.namespace:
            _discard(self._by_namespace, key.namespace, key)
        _discard(self._by_storage, key.storage, key)
        node = _node_of(key, obj)
        if node:
            _discard(self._by_node, node, key)


def _order(ref: ObjectRef) -> tuple[str, str, str]:
    return ref.storage, ref.namespace, ref.name


def _node_of(key: ObjectRef, obj: Object) -> str:
    if key.storage != "pods":
        return ""
    return str((obj.get("spec") or {}).get("nodeName") or "")


def _owner_uids(obj: Object) -> set[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return {r.get("uid", "") for r in refs if isinstance(r, dict) and r.get("uid")}


def _discard(index: dict[str, set[ObjectRef]], name: str, key: ObjectRef) -> None:
    members = index.get(name)
    if members is not None:
        members.discard(key)
        if not members:
            del index[name]
