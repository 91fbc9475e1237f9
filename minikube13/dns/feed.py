"""Keeps the DNS snapshot current: watches Services, Endpoints and Pods in the registry and
rebuilds the zone (snapshot.py) when they change, a few at a time.

Each watch starts with its initial events; a (re)list replaces that kind's objects whole
once its initial events end, so a broken watch never looks like every service went away.
Until services and endpoints are listed the zone stays unsynced (cluster names get
SERVFAIL, so clients ask again); pods only add PTR names, so the zone does not wait for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from minikube13.dns.snapshot import DnsSnapshot, build_snapshot
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions
from minikube13.registry.watch import INITIAL_EVENTS_END

log = logging.getLogger(__name__)
Object = dict[str, Any]
Key = tuple[str, str]
SETTLE_S = 0.05        # changes closer than this make one rebuild
WATCH_RETRY_S = 1.0
SERIAL_MOD = 1 << 32   # the SOA serial is 32 bits


def _info(plural: str) -> ResourceInfo:
    info = kinds.find("", "v1", plural)
    assert info is not None
    return info


def slim_pod(pod: Object) -> Object:
    """What DNS needs of a pod (the watch keeps thousands of them)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k.startswith("pod.beta.kubernetes.io/")}
    return {"metadata": {"namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
                         "annotations": annotations},
            "spec": {"hostname": spec.get("hostname"), "subdomain": spec.get("subdomain"),
                     "hostNetwork": spec.get("hostNetwork", False)},
            "status": {"podIP": (pod.get("status") or {}).get("podIP")}}


class SnapshotFeed:
    """Calls `publish` with a new snapshot after every settled batch of changes."""

    KINDS = ("services", "endpoints", "pods")
    REQUIRED = {"services", "endpoints"}

    def __init__(self, registry: ObjectRegistry, cluster_domain: str,
                 publish: Callable[[DnsSnapshot], None]) -> None:
        self.registry = registry
        self.cluster_domain = cluster_domain
        self.publish = publish
        self.objects: dict[str, dict[Key, Object]] = {k: {} for k in self.KINDS}
        self.listed: set[str] = set()
        self.serial = 0
        self.synced = asyncio.Event()  # set after the first complete snapshot is published
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch(kind), name=f"dns-watch-{kind}")
                       for kind in self.KINDS]
        self._tasks.append(asyncio.create_task(self._rebuild_forever(), name="dns-rebuild"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _watch(self, kind: str) -> None:
        info = _info(kind)
        opts = ListOptions(allow_bookmarks=True, send_initial_events=True)
        while True:
            listing: dict[Key, Object] | None = {}
            stream = self.registry.watch(info, "", opts)
            try:
                async for event in stream:
                    listing = self._apply(kind, event, listing)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("dns watch failed kind=%s error=%s", kind, err)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            await asyncio.sleep(WATCH_RETRY_S)

    def _apply(self, kind: str, event: Object,
               listing: dict[Key, Object] | None) -> dict[Key, Object] | None:
        """One watch event into `listing` (during the initial events) or the live objects;
        returns the listing still being filled, None once it is live."""
        obj = event.get("object") or {}
        meta = obj.get("metadata") or {}
        if event.get("type") == "BOOKMARK":
            if listing is not None and \
                    (meta.get("annotations") or {}).get(INITIAL_EVENTS_END) == "true":
                self.objects[kind] = listing
                self.listed.add(kind)
                self._changed.set()
                return None
            return listing
        target = self.objects[kind] if listing is None else listing
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event.get("type") == "DELETED":
            target.pop(key, None)
        elif event.get("type") in ("ADDED", "MODIFIED"):
            target[key] = slim_pod(obj) if kind == "pods" else obj
        if listing is None:
            self._changed.set()
        return listing

    async def _rebuild_forever(self) -> None:
        while True:
            await self._changed.wait()
            await asyncio.sleep(SETTLE_S)
            self._changed.clear()
            if not self.REQUIRED <= self.listed:
                continue
            self.serial = self.serial % (SERIAL_MOD - 1) + 1
            services, endpoints, pods = (list(self.objects[k].values()) for k in self.KINDS)
            try:
                # a thread: a big zone takes a while to build and the loop keeps answering
                snapshot = await asyncio.to_thread(build_snapshot, services, endpoints, pods,
                                                   self.cluster_domain, self.serial)
            except Exception:
                log.exception("dns zone build failed serial=%s", self.serial)
                continue
            self.publish(snapshot)
            if not self.synced.is_set():
                log.info("dns zone ready services=%s endpoints=%s pods=%s", len(services),
                         len(endpoints), len(pods))
                self.synced.set()
