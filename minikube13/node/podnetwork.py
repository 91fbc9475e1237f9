"""The node agent's side of the pod network: wait until the leader's node IPAM controller
gave this Node a podCIDR, bring the node's network up with it, then keep the routes to the
other nodes' pod CIDRs in step with the Nodes the registry holds (arrivals, departures,
address changes), re-applying now and then in case something removed a route."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from minikube13.model import kinds
from minikube13.net.node_network import NodeNetwork
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions
from minikube13.registry.watch import INITIAL_EVENTS_END

log = logging.getLogger(__name__)
Object = dict[str, Any]
POLL_S = 0.5           # while waiting for the podCIDR
SETTLE_S = 0.1         # node events closer than this make one routes update
REAPPLY_S = 30.0
WATCH_RETRY_S = 1.0
START_RETRY_S = 5.0

_NODES = kinds.find("", "v1", "nodes")
assert _NODES is not None
NODES = _NODES


class PodNetworkSync:
    def __init__(self, registry: ObjectRegistry, network: NodeNetwork, node_name: str,
                 node_address: str):
        self.registry = registry
        self.network = network
        self.node_name = node_name
        self.node_address = node_address
        self.ready = asyncio.Event()
        self._nodes: dict[str, Object] = {}
        self._changed = asyncio.Event()
        self._synced = False     # the first node list is in

    async def run(self) -> None:
        """Start the network once the podCIDR is known, then follow the Nodes (forever)."""
        cidr = await self.wait_pod_cidr()
        while True:
            try:
                await asyncio.to_thread(self.network.start, self.node_name, cidr,
                                        self.node_address)
                break
            except Exception:
                log.exception("pod network start failed node=%s cidr=%s", self.node_name, cidr)
                await asyncio.sleep(START_RETRY_S)
        self.ready.set()
        watcher = asyncio.create_task(self._watch_nodes(), name="node-network-watch")
        try:
            await self._apply_forever()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def wait_pod_cidr(self) -> str:
        said = False
        while True:
            try:
                node = (await self.registry.get(NODES, "", self.node_name)).object
                cidr = str((node.get("spec") or {}).get("podCIDR") or "")
                if cidr:
                    return cidr
            except StatusError as err:
                if err.code != 404:
                    log.warning("reading own node failed node=%s error=%s", self.node_name, err)
            if not said:
                log.info("waiting for a podCIDR node=%s", self.node_name)
                said = True
            await asyncio.sleep(POLL_S)

    async def _watch_nodes(self) -> None:
        """Keep `_nodes` current; a (re)list replaces it whole once its initial events end,
        so a broken watch never looks like every node left."""
        opts = ListOptions(allow_bookmarks=True, send_initial_events=True)
        while True:
            listing: dict[str, Object] | None = {}
            stream = self.registry.watch(NODES, "", opts)
            try:
                async for event in stream:
                    obj = event["object"]
                    if event["type"] == "BOOKMARK":
                        if listing is not None and _initial_end(obj):
                            self._nodes, listing = listing, None
                            self._synced = True
                            self._changed.set()
                        continue
                    nodes = self._nodes if listing is None else listing
                    name = (obj.get("metadata") or {}).get("name", "")
                    if event["type"] == "DELETED":
                        nodes.pop(name, None)
                    else:
                        nodes[name] = obj
                    if listing is None:
                        self._changed.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("node watch failed node=%s", self.node_name, exc_info=True)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            await asyncio.sleep(WATCH_RETRY_S)

    async def _apply_forever(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), REAPPLY_S)
            await asyncio.sleep(SETTLE_S)
            self._changed.clear()
            if not self._synced:
                continue
            try:
                await asyncio.to_thread(self.network.update_peers, list(self._nodes.values()))
            except Exception:
                log.exception("routes update failed node=%s", self.node_name)


def _initial_end(obj: Object) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(INITIAL_EVENTS_END) == "true"
