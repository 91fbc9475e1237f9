"""Object metadata the server owns, and where objects live in the store (pure).

Keys are `/registry/<storage>/<namespace>/<name>` (cluster-scoped: `/registry/<storage>/
<name>`); values are the canonical object as JSON without `metadata.resourceVersion`, which
is the store's mod_revision and is filled in on every read.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from minikube13.model.errors import required
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError, bad_request, internal, invalid
from minikube13.store.interface import KeyValue

Object = dict[str, Any]

# The alphabet and length of apiserver-generated name suffixes (no vowels, no look-alikes).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX_LENGTH = 5

# Kinds whose metadata.generation the server tracks (it counts changes of the desired state).
GENERATION_STORAGES = frozenset({
    "replicationcontrollers", "deployments", "replicasets", "statefulsets", "jobs",
    "cronjobs", "clusters",
})

# Kinds whose status is reset on create: status belongs to controllers and the node agent.
# Nodes are created by their own agent with a status, so theirs is kept.
_STATUS_SEEDS: dict[str, Object] = {
    "pods": {"phase": "Pending"},
    "namespaces": {"phase": "Active"},
    "persistentvolumes": {"phase": "Pending"},
    "persistentvolumeclaims": {"phase": "Pending"},
}

# Fields a client cannot set through the main endpoint or change by an update.
_SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation")


def prefix(info: ResourceInfo, namespace: str = "") -> str:
    """The key prefix of a list or watch; namespace "" is every namespace."""
    base = f"/registry/{info.storage}/"
    return base + f"{namespace}/" if info.namespaced and namespace else base


def key(info: ResourceInfo, namespace: str, name: str) -> str:
    return prefix(info, namespace) + name if info.namespaced else f"/registry/{info.storage}/{name}"


def encode(obj: Object) -> bytes:
    stored = dict(obj)
    meta = dict(stored.get("metadata") or {})
    meta.pop("resourceVersion", None)
    stored["metadata"] = meta
    return json.dumps(stored, separators=(",", ":")).encode()


def decode(kv: KeyValue) -> Object:
    obj: Object = json.loads(kv.value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
    return obj


def without_version(obj: Object) -> Object:
    out = dict(obj)
    meta = dict(out.get("metadata") or {})
    meta.pop("resourceVersion", None)
    out["metadata"] = meta
    return out


def timestamp(now: datetime) -> str:
    """RFC 3339 at second precision in UTC, as metav1.Time serialises."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_resource_version(text: str, what: str = "resourceVersion") -> int:
    if not text.isdigit():
        raise bad_request(f'{what}: Invalid value: "{text}": strconv.ParseUint: parsing '
                          f'"{text}": invalid syntax')
    return int(text)


def meta_of(obj: Object) -> Object:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata: must be an object")
    return meta


def place(info: ResourceInfo, obj: Object, namespace: str, name: str = "") -> None:
    """Put the object where the URL says: its namespace (or none), and its name on updates."""
    meta = meta_of(obj)
    if info.namespaced:
        given = meta.get("namespace") or ""
        if given and given != namespace:
            raise bad_request("the namespace of the provided object does not match the "
                              "namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if name:
        given = meta.get("name") or ""
        if given and given != name:
            raise bad_request(f"the name of the object ({given}) does not match the name on "
                              f"the URL ({name})")
        meta["name"] = name


def prepare_create(info: ResourceInfo, obj: Object, *, uid: str, now: datetime,
                   suffix: str) -> Object:
    """Fill in the server-owned metadata of a new object (canonical form)."""
    obj = copy.deepcopy(obj)
    meta = meta_of(obj)
    if meta.get("resourceVersion"):
        raise internal("resourceVersion should not be set on objects to be created")
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + suffix
    for system in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink",
                   "managedFields", "generation"):
        meta.pop(system, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = timestamp(now)
    if info.storage in GENERATION_STORAGES:
        meta["generation"] = 1
    if "status" in info.subresources and info.storage != "nodes":
        obj.pop("status", None)
    if info.storage in _STATUS_SEEDS:
        obj["status"] = dict(_STATUS_SEEDS[info.storage])
    if info.storage == "namespaces":
        spec = obj.setdefault("spec", {})
        if "kubernetes" not in (spec.get("finalizers") or []):
            spec["finalizers"] = [*(spec.get("finalizers") or []), "kubernetes"]
    return obj


def require_name(info: ResourceInfo, obj: Object) -> str:
    name = meta_of(obj).get("name") or ""
    if not name:
        raise name_required(info)
    if not isinstance(name, str):
        raise bad_request("metadata.name: must be a string")
    return name


def name_required(info: ResourceInfo) -> StatusError:
    error = required("metadata.name", "name or generateName is required")
    return invalid(info.group, info.kind, "", f'{info.kind} "" is invalid: {error.message()}',
                   [error])


def prepare_update(info: ResourceInfo, new: Object, old: Object, subresource: str) -> Object:
    """The object an update stores: the parts this endpoint may change taken from `new`,
    everything else (system metadata, and status or spec by endpoint) kept from `old`."""
    if subresource == "status":
        out = copy.deepcopy(old)
        _set_or_drop(out, "status", new.get("status"))
        return out
    if subresource == "finalize":
        out = copy.deepcopy(old)
        spec = out.setdefault("spec", {})
        _set_or_drop(spec, "finalizers", (new.get("spec") or {}).get("finalizers"))
        return out
    out = copy.deepcopy(new)
    meta, old_meta = meta_of(out), old.get("metadata") or {}
    for system in _SYSTEM_FIELDS:
        _set_or_drop(meta, system, old_meta.get(system))
    for dropped in ("selfLink", "managedFields"):
        meta.pop(dropped, None)
    if "status" in info.subresources:
        _set_or_drop(out, "status", old.get("status"))
    if info.storage == "namespaces":
        spec = out.setdefault("spec", {})
        _set_or_drop(spec, "finalizers", (old.get("spec") or {}).get("finalizers"))
    return out


def _set_or_drop(target: Object, field: str, value: Any) -> None:
    if value is None:
        target.pop(field, None)
    else:
        target[field] = copy.deepcopy(value)


def desired_state(obj: Object) -> Object:
    """Everything but metadata and status: a change here bumps metadata.generation."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def bump_generation(new: Object, old: Object) -> None:
    meta = meta_of(new)
    if "generation" in meta and desired_state(new) != desired_state(old):
        meta["generation"] = int(meta["generation"]) + 1


def should_delete_on_update(info: ResourceInfo, new: Object, old: Object) -> bool:
    """An update that removes the last finalizer of an object being deleted deletes it
    (store.ShouldDeleteDuringUpdate; a namespace also needs its spec.finalizers empty)."""
    new_meta, old_meta = new.get("metadata") or {}, old.get("metadata") or {}
    if new_meta.get("finalizers") or not old_meta.get("deletionTimestamp"):
        return False
    if old_meta.get("deletionGracePeriodSeconds") not in (None, 0):
        return False
    return not (info.storage == "namespaces" and (new.get("spec") or {}).get("finalizers"))
