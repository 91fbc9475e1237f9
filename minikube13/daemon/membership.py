"""This node in the gossip pool: its tags, key and joins, and what the pool tells the rest
of the daemon — servers get the gossip liveness view for the node lifecycle controller,
agents learn where the live servers are (failover beyond the ones their join named)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minikube13.cluster.liveness import GossipLivenessView
    from minikube13.daemon.config import Config
    from minikube13.gossip.shell import GossipNode

log = logging.getLogger(__name__)

REFRESH_S = 1.0  # a safety net beside the member events: suspicion timeouts pass quietly
# Two sides that declared each other dead never gossip again on their own (each probes only
# live members): like serf's reconnect, try one failed member (or a join peer) this often.
RECONNECT_S = 5.0


class Membership:
    def __init__(self, config: Config, *, role: str, address: str, key: bytes | None,
                 node_id: str, join: Sequence[tuple[str, int]],
                 liveness: GossipLivenessView | None = None,
                 on_servers: Callable[[list[str]], None] | None = None):
        self.config = config
        self.address = address
        self.key = key
        self.join = list(join)
        self.liveness = liveness
        self.on_servers = on_servers
        self.node_changes: asyncio.Queue[str] = asyncio.Queue()
        self.tags = {"role": role, "api": f"https://{_host(address)}:{config.secure_port}",
                     "addr": address, "id": node_id}
        for name, value in (("zone", config.zone), ("region", config.region)):
            if value:
                self.tags[name] = value
        self.node: GossipNode | None = None
        self._since: dict[str, tuple[str, datetime]] = {}
        self._task: asyncio.Task[None] | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._rng = random.Random()

    async def start(self) -> None:
        from minikube13.daemon.gossip import start_gossip
        self.node = await start_gossip(self.config, key=self.key, tags=dict(self.tags),
                                       join=self.join, address=self.address)
        self._refresh()
        self._task = asyncio.create_task(self._follow(), name="gossip-members")
        self._reconnect = asyncio.create_task(self._reconnect_forever(), name="gossip-reconnect")
        log.info("gossip started address=%s port=%d role=%s peers=%d encrypted=%s profile=%s",
                 self.address, self.config.gossip_port, self.tags["role"], len(self.join),
                 self.key is not None, self.config.gossip_profile)

    async def set_tag(self, name: str, value: str) -> None:
        if self.tags.get(name) == value or self.node is None:
            return
        self.tags[name] = value
        await self.node.update_tags(dict(self.tags))

    def members_json(self) -> list[dict[str, Any]]:
        return [] if self.node is None else [m.to_json() for m in self.node.members()]

    async def close(self) -> None:
        for task in (self._task, self._reconnect):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._reconnect = None
        if self.node is not None:
            with contextlib.suppress(Exception):
                await self.node.leave()
            await self.node.close()
            self.node = None

    async def _follow(self) -> None:
        assert self.node is not None
        events = self.node.subscribe()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REFRESH_S):
                    if await events.get() is None:  # the node closed
                        return
            self._refresh()

    async def _reconnect_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONNECT_S)
            target = self._reconnect_target()
            if target is not None and self.node is not None:
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(RECONNECT_S):
                        await self.node.join([target])

    def _reconnect_target(self) -> tuple[str, int] | None:
        assert self.node is not None
        members = self.node.members()
        failed = [(m.addr, m.port) for m in members if m.status == "failed"]
        alive = {(m.addr, m.port) for m in members if m.status in ("alive", "suspect")}
        peers = [p for p in self.join if p not in alive]
        candidates = failed + peers
        return self._rng.choice(candidates) if candidates else None

    def _refresh(self) -> None:
        assert self.node is not None
        members = self.node.members()
        now = datetime.now(UTC)
        for m in members:  # since when each member is in its state
            seen = self._since.get(m.name)
            if seen is None or seen[0] != m.status:
                self._since[m.name] = (m.status, now)
        if self.liveness is not None:
            from minikube13.cluster.liveness import MemberLiveness
            view = [MemberLiveness(m.name, m.status, self._since[m.name][1]) for m in members
                    if m.name != self.config.node_name]
            for name in self.liveness.update(view):
                self.node_changes.put_nowait(name)
        if self.on_servers is not None:
            from minikube13.cluster.policy import server_urls_from_members
            self.on_servers(server_urls_from_members((m.status, m.tags) for m in members))


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
