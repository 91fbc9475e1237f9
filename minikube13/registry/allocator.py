"""Write guards: per-kind steps the registry runs around a create or update, between
admission and the store write. The Service guard allocates ClusterIPs and NodePorts
(registry.allocation) under one lock, so two concurrent creates never take one address.

What is taken is read from the stored Services at every write (decoding only those changed
since the last write), so deletes free addresses and restarts lose nothing. The daemon sets
the ranges from its config:

    registry.write_guards["services"] = ServiceAllocator.from_config(
        config.service_cidr, config.node_port_range)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from typing import Any, Protocol

from minikube13.model.errors import Invalid
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import allocation, facade
from minikube13.registry import metadata as md
from minikube13.registry.allocation import ServiceRanges, Taken
from minikube13.store.interface import Store

Object = dict[str, Any]


class WriteGuard(Protocol):
    """Runs around one write of `new` (canonical, admitted) at `key`; may change `new`,
    raise a StatusError, and holds whatever lock it needs until the write is done."""

    def guard(self, store: Store, info: ResourceInfo, key: str, new: Object,
              old: Object | None) -> contextlib.AbstractAsyncContextManager[None]: ...


class ServiceAllocator:
    """Allocates Service ClusterIPs and NodePorts from `ranges`."""

    def __init__(self, ranges: ServiceRanges | None = None,
                 rng: random.Random | None = None):
        self.ranges = ranges or ServiceRanges.parse()
        self._rng = rng or random.SystemRandom()
        self._lock = asyncio.Lock()
        # key -> (mod_revision, clusterIP, nodePorts): stored Services decoded once
        self._held: dict[str, tuple[int, str, set[int]]] = {}

    @classmethod
    def from_config(cls, service_cidr: str, node_port_range: str) -> ServiceAllocator:
        return cls(ServiceRanges.parse(service_cidr, node_port_range))

    @contextlib.asynccontextmanager
    async def guard(self, store: Store, info: ResourceInfo, key: str, new: Object,
                    old: Object | None) -> AsyncIterator[None]:
        async with self._lock:
            taken = await self._taken(store, info, key)
            errors = allocation.allocate(new, taken, self.ranges, self._rng)
            if errors:
                name = (new.get("metadata") or {}).get("name") or ""
                raise facade.model_error(info, Invalid(info.kind, name, errors))
            yield

    async def _taken(self, store: Store, info: ResourceInfo, exclude: str) -> Taken:
        listed = await store.list(md.prefix(info))
        live: dict[str, tuple[int, str, set[int]]] = {}
        for kv in listed.items:
            known = self._held.get(kv.key)
            if known is None or known[0] != kv.mod_revision:
                ip, ports = allocation.held_by(json.loads(kv.value))
                known = (kv.mod_revision, ip, ports)
            live[kv.key] = known
        self._held = live
        taken = Taken()
        for key, (_, ip, ports) in live.items():
            if key == exclude:
                continue
            if ip:
                taken.ips.add(ip)
            taken.node_ports |= ports
        return taken
