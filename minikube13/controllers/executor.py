"""Carries out every controller Action (controllers.actions) through the ObjectRegistry.

One executor serves every controller. A reconcile's actions run in order and the first that
fails stops the rest (`Requeue` for a lost compare-and-swap or a not-yet condition, any other
exception for real failures): the runner then retries the key with back-off. Events are
recorded like client-go's recorder: an identical event again bumps `count` and
`lastTimestamp` of the one already written.
"""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from minikube13.controllers import namespace as nsc
from minikube13.controllers.actions import (
    CreateObject,
    DeleteObject,
    ObjectRef,
    PatchObject,
    RecordEvent,
    RemoveFinalizer,
    RemoveOwnerRefs,
    ReplaceObject,
    ReplaceStatus,
)
from minikube13.model import kinds
from minikube13.registry.errors import StatusError
from minikube13.registry.metadata import timestamp
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.patch import MERGE_PATCH

log = logging.getLogger(__name__)

Object = dict[str, Any]

STORAGE = {info.storage: info for info in kinds.RESOURCES if info.is_storage_version}
EVENTS = STORAGE["events"]
_IGNORE = WriteOptions(field_validation="Ignore")
_EVENT_CACHE = 4096


class Requeue(Exception):
    """The action cannot be taken now (a conflict, a condition not met yet): stop here and
    reconcile the key again later."""


