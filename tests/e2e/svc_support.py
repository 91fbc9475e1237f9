"""A node made of network namespaces for the service and NetworkPolicy e2e tests (the
network rule: everything lives in namespaces named `m13t-svc-<token>-*`, removed after).

    with ServiceLab() as lab:           # node netns: bridge m13br0 10.42.0.1/24, uplink
        web1 = lab.add_pod("w1", "10.42.0.11")      # a netns with eth0 on the bridge
        lab.serve(web1, tcp=(8080,))    # replies "<name> <client address>\\n" and closes
        lab.nft(render_ruleset(...))    # applied inside the node netns
        seen = requests(client.ns, "10.43.0.10", 80, 300)   # Counter of backend names

The traffic helpers (`requests`, `by_backend`, `shares`) take only a netns name, so the same
checks run against real pods (`m13-<uid>` namespaces) of a real daemon.
"""

from __future__ import annotations

import collections
import json
import secrets
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minikube13.net.services.inputs import NodeInfo

BRIDGE = "m13br0"
GATEWAY = "10.42.0.1"
NODE_UPLINK = "10.99.0.1"
OUTSIDE = "10.99.0.2"
PYTHON = "/usr/bin/python3"

SERVER = r"""
import socket, sys, threading
name = sys.argv[1]
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(1024)
    while True:
        c, a = s.accept()
        try: c.sendall(f"{name} {a[0]}\n".encode())
        except OSError: pass
        finally: c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
    while True:
        data, a = s.recvfrom(512); s.sendto(f"{name} {a[0]}\n".encode(), a)
for p in filter(None, sys.argv[2].split(",")):
    threading.Thread(target=tcp, args=(int(p),), daemon=True).start()
for p in filter(None, sys.argv[3].split(",")):
    threading.Thread(target=udp, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

CLIENT = r"""
import collections, json, socket, sys
host, port, count, timeout, proto = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
seen = collections.Counter()
for _ in range(count):
    try:
        if proto == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
            s.sendto(b"hi", (host, port))
        else:
            s = socket.create_connection((host, port), timeout=timeout); s.settimeout(timeout)
        data = s.recv(512); s.close()
        seen[data.decode().strip() or "empty"] += 1
    except socket.timeout: seen["timeout"] += 1
    except ConnectionRefusedError: seen["refused"] += 1
    except OSError as e: seen["error:%s" % e.errno] += 1
print(json.dumps(seen))
"""


def run(*cmd: str, stdin: str = "", check: bool = True,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(list(cmd), input=stdin, capture_output=True, text=True,
                         timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed rc={res.returncode}: {res.stderr}")
    return res


def in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def requests(ns: str, host: str, port: int, count: int, *, timeout: float = 1.0,
             proto: str = "tcp") -> collections.Counter[str]:
    """`count` fresh connections (UDP: datagrams from fresh sockets) from netns `ns`:
    how many answers said "<backend> <client address as the backend saw it>", and how
    many were "timeout", "refused" or "error:<errno>"."""
    out = run(*in_ns(ns, PYTHON, "-c", CLIENT, host, str(port), str(count), str(timeout),
                     proto), timeout=count * timeout + 60).stdout
    return collections.Counter(json.loads(out))


def by_backend(seen: collections.Counter[str]) -> collections.Counter[str]:
    """Answers counted per backend name (the client address dropped)."""
    out: collections.Counter[str] = collections.Counter()
    for answer, n in seen.items():
        out[answer.split()[0]] += n
    return out


def shares(seen: collections.Counter[str]) -> dict[str, float]:
    total = sum(seen.values())
    return {name: n / total for name, n in by_backend(seen).items()}


@dataclass
class Pod:
    name: str
    ip: str
    ns: str
    port: str  # its veth on the bridge, in the node netns


@dataclass
class ServiceLab:
    """A node netns with the pod bridge, an uplink to an "outside" netns, and pods."""

    token: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    servers: list[subprocess.Popen[str]] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"m13t-svc-{self.token}"

    @property
    def outside(self) -> str:
        return f"m13t-svc-{self.token}-out"

    def __enter__(self) -> ServiceLab:
        try:
            self._make_node()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _netns(self, name: str) -> str:
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def _make_node(self) -> None:
        node = self._netns(self.node)
        run("ip", "-n", node, "link", "add", BRIDGE, "type", "bridge")
        run("ip", "-n", node, "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        run("ip", "-n", node, "link", "set", BRIDGE, "up")
        run(*in_ns(node, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
        out = self._netns(self.outside)
        run("ip", "-n", out, "link", "add", "eth0", "type", "veth", "peer", "name", "uplink",
            "netns", node)
        run("ip", "-n", out, "addr", "add", f"{OUTSIDE}/24", "dev", "eth0")
        run("ip", "-n", out, "link", "set", "eth0", "up")
        run("ip", "-n", node, "addr", "add", f"{NODE_UPLINK}/24", "dev", "uplink")
        run("ip", "-n", node, "link", "set", "uplink", "up")

    def add_pod(self, tag: str, ip: str, hairpin: bool = True) -> Pod:
        """A pod netns: eth0 made inside it, its peer on the bridge (hairpin on unless
        told, as kubelet's hairpin-veth does), default route via the gateway."""
        ns = self._netns(f"{self.node}-{tag}")
        port = f"vp{len(self.pods)}"
        run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
            "netns", self.node)
        run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", GATEWAY)
        run("ip", "-n", self.node, "link", "set", port, "master", BRIDGE, "up")
        if hairpin:
            run(*in_ns(self.node, "bridge", "link", "set", "dev", port, "hairpin", "on"))
        pod = Pod(tag, ip, ns, port)
        self.pods.append(pod)
        return pod

    def serve(self, pod: Pod, tcp: Iterable[int] = (8080,), udp: Iterable[int] = ()) -> None:
        proc = subprocess.Popen(
            in_ns(pod.ns, PYTHON, "-c", SERVER, pod.name, ",".join(map(str, tcp)),
                  ",".join(map(str, udp))), stdout=subprocess.PIPE, text=True)
        self.servers.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def nft(self, script: str) -> None:
        run(*in_ns(self.node, "nft", "-f", "-"), stdin=script)

    def nft_command(self) -> tuple[str, ...]:
        return tuple(in_ns(self.node, "nft"))

    def set_br_netfilter(self, on: bool) -> None:
        run(*in_ns(self.node, "sysctl", "-qw",
                   f"net.bridge.bridge-nf-call-iptables={1 if on else 0}"))

    def node_info(self) -> NodeInfo:
        """What the proxy would read in the node netns (br_netfilter, bridge MAC)."""
        flag = run(*in_ns(self.node, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
                   check=False).stdout.strip()
        mac = run(*in_ns(self.node, "cat", f"/sys/class/net/{BRIDGE}/address")).stdout.strip()
        return NodeInfo("n1", (NODE_UPLINK,), bridge_netfilter=flag == "1", bridge_mac=mac)

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(timeout=10)
        self.servers.clear()
        for name in reversed(self.namespaces):
            run("ip", "netns", "del", name, check=False)
        self.namespaces.clear()


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> float:
    """Poll until `predicate()` is true; the seconds it took (AssertionError on timeout)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - start
