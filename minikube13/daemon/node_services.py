"""The node's Service rules and DNS server, started once its pod network is up.

Both need the node's podCIDR (the DNS server listens on the bridge gateway, the pods'
nameserver), so they wait for the node agent's network to be ready. They run on servers
and agents alike, reading whichever registry the node agent reads (an agent's local copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube13.daemon.config import Config
    from minikube13.daemon.membership import Membership
    from minikube13.dns.service import DnsService
    from minikube13.net.services.proxy import ServiceProxy
    from minikube13.node.agent import NodeAgent
    from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)


class NodeServices:
    def __init__(self, registry: ObjectRegistry, config: Config, agent: NodeAgent,
                 node_address: str, membership: Membership | None = None):
        self.registry = registry
        self.config = config
        self.agent = agent
        self.node_address = node_address
        self.membership = membership
        self.proxy: ServiceProxy | None = None
        self.dns: DnsService | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="node-services")

    async def _run(self) -> None:
        from minikube13.dns.service import start_dns
        from minikube13.net.services.proxy import start_service_proxy
        network = self.agent.network
        if network is None:
            return
        await network.ready.wait()
        cfg = self.config
        if self.membership is not None:  # peers learn this node's pod range
            await self.membership.set_tag("podcidr", network.network.pod_cidr)
        self.proxy = start_service_proxy(self.registry, cfg, cfg.node_name, [self.node_address])
        listen = (network.network.gateway, cfg.dns_port)
        try:
            self.dns = await start_dns(self.registry, listen, cfg.cluster_domain,
                                       cfg.resolv_conf)
        except OSError as e:  # e.g. another DNS server holds the port: pods fall back
            log.error("cluster DNS not started address=%s port=%d error=%s", listen[0],
                      listen[1], e)

    async def close(self) -> None:
        """Stop watching; the rules stay (pods outlive the daemon), the DNS port closes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.dns is not None:
            await self.dns.close()
            self.dns = None
        if self.proxy is not None:
            await self.proxy.close()
            self.proxy = None
