"""The garbage collector's decisions (pure): what to do about one object, given a view of
every object and who owns whom.

* An object whose owners are all gone is deleted (in the background, or in the foreground
  when an owner is itself being deleted in the foreground and this object has dependents).
  Owners that are merely absent from the view are checked live by the runner before it acts
  (`unless_owners_exist`), since a view can lag behind the store.
* An owner being deleted with the `foregroundDeletion` finalizer has its dependents deleted;
  the finalizer is removed once no dependent with `blockOwnerDeletion` remains.
* An owner being deleted with the `orphan` finalizer has its references removed from every
  dependent, then the finalizer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from minikube13.model import kinds

Object = dict[str, Any]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass(frozen=True)
class ObjectRef:
    """One object by storage resource, namespace ("" if cluster-scoped) and name; `uid`
    pins the incarnation an action is meant for."""

    storage: str
    namespace: str
    name: str
    uid: str = ""

    @property
    def key(self) -> ObjectRef:
        return replace(self, uid="") if self.uid else self


@dataclass(frozen=True)
class DeleteObject:
    ref: ObjectRef
    policy: str  # "Background" | "Foreground" | "Orphan"
    unless_owners_exist: tuple[ObjectRef, ...] = ()
    grace_period_s: int | None = None  # None: the object's own (pods); 0: now


@dataclass(frozen=True)
class RemoveFinalizer:
    ref: ObjectRef
    finalizer: str


@dataclass(frozen=True)
class RemoveOwnerRefs:
    ref: ObjectRef
    owner_uids: tuple[str, ...]
    unless_owners_exist: tuple[ObjectRef, ...] = ()


Action = DeleteObject | RemoveFinalizer | RemoveOwnerRefs


class View(Protocol):
    """A read-only snapshot of stored objects (canonical form)."""

    def get(self, ref: ObjectRef) -> Object | None: ...

    def dependents(self, owner_uid: str) -> list[tuple[ObjectRef, Object]]: ...

    def in_namespace(self, namespace: str) -> list[tuple[ObjectRef, Object]]: ...


def ref_of(storage: str, obj: Object) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(storage, meta.get("namespace") or "", meta.get("name", ""),
                     meta.get("uid", ""))


def owner_ref(dependent: ObjectRef, reference: Object) -> ObjectRef | None:
    """Where the owner an ownerReference names is stored, or None for an unknown kind."""
    info = kinds.find_kind(reference.get("apiVersion", ""), reference.get("kind", ""))
    if info is None:
        return None
    namespace = dependent.namespace if info.namespaced else ""
    return ObjectRef(info.storage, namespace, reference.get("name", ""),
                     reference.get("uid", ""))


def owners_of(dependent: ObjectRef, obj: Object) -> list[ObjectRef]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [o for o in (owner_ref(dependent, r) for r in refs) if o is not None]


def _blocks(dependent: Object, owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
               for r in (dependent.get("metadata") or {}).get("ownerReferences") or [])


def _being_deleted(obj: Object) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def reconcile(ref: ObjectRef, view: View, now: datetime) -> list[Action]:
    """The actions the garbage collector takes for the object at `ref` right now."""
    obj = view.get(ref.key)
    if obj is None:
        return []
    me = ref_of(ref.storage, obj)
    meta = obj.get("metadata") or {}
    finalizers = meta.get("finalizers") or []
    if _being_deleted(obj):
        if ORPHAN in finalizers:
            return _orphan_dependents(me, view)
        if FOREGROUND in finalizers:
            return _delete_dependents_first(me, view)
        return []
    return _check_owners(me, obj, view)


def _orphan_dependents(owner: ObjectRef, view: View) -> list[Action]:
    actions: list[Action] = [RemoveOwnerRefs(dep, (owner.uid,))
                             for dep, _ in view.dependents(owner.uid)]
    actions.append(RemoveFinalizer(owner, ORPHAN))
    return actions


def _delete_dependents_first(owner: ObjectRef, view: View) -> list[Action]:
    actions: list[Action] = []
    blocked = False
    for dep, obj in view.dependents(owner.uid):
        if not _being_deleted(obj):
            actions.append(DeleteObject(dep, _policy_for_dependent(dep, view)))
        blocked = blocked or _blocks(obj, owner.uid)
    if not blocked:
        actions.append(RemoveFinalizer(owner, FOREGROUND))
    return actions


def _policy_for_dependent(dep: ObjectRef, view: View) -> str:
    """Foreground for a dependent that has dependents of its own, so the chain unwinds
    bottom-up as the owner's foreground deletion asks."""
    return "Foreground" if view.dependents(dep.uid) else "Background"


def _check_owners(me: ObjectRef, obj: Object, view: View) -> list[Action]:
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    solid: list[ObjectRef] = []
    dangling: list[ObjectRef] = []
    waiting: list[ObjectRef] = []
    for reference in references:
        owner = owner_ref(me, reference)
        if owner is None:
            solid.append(ObjectRef("", "", reference.get("name", ""), reference.get("uid", "")))
            continue  # an owner of a kind we do not serve cannot be checked: keep it
        current = view.get(owner.key)
        if current is None or (current.get("metadata") or {}).get("uid") != owner.uid:
            dangling.append(owner)
        elif _being_deleted(current) and FOREGROUND in (
                (current.get("metadata") or {}).get("finalizers") or []):
            waiting.append(owner)
        else:
            solid.append(owner)
    if solid:
        stale = dangling + waiting
        if not stale:
            return []
        return [RemoveOwnerRefs(me, tuple(o.uid for o in stale), tuple(dangling))]
    if not dangling and not waiting:
        return []
    if waiting:
        return [DeleteObject(me, _policy_for_dependent(me, view), tuple(dangling))]
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    policy = "Orphan" if ORPHAN in finalizers else (
        "Foreground" if FOREGROUND in finalizers else "Background")
    return [DeleteObject(me, policy, tuple(dangling))]
