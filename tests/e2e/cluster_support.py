"""Several nodes on one machine, each in a network namespace the test made (the network
rule): a `Fabric` is one L2 segment — a "switch" namespace holding a bridge — and each
`Host` is a namespace with one veth plugged into it, an address on the segment, and no
route anywhere else. `NetnsDaemon` runs a real minikube13 daemon inside a Host (its API,
gossip, pod bridge, DNS all live there); kubectl runs inside the Host too.

    with Fabric() as fabric:
        a = fabric.add_host("a", "10.213.0.10")
        server = NetnsDaemon(a, tmp_path / "a")
        server.start()
        server.kubectl("get", "nodes")
        fabric.cut(a)      # unplug a's cable; fabric.restore(a) plugs it back
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.conftest import (  # noqa: E402
    DIE_WITH_PYTEST,
    KUBECTL,
    REGISTRY_ALLOW,
    CommandFailed,
    DaemonProcess,
)

SEGMENT_PREFIX = 24
API_PORT = 6443      # every node has a namespace of its own: the default ports never clash
GOSSIP_PORT = 7946


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise CommandFailed(res.returncode, cmd, res.stdout, res.stderr)
    return res


@dataclass
class Host:
    """One network namespace on the segment: a node, or the "outside" world."""
    name: str
    ns: str
    address: str
    port: str  # the veth end in the switch namespace
    extra: list[str] = field(default_factory=list)

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.ns}"

    def enter(self) -> list[str]:
        """Prefix that runs a command in this namespace (network only; same pid)."""
        return ["nsenter", f"--net={self.netns_path}"]

    def run(self, *cmd: str, check: bool = True, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        full = [*self.enter(), *cmd]
        res = subprocess.run(full, capture_output=True, text=True, timeout=timeout, input=input)
        if check and res.returncode != 0:
            raise CommandFailed(res.returncode, full, res.stdout, res.stderr)
        return res

    def popen(self, *cmd: str) -> subprocess.Popen[str]:
        """A long-running process in this namespace (a listener); the caller kills it."""
        return subprocess.Popen([*DIE_WITH_PYTEST, *self.enter(), *cmd], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)


class Fabric:
    """A test-made L2 segment; every namespace it made is deleted on close."""

    def __init__(self, subnet: str = "10.213.0") -> None:
        self.tag = secrets.token_hex(3)
        self.subnet = subnet
        self.switch = f"m13t-sw-{self.tag}"
        self.hosts: dict[str, Host] = {}
        ip("netns", "add", self.switch)
        ip("link", "set", "lo", "up", ns=self.switch)
        ip("link", "add", "br0", "type", "bridge", ns=self.switch)
        ip("link", "set", "br0", "up", ns=self.switch)

    def __enter__(self) -> Fabric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str, address: str) -> Host:
        """A namespace `m13t-<name>-<tag>` with eth0 = `address`/24 on the segment."""
        host = Host(name, f"m13t-{name}-{self.tag}", address, f"p-{name}"[:15])
        ip("netns", "add", host.ns)
        ip("link", "set", "lo", "up", ns=host.ns)
        # made in the switch namespace, one end moved into the host's: nothing in ours
        ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0",
           "netns", host.ns, ns=self.switch)
        ip("link", "set", host.port, "master", "br0", "up", ns=self.switch)
        ip("addr", "add", f"{address}/{SEGMENT_PREFIX}", "dev", "eth0", ns=host.ns)
        ip("link", "set", "eth0", "up", ns=host.ns)
        self.hosts[name] = host
        return host

    def cut(self, host: Host) -> None:
        """Unplug the host's cable (its eth0 stays up, nothing reaches it)."""
        ip("link", "set", host.port, "down", ns=self.switch)

    def restore(self, host: Host) -> None:
        ip("link", "set", host.port, "up", ns=self.switch)

    def move(self, host: Host, new_address: str) -> None:
        """Give the host another address on the segment (a DHCP renumbering)."""
        ip("addr", "del", f"{host.address}/{SEGMENT_PREFIX}", "dev", "eth0", ns=host.ns)
        ip("addr", "add", f"{new_address}/{SEGMENT_PREFIX}", "dev", "eth0", ns=host.ns)
        host.address = new_address

    def close(self) -> None:
        for host in self.hosts.values():
            ip("netns", "del", host.ns, check=False)
        ip("netns", "del", self.switch, check=False)
        self.hosts.clear()


class NetnsDaemon(DaemonProcess):
    """A minikube13 daemon inside `host`'s namespace, serving on the host's address.

    Pod networking is on (the namespace is the test's own); pass `--no-pod-network` in
    `extra_args` to turn it off. `server_of` makes it an agent of that daemon (a join
    token is created on the server unless `token` is given).
    """

    def __init__(self, host: Host, root: Path, extra_args: Sequence[str] = (),
                 env: dict[str, str] | None = None):
        super().__init__(root, extra_args, env)
        self.host = host
        self.port = API_PORT
        self.gossip_port = GOSSIP_PORT

    def command(self) -> list[str]:
        return [
            *self.host.enter(), sys.executable, "-m", "minikube13", "daemon",
            "--data-dir", str(self.data_dir), "--config-dir", str(self.config_dir),
            "--socket", str(self.socket), "--bind-address", self.host.address,
            "--advertise-address", self.host.address, "--secure-port", str(self.port),
            "--gossip-port", str(self.gossip_port), "--registry-allow", REGISTRY_ALLOW,
            "--node-name", self.host.name, *self.extra_args,
        ]

    def is_ready(self) -> bool:
        return self.socket_ready()

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """The real kubectl, run inside the node's namespace against its own API."""
        cmd = [*self.host.enter(), KUBECTL, "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.kube_cache), *args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise CommandFailed(res.returncode, cmd, res.stdout, res.stderr)
        return res

    @property
    def url(self) -> str:
        return f"https://{self.host.address}:{self.port}"

    @property
    def server_address(self) -> str:
        return f"{self.host.address}:{self.port}"


def import_image(d: DaemonProcess, oci: Path) -> None:
    subprocess.run([sys.executable, "-m", "minikube13", "images", "import", "--data-dir",
                    str(d.data_dir), str(oci)], check=True, capture_output=True)


@contextlib.contextmanager
def running(*daemons: DaemonProcess, timeout: float = 60) -> Iterator[None]:
    """Start the daemons in order; on exit stop, kill and reset each (no pod left)."""
    try:
        for d in daemons:
            d.start(timeout)
        yield
    finally:
        for d in reversed(daemons):
            d.stop()
            d.kill9()
            d.reset()


def wait_until(check: Any, timeout: float = 30.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not reached in {timeout:.0f}s: {check}")


def node_ready(d: NetnsDaemon, name: str) -> bool:
    res = d.kubectl("get", "node", name, "-o", "json", check=False)
    if res.returncode != 0:
        return False
    conds = json.loads(res.stdout)["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