class ActionExecutor:
    def __init__(self, registry: ObjectRegistry, clock: Callable[[], datetime]):
        self.registry = registry
        self.clock = clock
        self._seq = 0
        self._events: OrderedDict[tuple[Any, ...], tuple[str, str]] = OrderedDict()
        self._handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            CreateObject: self._create,
            ReplaceObject: self._replace,
            ReplaceStatus: self._replace_status,
            PatchObject: self._patch,
            DeleteObject: self._delete,
            RemoveFinalizer: self._remove_finalizer,
            RemoveOwnerRefs: self._remove_owner_refs,
            RecordEvent: self._record_event,
            nsc.FinalizeNamespace: self._finalize_namespace,
        }

    async def run(self, actions: list[Any]) -> None:
        """Carry out `actions` in order; the first failure raises and stops the rest."""
        for action in actions:
            log.debug("controller action=%s", action)
            await self._handlers[type(action)](action)

    # -- writes ----------------------------------------------------------------------------

    async def _create(self, action: CreateObject) -> None:
        try:
            await self.registry.create(STORAGE[action.storage], action.namespace, action.obj,
                                       _IGNORE)
        except StatusError as err:
            if err.code == 409 and action.exists_ok:
                return
            raise

    async def _replace(self, action: ReplaceObject) -> None:
        ref = action.ref
        await _cas(self.registry.update(STORAGE[ref.storage], ref.namespace, ref.name,
                                        action.obj, _IGNORE))

    async def _replace_status(self, action: ReplaceStatus) -> None:
        ref = action.ref
        info = STORAGE[ref.storage]
        current = (await self.registry.get(info, ref.namespace, ref.name)).object
        if ref.uid and current["metadata"].get("uid") != ref.uid:
            raise Requeue(f"{ref} was replaced")
        body = dict(current, status=action.status)
        body["metadata"] = dict(current["metadata"])
        if action.resource_version:
            body["metadata"]["resourceVersion"] = action.resource_version
        else:
            body["metadata"].pop("resourceVersion", None)
        await _cas(self.registry.update(info, ref.namespace, ref.name, body, _IGNORE, "status"))

    async def _patch(self, action: PatchObject) -> None:
        ref = action.ref
        await _cas(self.registry.patch(STORAGE[ref.storage], ref.namespace, ref.name,
                                       MERGE_PATCH, action.patch, _IGNORE, action.subresource))

    async def _live_uid(self, ref: ObjectRef) -> str | None:
        info = STORAGE.get(ref.storage)
        if info is None:
            return None
        try:
            found = await self.registry.get(info, ref.namespace, ref.name)
        except StatusError as err:
            if err.code == 404:
                return None
            raise
        return str(found.object["metadata"].get("uid", ""))

    async def _any_exists(self, owners: tuple[ObjectRef, ...]) -> bool:
        """The live check before acting on owners the cache says are gone."""
        for owner in owners:
            if await self._live_uid(owner) == owner.uid:
                return True
        return False

    async def _delete(self, action: DeleteObject) -> None:
        if await self._any_exists(action.unless_owners_exist):
            return
        opts = DeleteOptions(propagation_policy=action.policy,
                             precondition_uid=action.ref.uid or None,
                             grace_period_seconds=action.grace_period_s)
        try:
            await self.registry.delete(STORAGE[action.ref.storage], action.ref.namespace,
                                       action.ref.name, opts)
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    async def _remove_finalizer(self, action: RemoveFinalizer) -> None:
        def change(obj: Object) -> bool:
            finalizers = obj["metadata"].get("finalizers") or []
            if action.finalizer not in finalizers:
                return False
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != action.finalizer]
            return True

        await self._edit(action.ref, change)

    async def _remove_owner_refs(self, action: RemoveOwnerRefs) -> None:
        if await self._any_exists(action.unless_owners_exist):
            return

        def change(obj: Object) -> bool:
            refs = obj["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in action.owner_uids]
            if len(kept) == len(refs):
                return False
            obj["metadata"]["ownerReferences"] = kept
            return True

        await self._edit(action.ref, change)

    async def _edit(self, ref: ObjectRef, change: Callable[[Object], bool],
                    subresource: str = "") -> None:
        """Read, change and write back with the resourceVersion read (retry on 409)."""
        info = STORAGE[ref.storage]
        for _ in range(5):
            try:
                current = (await self.registry.get(info, ref.namespace, ref.name)).object
            except StatusError as err:
                if err.code == 404:
                    return
                raise
            if ref.uid and current["metadata"].get("uid") != ref.uid:
                return
            changed = copy.deepcopy(current)
            if not change(changed):
                return
            try:
                await self.registry.update(info, ref.namespace, ref.name, changed, _IGNORE,
                                           subresource)
                return
            except StatusError as err:
                if err.code == 404:
                    return
                if err.code != 409:
                    raise
        raise Requeue(f"conflicts updating {ref}")

    async def _finalize_namespace(self, action: nsc.FinalizeNamespace) -> None:
        for info in STORAGE.values():
            if info.namespaced:
                left = await self.registry.list(info, action.name, ListOptions(limit=1))
                if left["items"]:
                    raise Requeue(f"namespace {action.name} still has {info.storage}")

        def change(ns: Object) -> bool:
            finalizers = (ns.get("spec") or {}).get("finalizers") or []
            if nsc.FINALIZER not in finalizers:
                return False
            ns["spec"]["finalizers"] = [f for f in finalizers if f != nsc.FINALIZER]
            return True

        await self._edit(ObjectRef("namespaces", "", action.name, action.uid), change,
                         "finalize")

    # -- events ----------------------------------------------------------------------------

    async def _record_event(self, action: RecordEvent) -> None:
        now = timestamp(self.clock())
        key = (action.involved, action.kind, action.type, action.reason, action.message,
               action.source, tuple(sorted(action.extra.items())))
        known = self._events.get(key)
        if known is not None:
            namespace, name = known
            try:
                current = (await self.registry.get(EVENTS, namespace, name)).object
                patch = {"count": int(current.get("count") or 1) + 1, "lastTimestamp": now}
                await self.registry.patch(EVENTS, namespace, name, MERGE_PATCH, patch, _IGNORE)
                self._events.move_to_end(key)
                return
            except StatusError as err:
                if err.code != 404:
                    raise
        self._seq += 1
        event = event_object(action, now, self.clock(), self._seq)
        namespace = event["metadata"]["namespace"]
        await self.registry.create(EVENTS, namespace, event, _IGNORE)
        self._events[key] = (namespace, event["metadata"]["name"])
        while len(self._events) > _EVENT_CACHE:
            self._events.popitem(last=False)


def event_object(action: RecordEvent, now: str, at: datetime, seq: int = 0) -> Object:
    """A core/v1 Event as client-go's recorder writes it (cluster-scoped objects' events go
    to the default namespace)."""
    involved = action.involved
    namespace = involved.namespace or "default"
    info = STORAGE.get(involved.storage)
    ref: Object = {"kind": action.kind, "name": involved.name}
    if involved.namespace:
        ref["namespace"] = involved.namespace
    if involved.uid:
        ref["uid"] = involved.uid
    if info is not None:
        ref["apiVersion"] = info.api_version
    for field in ("apiVersion", "fieldPath", "resourceVersion"):
        if field in action.extra:
            ref[field] = action.extra[field]
    source: Object = {"component": action.source} if action.source else {}
    if "host" in action.extra:
        source["host"] = action.extra["host"]
    suffix = format(int(at.timestamp() * 1e9) + seq, "x")
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{involved.name}.{suffix}", "namespace": namespace},
            "involvedObject": ref, "reason": action.reason, "message": action.message,
            "source": source, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "type": action.type}


async def _cas(write: Awaitable[Any]) -> None:
    """A write whose lost compare-and-swap (409) means: reconcile again."""
    try:
        await write
    except StatusError as err:
        if err.code == 409:
            raise Requeue(str(err)) from None
        raise
