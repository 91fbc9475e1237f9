"""The node's cluster DNS as the daemon starts it: the server plus the registry feed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from minikube13.dns.feed import SnapshotFeed
from minikube13.dns.server import Address, DnsServer, UpstreamList
from minikube13.dns.upstream import DNS_PORT
from minikube13.registry.objects import ObjectRegistry

HOST_RESOLV_CONF = Path("/etc/resolv.conf")


@dataclass
class DnsService:
    server: DnsServer
    feed: SnapshotFeed

    @property
    def address(self) -> Address:
        return self.server.address

    async def close(self) -> None:
        await self.feed.close()
        await self.server.close()


async def start_dns(registry: ObjectRegistry, listen: Address, cluster_domain: str,
                    upstream_resolv_conf: Path | str | None = HOST_RESOLV_CONF, *,
                    upstream_port: int = DNS_PORT) -> DnsService:
    """Listen on `listen` (UDP and TCP; the address need not exist yet) and answer the
    cluster domain from the registry; the rest goes to the resolv.conf's nameservers
    (re-read when the file changes; None: no upstreams, so outside names get SERVFAIL).
    upstream_port is for tests whose stand-in resolver cannot have port 53."""
    path = Path(upstream_resolv_conf) if upstream_resolv_conf is not None else None
    server = DnsServer(listen, cluster_domain, UpstreamList(path, listen, upstream_port))
    await server.start()
    feed = SnapshotFeed(registry, cluster_domain, server.set_snapshot)
    feed.start()
    return DnsService(server, feed)
