"""Starting this node's gossip member from the daemon's configuration."""

from __future__ import annotations

import logging

from minikube13.daemon.config import Config
from minikube13.gossip.config import GossipConfig, profile
from minikube13.gossip.shell import GossipNode

log = logging.getLogger(__name__)

JOIN_RETRY_INTERVAL = 5.0


async def start_gossip(config: Config, *, key: bytes | None, tags: dict[str, str],
                       join: list[tuple[str, int]], gossip_config: GossipConfig | None = None,
                       retry_interval: float = JOIN_RETRY_INTERVAL,
                       address: str = "") -> GossipNode:
    """Bind gossip on (advertise or bind address, gossip_port) and join the given peers.

    An unreachable join list does not fail the start: the node retries in the background
    (the servers may come up later), like `serf agent -retry-join`. `address`: the node's
    own address when the daemon binds every address (0.0.0.0 cannot be advertised)."""
    host = config.advertise_address or address or config.bind_address
    node = GossipNode(config.node_name, (host, config.gossip_port), tags=tags, key=key,
                      config=gossip_config or profile(config.gossip_profile),
                      advertise=(host, config.gossip_port))
    await node.start()
    if join and await node.join(join) == 0:
        log.warning("gossip join found no peer, retrying peers=%s", join)
        node.retry_join(join, retry_interval)
    return node
