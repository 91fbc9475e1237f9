"""What a controller's pure `reconcile` may ask for, and the read-only view it decides on.

Every controller is `reconcile(key, view, now) -> list[Action]` (the scheduler too:
`schedule(pod, snapshot, rng)`); the runner carries actions out through the registry,
compare-and-swap where an object is replaced, and requeues the key when one fails. Objects
are in canonical (storage) form; `storage` is the storage resource name of kinds.py
("pods", "replicasets", "deployments", "jobs", "cronjobs", "nodes", ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from minikube13.controllers.garbage_collector import (
    DeleteObject,
    ObjectRef,
    RemoveFinalizer,
    RemoveOwnerRefs,
    ref_of,
)

Object = dict[str, Any]

__all__ = [
    "Action", "CreateObject", "DeleteObject", "ObjectRef", "PatchObject", "RecordEvent",
    "RemoveFinalizer", "RemoveOwnerRefs", "ReplaceObject", "ReplaceStatus", "View", "ref_of",
]


@dataclass(frozen=True)
class CreateObject:
    """Create `obj` (canonical; metadata.name or generateName set, ownerReferences as the
    controller wants them). AlreadyExists is success when `exists_ok` (names derived from
    a decision, like a CronJob's Job for one scheduled time, make a create idempotent)."""

    storage: str
    namespace: str
    obj: Object
    exists_ok: bool = False


@dataclass(frozen=True)
class ReplaceObject:
    """PUT the whole object; CAS on obj.metadata.resourceVersion (taken from the view)."""

    ref: ObjectRef
    obj: Object


@dataclass(frozen=True)
class ReplaceStatus:
    """PUT the status subresource: `status` replaces the object's status (CAS on
    `resource_version` when non-empty). Write only on change: compare with the view first."""

    ref: ObjectRef
    status: Object
    resource_version: str = ""


@dataclass(frozen=True)
class PatchObject:
    """A JSON merge patch (RFC 7386) of the main resource (or `subresource`)."""

    ref: ObjectRef
    patch: Object
    subresource: str = ""


@dataclass(frozen=True)
class RecordEvent:
    """A core/v1 Event about `involved` (type Normal|Warning), like the apiserver's
    recorders: repeated identical events bump `count` and `lastTimestamp`."""

    involved: ObjectRef
    kind: str  # the involved object's kind, e.g. "Pod"
    type: str
    reason: str
    message: str
    source: str = ""  # component, e.g. "default-scheduler"
    extra: dict[str, str] = field(default_factory=dict)


Action = (CreateObject | ReplaceObject | ReplaceStatus | PatchObject | DeleteObject
          | RemoveFinalizer | RemoveOwnerRefs | RecordEvent)


class View(Protocol):
    """A read-only snapshot of stored objects (canonical form), kept current by watches."""

    def get(self, ref: ObjectRef) -> Object | None: ...

    def objects(self, storage: str, namespace: str | None = None) -> list[Object]:
        """Every object of one storage resource (in one namespace, or all)."""
        ...

    def dependents(self, owner_uid: str) -> list[tuple[ObjectRef, Object]]: ...

    def in_namespace(self, namespace: str) -> list[tuple[ObjectRef, Object]]: ...
