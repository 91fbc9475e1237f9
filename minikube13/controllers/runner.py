"""Runs controllers: watches every storage resource through the ObjectRegistry into one
ObjectCache, queues the keys each change concerns on each controller's WorkQueue, and carries
out what the pure reconcile functions decide through one ActionExecutor.

A `Controller` names its storage resource, its reconcile function and how a change of any
object maps to its keys (`related`; by default only its own objects); `requeue_after` may ask
for a timed reconcile (schedules, deadlines, grace periods).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from minikube13.controllers import garbage_collector as gc
from minikube13.controllers import namespace as nsc
from minikube13.controllers.executor import ActionExecutor, Requeue
from minikube13.controllers.garbage_collector import ObjectRef, owners_of, ref_of
from minikube13.controllers.object_cache import ObjectCache
from minikube13.controllers.workqueue import WorkQueue
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.reflector import reflect

log = logging.getLogger(__name__)

Object = dict[str, Any]
Reconcile = Callable[[Any, Any, datetime], Sequence[Any]]
# (storage of the changed object, the object, whether it was deleted, the cache) -> keys
KeysOf = Callable[[str, Object, bool, ObjectCache], Iterable[Hashable]]
RequeueAfter = Callable[[Any, Any, datetime], "float | None"]

STORAGE = {info.storage: info for info in kinds.RESOURCES if info.is_storage_version}


def no_related(storage: str, obj: Object, deleted: bool, cache: ObjectCache) -> list[Hashable]:
    return []


@dataclass(frozen=True)
class Controller:
    """One controller: `reconcile(key, view, now) -> actions` over the keys of `storage`
    (ObjectRef in key form). A change of an object of `storage` queues its own key; `related`
    maps a change of any object to further keys; `keys`, when set, replaces both."""

    name: str
    storage: str
    reconcile: Reconcile
    related: KeysOf = no_related
    keys: KeysOf | None = None
    requeue_after: RequeueAfter | None = None
    workers: int = 1
    queue_options: dict[str, float] = field(default_factory=dict)

    def keys_for(self, storage: str, obj: Object, deleted: bool,
                 cache: ObjectCache) -> Iterable[Hashable]:
        if self.keys is not None:
            return self.keys(storage, obj, deleted, cache)
        own = [ref_of(storage, obj).key] if storage == self.storage else []
        return [*own, *self.related(storage, obj, deleted, cache)]


def _gc_keys(storage: str, obj: Object, deleted: bool, cache: ObjectCache) -> list[Hashable]:
    ref = ref_of(storage, obj)
    going = deleted or bool((obj.get("metadata") or {}).get("deletionTimestamp"))
    keys: list[Hashable] = [] if deleted else [ref.key]
    keys.extend(owner.key for owner in owners_of(ref, obj))
    if going:
        keys.extend(dependent.key for dependent, _ in cache.dependents(ref.uid))
    return keys


def _namespace_keys(storage: str, obj: Object, deleted: bool,
                    cache: ObjectCache) -> list[Hashable]:
    meta = obj.get("metadata") or {}
    if storage == "namespaces":
        return [meta.get("name", "")]
    going = deleted or bool(meta.get("deletionTimestamp"))
    return [meta["namespace"]] if meta.get("namespace") and going else []


GARBAGE_COLLECTOR = Controller("garbage-collector", "", gc.reconcile, keys=_gc_keys,
                               workers=2)
NAMESPACE = Controller("namespace", "namespaces", nsc.reconcile, keys=_namespace_keys)


class ControllerRunner:
    def __init__(self, registry: ObjectRegistry,
                 controllers: Sequence[Controller] = (GARBAGE_COLLECTOR, NAMESPACE), *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.registry = registry
        self.cache = ObjectCache()
        self.controllers = list(controllers)
        self.queues: dict[str, WorkQueue[Any]] = {
            c.name: WorkQueue(**c.queue_options) for c in self.controllers}
        self.executor = ActionExecutor(registry, clock)
        self.clock = clock
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
                log.info("controllers synced objects=%d controllers=%s", len(self.cache),
                         ",".join(c.name for c in self.controllers))
                workers = [asyncio.create_task(self._work(c))
                           for c in self.controllers for _ in range(c.workers)]
            await stopped
        finally:
            for task in watchers + workers:
                task.cancel()
            for task in watchers + workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for queue in self.queues.values():
                queue.shutdown()

    # -- watching --------------------------------------------------------------------------

    async def _watch(self, info: ResourceInfo) -> None:
        """List+watch one storage resource forever into the cache."""
        await reflect(self.registry, info,
                      key_of=lambda obj: ref_of(info.storage, obj).key,
                      on_event=lambda kind, obj: self._observe(info, kind, obj),
                      on_listed=lambda seen: self._resynced(info, seen))

    def _resynced(self, info: ResourceInfo, seen: set[ObjectRef]) -> None:
        for key in self.cache.keys(info.storage) - seen:
            old = self.cache.remove_key(key)
            if old is not None:
                self._enqueue(info.storage, old, deleted=True)
        self._unsynced.discard(info.storage)
        if not self._unsynced:
            self.synced.set()

    def _observe(self, info: ResourceInfo, kind: str, obj: Object) -> None:
        if kind == "DELETED":
            old = self.cache.remove(info.storage, obj)
        else:
            old = self.cache.put(info.storage, obj)
        if old is not None and kind != "DELETED":
            self._enqueue(info.storage, old, deleted=False)  # e.g. labels no longer matching
        self._enqueue(info.storage, obj, deleted=kind == "DELETED")

    def _enqueue(self, storage: str, obj: Object, *, deleted: bool) -> None:
        """Queue every key whose reconcile may change because `obj` changed."""
        for controller in self.controllers:
            queue = self.queues[controller.name]
            for key in controller.keys_for(storage, obj, deleted, self.cache):
                queue.add(key)

    # -- working ---------------------------------------------------------------------------

    async def _work(self, controller: Controller) -> None:
        queue = self.queues[controller.name]
        while True:
            key = await queue.get()
            try:
                await self.reconcile_once(controller, queue, key)
            finally:
                queue.done(key)

    async def reconcile_once(self, controller: Controller, queue: WorkQueue[Any],
                             key: Any) -> None:
        """Reconcile one key and carry out its actions in order; on the first failure the
        rest are skipped and the key comes back after a back-off."""
        try:
            now = self.clock()
            await self.executor.run(list(controller.reconcile(key, self.cache, now)))
        except asyncio.CancelledError:
            raise
        except Requeue as why:
            log.debug("requeue controller=%s key=%s: %s", controller.name, key, why)
            queue.add_rate_limited(key)
            return
        except Exception:
            log.warning("reconcile failed controller=%s key=%s", controller.name, key,
                        exc_info=True)
            queue.add_rate_limited(key)
            return
        queue.forget(key)
        if controller.requeue_after is not None:
            delay = controller.requeue_after(key, self.cache, self.clock())
            if delay is not None:
                queue.add_after(key, max(0.0, delay))




async def run_controllers(registry: ObjectRegistry, stop: asyncio.Event,
                          controllers: Sequence[Controller] = (GARBAGE_COLLECTOR, NAMESPACE),
                          ) -> None:
    """Run `controllers` until `stop` is set."""
    await ControllerRunner(registry, controllers).run(stop)
