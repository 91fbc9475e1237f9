"""The service proxy: watches Services, Endpoints, Pods, NetworkPolicies and Namespaces
through the registry and keeps the node's ruleset in step (debounced ~50 ms; applied only
when the rendered text changed; retried with back-off when nft fails).

The daemon starts it (with the pod network) in the node's network namespace:

    handle = start_service_proxy(registry, config, node_name, node_addresses)
    ...
    await handle.close()          # leaves the rules: pods outlive the daemon
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.net.services import ServiceProxyError
from minikube13.net.services.apply import apply_ruleset, run_nft
from minikube13.net.services.inputs import NodeInfo
from minikube13.net.services.rules import remove_ruleset, render_ruleset
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.reflector import reflect

log = logging.getLogger(__name__)

Object = dict[str, Any]
Apply = Callable[[str], Awaitable[None]]
DEBOUNCE_S = 0.05
SYNC_GRACE_S = 10.0  # after this, apply even if some resource never listed (e.g. an agent)
RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
WATCHED = ("services", "endpoints", "pods", "networkpolicies", "namespaces")
BR_NETFILTER = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


class ProxyConfig(Protocol):
    """The daemon Config fields the proxy reads."""

    @property
    def service_cidr(self) -> str: ...

    @property
    def cluster_cidr(self) -> str: ...


def _storage_info(storage: str) -> ResourceInfo:
    for info in kinds.RESOURCES:
        if info.storage == storage and info.is_storage_version:
            return info
    raise LookupError(storage)


def bridge_facts(node: NodeInfo) -> NodeInfo:
    """`node` with what this netns says now: is br_netfilter on, the bridge's MAC. Also
    turns hairpin mode on for the bridge's ports where it is off: with br_netfilter a pod
    reaching itself through its Service is bridged back out of its own port, which the
    bridge refuses without it (kubelet's hairpin-veth). Idempotent; a no-op without the
    bridge."""
    try:
        on = BR_NETFILTER.read_text().strip() == "1"
    except OSError:
        on = False
    try:
        mac = Path(f"/sys/class/net/{node.bridge}/address").read_text().strip()
    except OSError:
        mac = ""
    for flag in Path(f"/sys/class/net/{node.bridge}/brif").glob("*/hairpin_mode"):
        with contextlib.suppress(OSError):
            if flag.read_text().strip() == "0":
                flag.write_text("1")
                log.info("hairpin mode on port=%s", flag.parent.name)
    return replace(node, bridge_netfilter=on, bridge_mac=mac)


class ServiceProxy:
    def __init__(self, registry: ObjectRegistry, node: NodeInfo, *,
                 apply: Apply = apply_ruleset,
                 facts: Callable[[NodeInfo], NodeInfo] = bridge_facts,
                 debounce_s: float = DEBOUNCE_S):
        self.registry = registry
        self.node = node
        self._apply = apply
        self._facts = facts
        self._debounce_s = debounce_s
        self._objects: dict[str, dict[Any, Object]] = {s: {} for s in WATCHED}
        self._unsynced = set(WATCHED)
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.applied_text = ""
        self.applied = asyncio.Event()  # set after every successful apply (tests wait on it)
        self.apply_count = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._watch(s), name=f"service-proxy-{s}")
                       for s in WATCHED]
        self._tasks.append(asyncio.create_task(self._loop(), name="service-proxy"))

    async def close(self, remove_rules: bool = False, nft: Sequence[str] = ("nft",)) -> None:
        """Stop watching; the rules stay (pods keep their Services) unless `remove_rules`."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if remove_rules:
            await run_nft(["-f", "-"], remove_ruleset(), nft)

    # -- watching --------------------------------------------------------------------------

    async def _watch(self, storage: str) -> None:
        info = _storage_info(storage)
        objects = self._objects[storage]

        def key_of(obj: Object) -> tuple[str, str]:
            meta = obj.get("metadata") or {}
            return meta.get("namespace") or "", meta.get("name") or ""

        def on_event(kind: str, obj: Object) -> None:
            if kind == "DELETED":
                objects.pop(key_of(obj), None)
            else:
                objects[key_of(obj)] = obj
            self._changed.set()

        def on_listed(seen: set[Any]) -> None:
            for gone in set(objects) - seen:
                del objects[gone]
            self._unsynced.discard(storage)
            self._changed.set()

        await reflect(self.registry, info, key_of=key_of, on_event=on_event,
                      on_listed=on_listed)

    # -- applying --------------------------------------------------------------------------

    async def _loop(self) -> None:
        failures = 0
        started = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(),
                                       SYNC_GRACE_S if self._unsynced else None)
            await asyncio.sleep(self._debounce_s)  # let a burst of events settle
            self._changed.clear()
            if self._unsynced and time.monotonic() - started < SYNC_GRACE_S:
                continue  # a partial view would drop rules: wait for every list
            try:
                await self.sync_once()
                failures = 0
            except ServiceProxyError as e:
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("service rules not applied retry_s=%.1f error=%s", delay, e)
                await asyncio.sleep(delay)
                self._changed.set()

    async def sync_once(self) -> bool:
        """Render from the current objects; apply when the text changed. Returns whether
        it applied."""
        started = time.monotonic()
        node = self._facts(self.node)
        services, endpoints, pods, policies, namespaces = (
            list(self._objects[s].values()) for s in WATCHED)
        text = render_ruleset(services, endpoints, pods, policies, namespaces, node)
        if text == self.applied_text:
            return False
        rendered = time.monotonic()
        await self._apply(text)
        self.applied_text = text
        self.apply_count += 1
        self.applied.set()
        log.info("service rules applied bytes=%d render_ms=%.1f apply_ms=%.1f br_netfilter=%s",
                 len(text), (rendered - started) * 1000, (time.monotonic() - rendered) * 1000,
                 node.bridge_netfilter)
        return True


def start_service_proxy(registry: ObjectRegistry, config: ProxyConfig, node_name: str,
                        node_addresses: Sequence[str], *,
                        apply: Apply = apply_ruleset) -> ServiceProxy:
    """Start the proxy on the running loop, applying in this process's network namespace
    (`apply` replaces nft in tests); `await handle.close()` stops it."""
    node = NodeInfo(name=node_name, addresses=tuple(node_addresses),
                    service_cidr=config.service_cidr, cluster_cidr=config.cluster_cidr)
    proxy = ServiceProxy(registry, node, apply=apply)
    proxy.start()
    log.info("service proxy started node=%s addresses=%s service_cidr=%s", node_name,
             ",".join(node_addresses), config.service_cidr)
    return proxy
