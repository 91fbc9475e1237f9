"""Real `serf agent`s and in-process minikube13 gossip nodes on loopback addresses."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from minikube13.gossip.core import GossipConfig
from minikube13.gossip.shell import GossipNode

SERF = shutil.which("serf") or "/usr/bin/serf"
GOSSIP_PORT = 7946
RPC_PORT = 7373

# Short timings (memberlist "local" profile and faster) so failures show within seconds.
FAST = GossipConfig(probe_interval=0.5, probe_timeout=0.2, gossip_interval=0.1,
                    suspicion_mult=3, push_pull_interval=5.0, gossip_to_the_dead_time=30.0)


@dataclass
class SerfAgent:
    name: str
    ip: str
    key: bytes
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def gossip_addr(self) -> tuple[str, int]:
        return (self.ip, GOSSIP_PORT)

    def start(self, tags: dict[str, str], join: str = "") -> None:
        cmd = [SERF, "agent", "-node", self.name, "-bind", f"{self.ip}:{GOSSIP_PORT}",
               "-rpc-addr", f"{self.ip}:{RPC_PORT}", "-profile", "local",
               "-encrypt", base64.b64encode(self.key).decode(), "-log-level", "debug"]
        for k, v in tags.items():
            cmd += ["-tag", f"{k}={v}"]
        if join:
            cmd += ["-retry-join", join, "-retry-interval", "1s"]
        self.proc = subprocess.Popen(cmd, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    async def rpc(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            SERF, *args, "-rpc-addr", f"{self.ip}:{RPC_PORT}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    async def members(self) -> dict[str, dict[str, Any]]:
        """`serf members -format json`, by name ({} while the agent's RPC is not up)."""
        rc, out = await self.rpc("members", "-format", "json")
        if rc != 0:
            return {}
        return {m["name"]: m for m in json.loads(out)["members"]}

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass
class Pool:
    """Everything a test starts; `close()` stops all of it."""
    base: str
    log_dir: Path
    serfs: list[SerfAgent] = field(default_factory=list)
    nodes: list[GossipNode] = field(default_factory=list)

    def ip(self, host: int) -> str:
        return f"{self.base}.{host}"

    def serf(self, name: str, host: int, key: bytes, tags: dict[str, str],
             join: str = "") -> SerfAgent:
        agent = SerfAgent(name, self.ip(host), key, self.log_dir / f"{name}.log")
        self.serfs.append(agent)
        agent.start(tags, join)
        return agent

    async def node(self, name: str, host: int, key: bytes, tags: dict[str, str]) -> GossipNode:
        node = GossipNode(name, (self.ip(host), GOSSIP_PORT), tags=tags, key=key, config=FAST,
                          seed=host)
        self.nodes.append(node)
        await node.start()
        return node

    async def close(self) -> None:
        for agent in self.serfs:
            agent.kill()
        await asyncio.gather(*(n.close() for n in self.nodes), return_exceptions=True)

    def serf_logs(self) -> str:
        return "\n".join(f"--- {a.name}\n{a.log.read_text(errors='replace')[-3000:]}"
                         for a in self.serfs if a.log.exists())


def _loopback_base() -> str:
    # A /24 inside 127/8 of our own, so parallel tests and other helpers do not collide.
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"


@pytest.fixture
def loopback_base() -> Iterator[str]:
    yield _loopback_base()


@pytest.fixture
async def pool(loopback_base: str, tmp_path: Path) -> AsyncIterator[Pool]:
    p = Pool(loopback_base, tmp_path)
    try:
        yield p
    finally:
        await p.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str,
                     explain: Callable[[], Awaitable[str]] | None = None) -> None:
    """Poll `check` every 0.2 s until it is true; fail naming `what` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    detail = await explain() if explain is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{detail}")
