"""Runs the garbage collector and the namespace controller: watches every storage resource
through the ObjectRegistry into an ObjectCache, queues the keys each change concerns, and
carries out what the pure reconcile functions decide, through the registry again."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any, TypeVar

from minikube13.controllers import garbage_collector as gc
from minikube13.controllers import namespace as nsc
from minikube13.controllers.garbage_collector import ObjectRef, owners_of, ref_of
from minikube13.controllers.object_cache import ObjectCache
from minikube13.controllers.workqueue import WorkQueue
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.registry.watch import INITIAL_EVENTS_END

log = logging.getLogger(__name__)

Object = dict[str, Any]
K = TypeVar("K", bound=Hashable)

STORAGE = {info.storage: info for info in kinds.RESOURCES if info.is_storage_version}
_IGNORE = WriteOptions(field_validation="Ignore")
_RELIST_DELAY = 1.0


class _NotYet(Exception):
    """The action cannot be taken yet; try the key again later."""


class ControllerRunner:
    def __init__(self, registry: ObjectRegistry, *, workers: int = 2,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.registry = registry
        self.cache = ObjectCache()
        self.gc_queue: WorkQueue[ObjectRef] = WorkQueue()
        self.ns_queue: WorkQueue[str] = WorkQueue()
        self.clock = clock
        self.workers = workers
        self.synced = asyncio.Event()
        self._unsynced = set(STORAGE)

    async def run(self, stop: asyncio.Event) -> None:
        watchers = [asyncio.create_task(self._watch(info)) for info in STORAGE.values()]
        workers: list[asyncio.Task[None]] = []
        try:
            synced = asyncio.create_task(self.synced.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({synced, stopped}, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if not stop.is_set():
                log.info("controllers synced objects=%d", len(self.cache))
                workers = [asyncio.create_task(self._work(self.gc_queue, gc.reconcile))
                           for _ in range(self.workers)]
                workers.append(asyncio.create_task(self._work(self.ns_queue, nsc.reconcile)))
            await stopped
        finally:
            for task in watchers + workers:
                task.cancel()
            for task in watchers + workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.gc_queue.shutdown()
            self.ns_queue.shutdown()

    # -- watching --------------------------------------------------------------------------

    async def _watch(self, info: ResourceInfo) -> None:
        """List+watch one storage resource forever; a broken watch relists."""
        opts = ListOptions(allow_bookmarks=True, send_initial_events=True)
        while True:
            seen: set[ObjectRef] | None = set()
            stream = self.registry.watch(info, "", opts)
            try:
                async for event in stream:
                    obj = event["object"]
                    if event["type"] == "BOOKMARK":
                        if seen is not None and _initial_end(obj):
                            self._resynced(info, seen)
                            seen = None
                        continue
                    if seen is not None:
                        seen.add(ref_of(info.storage, obj).key)
                    self._observe(info, event["type"], obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("controller watch failed resource=%s", info.storage, exc_info=True)
            finally:
                await _close(stream)
            await asyncio.sleep(_RELIST_DELAY)

    def _resynced(self, info: ResourceInfo, seen: set[ObjectRef]) -> None:
        for key in self.cache.keys(info.storage) - seen:
            old = self.cache.remove_key(key)
            if old is not None:
                self._enqueue(info, old, deleted=True)
        self._unsynced.discard(info.storage)
        if not self._unsynced:
            self.synced.set()

    def _observe(self, info: ResourceInfo, kind: str, obj: Object) -> None:
        if kind == "DELETED":
            self.cache.remove(info.storage, obj)
        else:
            self.cache.put(info.storage, obj)
        self._enqueue(info, obj, deleted=kind == "DELETED")

    def _enqueue(self, info: ResourceInfo, obj: Object, *, deleted: bool) -> None:
        """Queue every key whose reconcile may change because `obj` changed."""
        ref = ref_of(info.storage, obj)
        going = deleted or bool((obj.get("metadata") or {}).get("deletionTimestamp"))
        if not deleted:
            self.gc_queue.add(ref.key)
        for owner in owners_of(ref, obj):
            self.gc_queue.add(owner.key)
        if going:
            for dependent, _ in self.cache.dependents(ref.uid):
                self.gc_queue.add(dependent.key)
        if info.storage == "namespaces":
            self.ns_queue.add(ref.name)
        elif ref.namespace and going:
            self.ns_queue.add(ref.namespace)

    # -- working ---------------------------------------------------------------------------

    async def _work(self, queue: WorkQueue[K],
                    reconcile: Callable[[K, ObjectCache, datetime], list[Any]]) -> None:
        while True:
            key = await queue.get()
            try:
                for action in reconcile(key, self.cache, self.clock()):
                    await self._execute(action)
            except asyncio.CancelledError:
                raise
            except _NotYet:
                queue.add_rate_limited(key)
            except Exception:
                log.warning("reconcile failed key=%s", key, exc_info=True)
                queue.add_rate_limited(key)
            else:
                queue.forget(key)
            finally:
                queue.done(key)

    async def _execute(self, action: Any) -> None:
        handlers: dict[type, Callable[[Any], Awaitable[None]]] = {
            gc.DeleteObject: self._delete,
            gc.RemoveFinalizer: self._remove_finalizer,
            gc.RemoveOwnerRefs: self._remove_owner_refs,
            nsc.FinalizeNamespace: self._finalize_namespace,
        }
        log.debug("controller action=%s", action)
        await handlers[type(action)](action)

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

    async def _delete(self, action: gc.DeleteObject) -> None:
        if await self._any_exists(action.unless_owners_exist):
            return
        opts = DeleteOptions(propagation_policy=action.policy,
                             precondition_uid=action.ref.uid or None)
        try:
            await self.registry.delete(STORAGE[action.ref.storage], action.ref.namespace,
                                       action.ref.name, opts)
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    async def _remove_finalizer(self, action: gc.RemoveFinalizer) -> None:
        def change(obj: Object) -> bool:
            finalizers = obj["metadata"].get("finalizers") or []
            if action.finalizer not in finalizers:
                return False
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != action.finalizer]
            return True

        await self._edit(action.ref, change)

    async def _remove_owner_refs(self, action: gc.RemoveOwnerRefs) -> None:
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
        raise _NotYet(f"conflicts updating {ref}")

    async def _finalize_namespace(self, action: nsc.FinalizeNamespace) -> None:
        for info in STORAGE.values():
            if info.namespaced:
                left = await self.registry.list(info, action.name, ListOptions(limit=1))
                if left["items"]:
                    raise _NotYet(f"namespace {action.name} still has {info.storage}")

        def change(ns: Object) -> bool:
            finalizers = (ns.get("spec") or {}).get("finalizers") or []
            if nsc.FINALIZER not in finalizers:
                return False
            ns["spec"]["finalizers"] = [f for f in finalizers if f != nsc.FINALIZER]
            return True

        await self._edit(ObjectRef("namespaces", "", action.name, action.uid), change,
                         "finalize")


async def _close(stream: AsyncIterator[Object]) -> None:
    """End a watch now (its pump task with it) rather than at garbage collection."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _initial_end(obj: Object) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(INITIAL_EVENTS_END) == "true"


async def run_controllers(registry: ObjectRegistry, stop: asyncio.Event) -> None:
    """Run the garbage collector and the namespace controller until `stop` is set."""
    await ControllerRunner(registry).run(stop)
