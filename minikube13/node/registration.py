"""The Node object and its Lease: register once, then heartbeat (the kubelet's node status
manager and lease controller)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.node import nodestatus
from minikube13.node.nodestatus import LEASE_NAMESPACE, MachineInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions
from minikube13.registry.patch import MERGE_PATCH

log = logging.getLogger(__name__)


def _info(group: str, version: str, plural: str) -> ResourceInfo:
    info = kinds.find(group, version, plural)
    assert info is not None
    return info


NODES = _info("", "v1", "nodes")
LEASES = _info("coordination.k8s.io", "v1", "leases")
_W = WriteOptions(field_validation="Ignore")


class NodeRegistration:
    def __init__(self, registry: ObjectRegistry, name: str, machine: MachineInfo,
                 clock: Callable[[], datetime], *, lease_s: float = 10.0,
                 status_s: float = 60.0):
        self.registry = registry
        self.name = name
        self.machine = machine
        self.clock = clock
        self.lease_s = lease_s
        self.status_s = status_s

    async def register(self) -> None:
        """Create the Node (or take over the one an earlier run left), post its status and
        renew its Lease."""
        await self.registry.ensure_namespace(LEASE_NAMESPACE)
        node = nodestatus.node_object(self.name, self.machine, self.clock())
        try:
            await self.registry.create(NODES, "", node, _W)
            log.info("node registered node=%s", self.name)
        except StatusError as err:
            if err.code != 409:
                raise
            labels = node["metadata"]["labels"]
            await self.registry.patch(NODES, "", self.name, MERGE_PATCH,
                                      {"metadata": {"labels": labels}}, _W)
            await self.post_status()
            log.info("node already registered node=%s", self.name)
        try:
            await self.renew_lease()
        except StatusError as err:
            if err.code != 503:
                raise
            # an agent cut off from the servers starts anyway (the Lease is theirs)
            log.warning("node lease not renewed node=%s error=%s", self.name, err)

    async def post_status(self) -> None:
        """Write the Node's status when it changed (heartbeat times aside: liveness is the
        Lease's and gossip's); re-register a deleted Node."""
        try:
            current = (await self.registry.get(NODES, "", self.name)).object
        except StatusError as err:
            if err.code != 404:
                raise
            node = nodestatus.node_object(self.name, self.machine, self.clock())
            await self.registry.create(NODES, "", node, _W)
            log.info("node registered again node=%s", self.name)
            return
        status = nodestatus.node_status(self.machine, current.get("status") or {}, self.clock())
        if _without_heartbeats(status) == _without_heartbeats(current.get("status") or {}):
            return
        current["status"] = status
        current["metadata"].pop("resourceVersion", None)
        await self.registry.update(NODES, "", self.name, current, _W, "status")

    async def renew_lease(self) -> None:
        spec = nodestatus.lease_spec(self.name, self.clock())
        try:
            await self.registry.patch(LEASES, LEASE_NAMESPACE, self.name, MERGE_PATCH,
                                      {"spec": spec}, _W)
        except StatusError as err:
            if err.code != 404:
                raise
            await self.registry.create(LEASES, LEASE_NAMESPACE,
                                       nodestatus.lease_object(self.name, self.clock()), _W)

    async def heartbeat(self) -> None:
        """Renew the Lease every `lease_s` and post the status every `status_s`, forever."""
        loop = asyncio.get_running_loop()
        next_status = loop.time() + self.status_s
        while True:
            await asyncio.sleep(self.lease_s)
            try:
                await self.renew_lease()
                if loop.time() >= next_status:
                    next_status = loop.time() + self.status_s
                    await self.post_status()
            except StatusError as err:
                log.warning("node heartbeat failed node=%s error=%s", self.name, err)


def _without_heartbeats(status: dict[str, Any]) -> dict[str, Any]:
    conditions = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                  for c in status.get("conditions") or [] if isinstance(c, dict)]
    return dict(status, conditions=conditions)
