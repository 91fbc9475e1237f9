"""The scheduler's shell: list+watch nodes and pods through the ObjectRegistry into the
incremental Snapshot, schedule each pending pod with the pure core, write the binding, and
report the pods that fit nowhere (PodScheduled=False and a FailedScheduling Event). Pods
that did not fit are tried again when the cluster changes and every RETRY_INTERVAL."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.metadata import timestamp
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions
from minikube13.registry.reflector import reflect
from minikube13.scheduler.core import failure_message, schedule
from minikube13.scheduler.podinfo import PodInfo, pod_info
from minikube13.scheduler.snapshot import Snapshot, volume_placement

log = logging.getLogger(__name__)

Object = dict[str, Any]
SCHEDULER_NAME = "default-scheduler"
RETRY_INTERVAL = 30.0
TERMINAL = ("Succeeded", "Failed")
_IGNORE = WriteOptions(field_validation="Ignore")


def _find(plural: str) -> ResourceInfo:
    info = kinds.find("", "v1", plural)
    assert info is not None
    return info


PODS, NODES, EVENTS = _find("pods"), _find("nodes"), _find("events")
VOLUMES, SERVICES = _find("persistentvolumes"), _find("services")


def key_of(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"


def wants_scheduling(pod: Object) -> bool:
    """Unbound, ours, not being deleted and not finished."""
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    return (not spec.get("nodeName") and not meta.get("deletionTimestamp")
            and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
            and (pod.get("status") or {}).get("phase") not in TERMINAL)


def unschedulable_status(pod: Object, message: str, now: datetime) -> Object | None:
    """The pod with PodScheduled=False/Unschedulable, or None if it says so already."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    for condition in conditions:
        if (condition.get("type") == "PodScheduled" and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
                and condition.get("message") == message):
            return None
    out = copy.deepcopy(pod)
    kept = [c for c in conditions if c.get("type") != "PodScheduled"]
    kept.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": message, "lastProbeTime": None,
                 "lastTransitionTime": timestamp(now)})
    out.setdefault("status", {})["conditions"] = kept
    out["status"].setdefault("phase", "Pending")
    return out


def failed_event(pod: Object, message: str, now: datetime) -> Object:
    meta = pod.get("metadata") or {}
    when = timestamp(now)
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name', '')}.{time.time_ns():x}",
                     "namespace": meta.get("namespace") or "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name"),
                           "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                           "resourceVersion": meta.get("resourceVersion")},
        "reason": "FailedScheduling", "message": message, "type": "Warning",
        "source": {"component": SCHEDULER_NAME}, "count": 1,
        "firstTimestamp": when, "lastTimestamp": when,
        "reportingComponent": SCHEDULER_NAME,
    }


