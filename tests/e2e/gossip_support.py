"""Real `serf agent`s beside minikube13 on loopback addresses (all of 127/8 is `lo`'s, so
nothing is added to the machine's network): `LoopbackDaemon` is a real minikube13 daemon
serving on one 127.x address, `SerfAgent` a real serf agent on another. `Pool` also holds
in-process gossip nodes for the protocol-level tests. Everything a test starts is killed by
the fixtures' finalizers, and each child dies with pytest (setpriv --pdeathsig).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from minikube13.gossip.core import GossipConfig
from minikube13.gossip.shell import GossipNode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.conftest import DIE_WITH_PYTEST, REGISTRY_ALLOW, DaemonProcess  # noqa: E402

SERF = shutil.which("serf") or "/usr/bin/serf"
DAEMON_NET = "127.0.77"    # the real daemons' test: an unusual /24 no other test uses
PROTOCOL_NET = "127.0.78"  # the in-process gossip node tests
RPC_TIMEOUT_S = 10.0

# Short timings (memberlist "local" profile and faster) so failures show within seconds.
FAST = GossipConfig(probe_interval=0.5, probe_timeout=0.2, gossip_interval=0.1,
                    suspicion_mult=3, push_pull_interval=5.0, gossip_to_the_dead_time=30.0)


def free_port_on(address: str) -> int:
    """A port free for both TCP and UDP on `address` (gossip needs both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free TCP+UDP port on {address}")


@dataclass
class SerfAgent:
    name: str
    ip: str
    key_b64: str  # what `-encrypt` takes: base64 of a 32-byte key
    log: Path
    port: int = 0
    rpc_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.port = self.port or free_port_on(self.ip)
        self.rpc_port = self.rpc_port or free_port_on(self.ip)

    @property
    def gossip_addr(self) -> tuple[str, int]:
        return (self.ip, self.port)

    @property
    def rpc_addr(self) -> str:
        return f"{self.ip}:{self.rpc_port}"

    def start(self, tags: dict[str, str], join: str = "") -> None:
        cmd = [SERF, "agent", "-node", self.name, "-bind", f"{self.ip}:{self.port}",
               "-rpc-addr", self.rpc_addr, "-profile", "local",
               "-encrypt", self.key_b64, "-log-level", "debug"]
        for k, v in tags.items():
            cmd += ["-tag", f"{k}={v}"]
        if join:  # retried every second until it works (it never does with a wrong key)
            cmd += ["-retry-join", join, "-retry-interval", "1s"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([*DIE_WITH_PYTEST, *cmd], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)

    def _rpc_cmd(self, args: Sequence[str]) -> list[str]:
        return [SERF, *args, "-rpc-addr", self.rpc_addr]

    async def rpc(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *self._rpc_cmd(args), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    def rpc_now(self, *args: str) -> tuple[int, str]:
        """The same, blocking (for the tests that run no event loop)."""
        res = subprocess.run(self._rpc_cmd(args), capture_output=True, text=True,
                             timeout=RPC_TIMEOUT_S)
        return res.returncode, res.stdout + res.stderr

    async def members(self) -> dict[str, dict[str, Any]]:
        """`serf members -format json`, by name ({} while the agent's RPC is not up)."""
        return _serf_members(*await self.rpc("members", "-format", "json"))

    def members_now(self) -> dict[str, dict[str, Any]]:
        return _serf_members(*self.rpc_now("members", "-format", "json"))

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log_tail(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log)"
        return f"--- serf {self.name}\n{text[-3000:]}"


def _serf_members(rc: int, out: str) -> dict[str, dict[str, Any]]:
    if rc != 0:
        return {}
    return {m["name"]: m for m in json.loads(out)["members"]}


class LoopbackDaemon(DaemonProcess):
    """A real `minikube13 daemon` on its own loopback address (API and gossip both there,
    advertised as such), with free ports of that address; pod network off."""

    def __init__(self, root: Path, name: str, address: str, extra_args: Sequence[str] = ()):
        super().__init__(root, extra_args)
        self.name = name
        self.address = address
        self.port = free_port_on(address)
        self.gossip_port = free_port_on(address)

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "minikube13", "daemon", "--node-name", self.name,
            "--data-dir", str(self.data_dir), "--config-dir", str(self.config_dir),
            "--socket", str(self.socket), "--bind-address", self.address,
            "--advertise-address", self.address, "--secure-port", str(self.port),
            "--gossip-port", str(self.gossip_port), "--registry-allow", REGISTRY_ALLOW,
            "--no-pod-network", *self.extra_args,
        ]

    def is_ready(self) -> bool:
        return self.socket_ready()

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def server_address(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def gossip_address(self) -> str:
        return f"{self.address}:{self.gossip_port}"

    def gossip_key_b64(self) -> str:
        """The cluster's gossip key as `serf agent -encrypt` takes it."""
        return (self.config_dir / "gossip.key").read_text().strip()

    def log_tail(self) -> str:
        return f"--- daemon {self.name}\n{self.log()[-3000:]}"


@dataclass
class Pool:
    """Everything a test starts; `close()` stops all of it."""
    base: str
    log_dir: Path
    serfs: list[SerfAgent] = field(default_factory=list)
    nodes: list[GossipNode] = field(default_factory=list)
    daemons: list[LoopbackDaemon] = field(default_factory=list)

    def ip(self, host: int) -> str:
        return f"{self.base}.{host}"

    def serf(self, name: str, host: int, key_b64: str, tags: dict[str, str] | None = None,
             join: str = "") -> SerfAgent:
        """A serf agent on address `host`, started unless `tags` is None."""
        agent = SerfAgent(name, self.ip(host), key_b64, self.log_dir / f"{name}.log")
        self.serfs.append(agent)
        if tags is not None:
            agent.start(tags, join)
        return agent

    async def node(self, name: str, host: int, key: bytes, tags: dict[str, str]) -> GossipNode:
        node = GossipNode(name, (self.ip(host), free_port_on(self.ip(host))), tags=tags,
                          key=key, config=FAST, seed=host)
        self.nodes.append(node)
        await node.start()
        return node

    def daemon(self, name: str, host: int, extra_args: Sequence[str] = ()) -> LoopbackDaemon:
        """An unstarted daemon on this pool's address `host`."""
        d = LoopbackDaemon(self.log_dir / name, name, self.ip(host), extra_args)
        self.daemons.append(d)
        return d

    def stop_processes(self) -> None:
        for agent in self.serfs:
            agent.kill()
        for d in reversed(self.daemons):  # agents before their server
            d.stop()
            d.kill9()
            d.reset()

    async def close(self) -> None:
        await asyncio.to_thread(self.stop_processes)
        await asyncio.gather(*(n.close() for n in self.nodes), return_exceptions=True)

    def logs(self) -> str:
        return "\n".join([*(a.log_tail() for a in self.serfs),
                          *(d.log_tail() for d in self.daemons)])


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Pool]:
    """Serf agents and in-process gossip nodes (an event loop runs them)."""
    p = Pool(PROTOCOL_NET, tmp_path)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def daemon_pool(tmp_path: Path) -> Iterator[Pool]:
    """Serf agents and real daemons (no event loop: the tests block on subprocesses)."""
    p = Pool(DAEMON_NET, tmp_path)
    try:
        yield p
    finally:
        p.stop_processes()


def drain(queue: asyncio.Queue[Any]) -> list[Any]:
    """Everything in `queue` now, without waiting."""
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


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


def wait_for(check: Callable[[], bool], timeout: float, what: str,
             explain: Callable[[], str] | None = None) -> None:
    """The blocking `eventually`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    detail = explain() if explain is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{detail}")
