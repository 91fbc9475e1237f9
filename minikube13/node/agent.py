"""The node agent (the kubelet's part of the daemon): registers the Node, keeps its Lease and
Ready condition fresh, watches the pods bound to it (fieldSelector spec.nodeName), and keeps
each in line with the runtime through one worker per pod.

A pod's worker runs while its pod is "dirty": marked by a watch event, by the relist loop
(every `relist_s` the pod dirs are read and diffed, pleg.relist), by a due start retry, or
by the periodic resync. After the first list the agent adopts what is on disk: pods the API
no longer has are removed, pods whose stage1 is gone (a reboot) are started again, running
ones are left alone. Closing the agent stops its tasks only: pods outlive the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minikube13.net.node_network import NodeNetwork
from minikube13.node import pleg
from minikube13.node.events import PodEventRecorder
from minikube13.node.nodestatus import MachineInfo
from minikube13.node.podnetwork import PodNetworkSync
from minikube13.node.podsync import PODS, PodDns, PodRuntimePort, PodSync
from minikube13.node.registration import NodeRegistration
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions
from minikube13.registry.watch import INITIAL_EVENTS_END
from minikube13.runtime.poddir import ContainerState

log = logging.getLogger(__name__)

Object = dict[str, Any]
WATCH_RETRY_S = 1.0
HOT_RELIST_S = 0.02   # a just-started pod is relisted this often ...
HOT_WINDOW_S = 10.0   # ... until its containers all started, or for this long


def utcnow() -> datetime:
    return datetime.now(UTC)


def _uid(pod: Object) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def _version(pod: Object) -> int:
    try:
        return int((pod.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class NodeAgent:
    def __init__(self, registry: ObjectRegistry, runtime: PodRuntimePort, node_name: str,
                 machine: MachineInfo, *, clock: Callable[[], datetime] = utcnow,
                 lease_s: float = 10.0, status_s: float = 60.0, relist_s: float = 1.0,
                 resync_s: float = 60.0, gc_s: float = 60.0,
                 backoff_initial_s: float = 10.0, backoff_max_s: float = 300.0,
                 network: NodeNetwork | None = None, cluster_domain: str = "cluster.local",
                 resolv_conf: Path = Path("/etc/resolv.conf")):
        """`network`: the pod network the runtime was given too; pods wait until it is up
        (this Node has a podCIDR), and their resolv.conf names its gateway (the node's DNS
        address), `cluster_domain`, and for dnsPolicy Default the host's `resolv_conf`."""
        self.cluster_domain = cluster_domain
        self.resolv_conf = resolv_conf
        self.registry = registry
        self.runtime = runtime
        self.node_name = node_name
        self.clock = clock
        self.relist_s = relist_s
        self.resync_s = resync_s
        self.gc_s = gc_s
        self.node = NodeRegistration(registry, node_name, machine, clock, lease_s=lease_s,
                                     status_s=status_s)
        self.events = PodEventRecorder(registry, node_name, clock)
        self.sync = PodSync(registry, runtime, node_name, machine.internal_ip, clock,
                            self.events, backoff_initial_s=backoff_initial_s,
                            backoff_max_s=backoff_max_s, on_started=self._heat)
        self.listed = asyncio.Event()  # the first pod list is in: adoption has begun
        self._pods: dict[str, Object] = {}        # uid -> the pod as last seen
        self._dirty: set[str] = set()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._states: dict[str, dict[str, ContainerState]] = {}
        self._hot: dict[str, float] = {}  # uid -> loop time its fast relisting ends
        self._hot_task: asyncio.Task[None] | None = None
        self._unlisten: Callable[[], None] | None = None
        self.network = None if network is None else \
            PodNetworkSync(registry, network, node_name, machine.internal_ip)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the Node (raises when that fails), then run in the background."""
        await self.node.register()
        self.events.start()
        self._unlisten = self.runtime.listen(self._on_pod_written)
        self._tasks = [
            asyncio.create_task(self.node.heartbeat(), name="node-heartbeat"),
            asyncio.create_task(self._watch_pods(), name="node-pod-watch"),
            asyncio.create_task(self._relist_forever(), name="node-relist"),
            asyncio.create_task(self._collect_garbage_forever(), name="node-gc"),
            asyncio.create_task(self.runtime.warm_up(), name="node-stage1-warm-up"),
        ]
        if self.network is not None:
            self._tasks.append(asyncio.create_task(self._run_network(), name="node-network"))
        log.info("node agent started node=%s", self.node_name)

    async def close(self) -> None:
        """Stop the agent's tasks; the pods keep running."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        tasks = [*self._tasks, *self._workers.values()]
        if self._hot_task is not None:
            tasks.append(self._hot_task)
            self._hot_task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks, self._workers = [], {}
        await self.events.close()
        log.info("node agent stopped node=%s", self.node_name)

    def pod(self, uid: str) -> Object | None:
        return self._pods.get(uid)

    # -- the pods bound to this node -------------------------------------------------------

    async def _run_network(self) -> None:
        assert self.network is not None
        try:
            await self.network.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod network failed node=%s", self.node_name)
            raise

    async def _network_ready(self) -> None:
        """Pods start only once the pod network is up (pods' DNS = the node's gateway)."""
        if self.network is None:
            return
        await self.network.ready.wait()
        self.sync.dns = PodDns(self.network.network.gateway, self.cluster_domain,
                               self.resolv_conf)

    async def _watch_pods(self) -> None:
        await self._network_ready()
        opts = ListOptions(field_selector=f"spec.nodeName={self.node_name}",
                           allow_bookmarks=True, send_initial_events=True)
        while True:
            seen: set[str] | None = set()
            stream = self.registry.watch(PODS, "", opts)
            try:
                async for event in stream:
                    obj = event["object"]
                    if event["type"] == "BOOKMARK":
                        if seen is not None and _initial_end(obj):
                            self._listed(seen)
                            seen = None
                        continue
                    if seen is not None:
                        seen.add(_uid(obj))
                    self._on_event(event["type"], obj)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("pod watch failed node=%s", self.node_name, exc_info=True)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            await asyncio.sleep(WATCH_RETRY_S)

    def _on_event(self, kind: str, pod: Object) -> None:
        uid = _uid(pod)
        if kind == "DELETED":
            self._pods.pop(uid, None)
        else:
            known = self._pods.get(uid)
            if known is not None and _version(known) > _version(pod):
                return  # our own status write already brought a newer one
            self._pods[uid] = pod
        if self.listed.is_set():
            if kind == "DELETED" or (pod.get("metadata") or {}).get("deletionTimestamp"):
                self._interrupt_start(uid)
            self._mark(uid)

    def _listed(self, seen: set[str]) -> None:
        """A (re)list is complete: forget pods it did not hold, and (first time) adopt
        what is on disk."""
        for uid in [u for u in self._pods if u not in seen]:
            del self._pods[uid]
        self.listed.set()
        on_disk = {rp.uid for rp in self.runtime.pods()}
        for uid in sorted(set(self._pods) | on_disk):
            self._mark(uid)

    # -- per-pod workers -------------------------------------------------------------------

    def _mark(self, uid: str) -> None:
        self._dirty.add(uid)
        if uid not in self._workers:
            self._workers[uid] = asyncio.create_task(self._work(uid), name=f"pod-{uid}")

    def _interrupt_start(self, uid: str) -> None:
        """A pod deleted while stage0 prepares it (a slow pull): stop waiting for that;
        the next worker tears down whatever the start left."""
        worker = self._workers.get(uid)
        if worker is None or not self.sync.starting(uid):
            return
        worker.cancel()
        self._dirty.add(uid)
        self._workers[uid] = asyncio.create_task(self._work(uid, after=worker),
                                                 name=f"pod-{uid}")

    async def _work(self, uid: str, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await after
        try:
            while uid in self._dirty:
                self._dirty.discard(uid)
                try:
                    stored = await self.sync.sync(uid, self._pods.get(uid))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("pod sync failed uid=%s", uid)
                    await asyncio.sleep(self.relist_s)
                    self._dirty.add(uid)
                    continue
                if stored is not None and uid in self._pods and \
                        _version(stored) > _version(self._pods[uid]):
                    self._pods[uid] = stored
        finally:
            if self._workers.get(uid) is asyncio.current_task():
                del self._workers[uid]

    # -- relist (PLEG), resync, garbage ----------------------------------------------------

    async def _relist_forever(self) -> None:
        await self.listed.wait()
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self.resync_s
        while True:
            try:
                self.relist_once()
                if loop.time() >= next_resync:
                    next_resync = loop.time() + self.resync_s
                    for uid in list(self._pods):
                        self._mark(uid)
            except Exception:
                log.exception("relist failed node=%s", self.node_name)
            await asyncio.sleep(self.relist_s)

    def relist_once(self) -> None:
        """Read the pod dirs, mark the pods whose record changed, record container events,
        and retry due starts."""
        self._relist([(rp.uid, rp) for rp in self.runtime.pods()], None)
        for uid in sorted(self.sync.failures):
            self._mark(uid)

    def _relist(self, current: list[tuple[str, Any]], only: set[str] | None) -> None:
        """Diff `current` against the last relist (of the uids in `only`, or of all)."""
        previous = self._fingerprints if only is None else \
            {u: fp for u, fp in self._fingerprints.items() if u in only}
        result = pleg.relist(previous, self._states, current)
        if only is None:
            self._fingerprints, self._states = result.seen, {}
        for uid in previous.keys() - result.seen.keys():
            self._fingerprints.pop(uid, None)
            self._states.pop(uid, None)
        self._fingerprints.update(result.seen)
        self._states.update({uid: dict(rp.containers) for uid, rp in current})
        for event in result.events:
            pod = self._pods.get(event.uid)
            if pod is not None:
                path = pleg.field_paths(pod).get(event.container, "")
                self.events.record(pod, event.type, event.reason, event.message, path)
        for uid in sorted(result.changed):
            self._mark(uid)

    # A just-started pod is watched closely, so Running shows within milliseconds of the
    # containers starting rather than at the next relist (pod start latency, bench/podstart).

    def _heat(self, uid: str) -> None:
        self._hot[uid] = asyncio.get_running_loop().time() + HOT_WINDOW_S
        if self._hot_task is None or self._hot_task.done():
            self._hot_task = asyncio.create_task(self._relist_hot(), name="node-hot-relist")

    async def _relist_hot(self) -> None:
        loop = asyncio.get_running_loop()
        while self._hot:
            await asyncio.sleep(HOT_RELIST_S)
            now = loop.time()
            for uid in [u for u, until in self._hot.items() if until < now]:
                del self._hot[uid]
            found = [(uid, rp) for uid in self._hot
                     if (rp := self.runtime.pod(uid)) is not None]
            try:
                self._relist(found, set(self._hot))
            except Exception:
                log.exception("relist failed node=%s", self.node_name)
            for uid, rp in found:
                if _all_started(rp):
                    self._hot.pop(uid, None)

    def _on_pod_written(self, uid: str) -> None:
        """stage1 wrote this pod's state (runtime.notify): relist it now, not at the next
        poll."""
        if not self.listed.is_set() or not uid:
            return
        rp = self.runtime.pod(uid)
        try:
            self._relist([(uid, rp)] if rp is not None else [], {uid})
        except Exception:
            log.exception("relist failed node=%s", self.node_name)
            return
        if rp is not None and _all_started(rp):
            self._hot.pop(uid, None)

    async def _collect_garbage_forever(self) -> None:
        await self.listed.wait()
        while True:
            await asyncio.sleep(self.gc_s)
            known = set(self._pods) | set(self._workers)
            try:
                await self.runtime.collect_garbage(known)
            except Exception:
                log.exception("pod garbage collection failed node=%s", self.node_name)


def _all_started(rp: Any) -> bool:
    """Every app container running, or the pod already finished."""
    if rp.stage1 is not None and rp.stage1.phase in ("Succeeded", "Failed"):
        return True
    apps = [s for s in rp.containers.values() if not s.init]
    return bool(apps) and all(s.state == "running" for s in apps)


def _initial_end(obj: Object) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(INITIAL_EVENTS_END) == "true"