class SchedulerRunner:
    def __init__(self, registry: ObjectRegistry, *, rng_seed: int | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 retry_interval: float = RETRY_INTERVAL, sample: int | None = None):
        self.registry = registry
        self.snapshot = Snapshot()
        self.rng = random.Random(rng_seed)
        self.clock = clock
        self.retry_interval = retry_interval
        self.sample = sample
        self.pending: dict[str, Object] = {}
        self.failed: dict[str, int] = {}  # pod key -> snapshot generation when it did not fit
        self.reported: dict[str, str] = {}  # pod key -> last message of an Event
        self.wake = asyncio.Event()
        self.volume_claims: dict[str, str] = {}  # persistent volume -> its claim
        self.services: dict[str, Object] = {}  # namespace/name -> Service (for spreading)
        self.synced = {info.plural: asyncio.Event()
                       for info in (NODES, PODS, VOLUMES, SERVICES)}

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._watch(NODES, self._on_node)),
                 asyncio.create_task(self._watch(PODS, self._on_pod)),
                 asyncio.create_task(self._watch(VOLUMES, self._on_volume)),
                 asyncio.create_task(self._watch(SERVICES, self._on_service)),
                 asyncio.create_task(self._loop())]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- watching --------------------------------------------------------------------------

    async def _watch(self, info: ResourceInfo, observe: Callable[[str, Object], None]) -> None:
        """List+watch one resource forever; a relist drops what is gone."""
        def on_event(kind: str, obj: Object) -> None:
            observe(kind, obj)
            self.wake.set()

        await reflect(self.registry, info, key_of=key_of, on_event=on_event,
                      on_listed=lambda seen: self._resynced(info, seen))

    def _resynced(self, info: ResourceInfo, seen: set[str]) -> None:
        if info is NODES:
            for name in [n for n, i in self.snapshot.nodes.items() if i.known]:
                if f"/{name}" not in seen:
                    self.snapshot.remove_node(name)
        elif info is SERVICES:
            for key in [k for k in self.services if k not in seen]:
                del self.services[key]
        elif info is VOLUMES:
            for name in [n for n in self.volume_claims if f"/{n}" not in seen]:
                self._on_volume("DELETED", {"metadata": {"name": name}})
        else:
            for key in (set(self.snapshot.pods) | set(self.pending)) - seen:
                self._forget_pod(key)
        self.synced[info.plural].set()
        self.wake.set()

    def _on_node(self, kind: str, node: Object) -> None:
        name = (node.get("metadata") or {}).get("name") or ""
        if kind == "DELETED":
            self.snapshot.remove_node(name)
        else:
            self.snapshot.add_node(node)

    def _on_volume(self, kind: str, pv: Object) -> None:
        name = (pv.get("metadata") or {}).get("name") or ""
        old = self.volume_claims.pop(name, None)
        if old is not None:
            self.snapshot.set_claim_volume(old, None)
        found = volume_placement(pv) if kind != "DELETED" else None
        if found is not None:
            self.volume_claims[name] = found[0]
            self.snapshot.set_claim_volume(*found)

    def _on_service(self, kind: str, service: Object) -> None:
        key = key_of(service)
        if kind == "DELETED":
            self.services.pop(key, None)
        else:
            self.services[key] = service

    def pod_info(self, pod: Object) -> PodInfo:
        """The scheduler's view of a pod, spreading with the Services that select it."""
        return pod_info(pod, self.services.values())  # read only when no controller

    def _on_pod(self, kind: str, pod: Object) -> None:
        key = key_of(pod)
        if kind == "DELETED":
            self._forget_pod(key)
            return
        bound = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if bound and phase not in TERMINAL:
            self.snapshot.add_pod(self.pod_info(pod))
        elif key in self.snapshot.pods:
            self.snapshot.remove_pod(key)
        if wants_scheduling(pod):
            self.pending[key] = pod
        else:
            self.pending.pop(key, None)
            self.failed.pop(key, None)
            self.reported.pop(key, None)

    def _forget_pod(self, key: str) -> None:
        self.snapshot.remove_pod(key)
        self.pending.pop(key, None)
        self.failed.pop(key, None)
        self.reported.pop(key, None)

    # -- scheduling ------------------------------------------------------------------------

    async def _loop(self) -> None:
        for event in self.synced.values():
            await event.wait()
        log.info("scheduler synced nodes=%d pods=%d pending=%d", len(self.snapshot.order()),
                 len(self.snapshot.pods), len(self.pending))
        while True:
            try:  # asyncio.timeout: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(self.retry_interval):
                    await self.wake.wait()
            except TimeoutError:
                self.failed.clear()  # the periodic retry of every unschedulable pod
            self.wake.clear()
            await self.schedule_pending()

    async def schedule_pending(self) -> None:
        """One pass over the pending pods; one pod's failure never stops the pass."""
        for key in list(self.pending):
            pod = self.pending.get(key)
            if pod is None or self.failed.get(key) == self.snapshot.generation:
                continue
            try:
                await self._schedule_one(key, pod)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("scheduling failed pod=%s", key, exc_info=True)
                self.failed[key] = self.snapshot.generation
            await asyncio.sleep(0)

    async def _schedule_one(self, key: str, pod: Object) -> None:
        info = self.pod_info(pod)
        decision = schedule(info, self.snapshot, self.rng, sample=self.sample)
        if isinstance(decision, str):
            await self._bind(key, replace(info, node=decision))
            return
        self.failed[key] = self.snapshot.generation
        message = failure_message(decision, len(self.snapshot.order()))
        log.info("pod unschedulable pod=%s message=%s", key, message)
        await self._report(pod, message)

    async def _bind(self, key: str, assumed: PodInfo) -> None:
        """Count the pod on its node at once (the next pod sees it), then write the binding;
        if the write fails, forget the assumption unless the watch has news already."""
        self.pending.pop(key, None)
        self.failed.pop(key, None)
        self.snapshot.add_pod(assumed)
        namespace, name = key.split("/", 1)
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": name, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": assumed.node}}
        try:
            await self.registry.create(PODS, namespace, binding, WriteOptions(),
                                       subresource="binding", name=name)
        except StatusError as err:
            log.info("binding failed pod=%s node=%s code=%s", key, assumed.node, err.code)
            if self.snapshot.pods.get(key) is assumed:
                self.snapshot.remove_pod(key)
            if err.code == 409:
                await self._refresh(key)
            return
        log.debug("bound pod=%s node=%s", key, assumed.node)

    async def _refresh(self, key: str) -> None:
        """After a conflict, read the pod again so a still-pending pod is retried."""
        namespace, name = key.split("/", 1)
        try:
            current = (await self.registry.get(PODS, namespace, name)).object
        except StatusError:
            return
        self._on_pod("MODIFIED", current)
        self.wake.set()

    async def _report(self, pod: Object, message: str) -> None:
        """PodScheduled=False (only when it changes) and an Event (when the message does)."""
        key = key_of(pod)
        await self._set_unschedulable(key, message)
        if self.reported.get(key) != message:
            self.reported[key] = message
            namespace = (pod.get("metadata") or {}).get("namespace") or "default"
            await self.registry.create(EVENTS, namespace,
                                       failed_event(pod, message, self.clock()), _IGNORE)

    async def _set_unschedulable(self, key: str, message: str) -> None:
        namespace, name = key.split("/", 1)
        for _ in range(5):
            try:
                current = (await self.registry.get(PODS, namespace, name)).object
            except StatusError as err:
                if err.code == 404:
                    return
                raise
            if not wants_scheduling(current):
                return
            changed = unschedulable_status(current, message, self.clock())
            if changed is None:
                return
            try:
                await self.registry.update(PODS, namespace, name, changed, _IGNORE, "status")
                return
            except StatusError as err:
                if err.code != 409:
                    raise




async def run_scheduler(registry: ObjectRegistry, stop: asyncio.Event, *,
                        rng_seed: int | None = None) -> None:
    """Run the default scheduler until `stop` is set."""
    await SchedulerRunner(registry, rng_seed=rng_seed).run(stop)
