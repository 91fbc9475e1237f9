"""Pod-network test helpers: nodes as namespaces on a test-made segment (cluster_support's
Fabric), NodeNetwork driven inside a node's namespace (net_driver.py), bare pod namespaces,
and TCP/UDP listeners and clients run inside any namespace the test made."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_support import Fabric, Host, ip  # noqa: E402

DRIVER = str(Path(__file__).resolve().parent / "net_driver.py")
CLUSTER_CIDR = "10.42.0.0/16"
LISTENER = textwrap.dedent("""
    import socket, sys
    proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(16)
    print("ready", flush=True)
    while True:
        if proto == "tcp":
            c, peer = s.accept()
            data = c.recv(65536)
            c.sendall(b"echo:" + data)
            c.close()
        else:
            data, peer = s.recvfrom(65536)
            s.sendto(b"echo:" + data, peer)
        print(peer[0], flush=True)
""")
CLIENT = textwrap.dedent("""
    import socket, sys
    proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(float(sys.argv[4]))
    if proto == "tcp":
        s.connect((addr, port)); s.sendall(b"hi"); print(s.recv(100).decode())
    else:
        s.sendto(b"hi", (addr, port)); print(s.recvfrom(100)[0].decode())
""")


def enter(netns_path: str) -> list[str]:
    return ["nsenter", f"--net={netns_path}"]


class NetLab:
    """A Fabric plus bare pod namespaces; every namespace made is deleted on close."""

    def __init__(self) -> None:
        self.fabric = Fabric()
        self.tag = self.fabric.tag
        self.pod_namespaces: list[str] = []
        self.listeners: list[subprocess.Popen[str]] = []

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def node(self, name: str, address: str) -> Host:
        return self.fabric.add_host(f"net-{name}", address)

    def pod_netns(self, label: str) -> str:
        """A fresh namespace standing in for a pod's (no processes)."""
        name = f"m13t-net-{label}-{self.tag}-{secrets.token_hex(2)}"
        ip("netns", "add", name)
        self.pod_namespaces.append(name)
        return f"/run/netns/{name}"

    def drive(self, host: Host, data_dir: Path, *ops: list[Any],
              cluster_cidr: str = CLUSTER_CIDR) -> list[Any]:
        """Run NodeNetwork ops inside the node's namespace (a fresh process each time,
        like a restarted daemon)."""
        cmd = [*host.enter(), sys.executable, DRIVER, str(data_dir), cluster_cidr,
               json.dumps(list(ops))]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise AssertionError(f"driver failed: {res.stderr[-3000:]}")
        return list(json.loads(res.stdout.strip().splitlines()[-1]))

    def listen(self, netns_path: str, proto: str, addr: str, port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen([*enter(netns_path), sys.executable, "-c", LISTENER, proto,
                                 addr, str(port)], stdout=subprocess.PIPE, text=True,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.listeners.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == "ready", f"listener did not start: {line}"
        return proc

    def call(self, netns_path: str, proto: str, addr: str, port: int,
             timeout: float = 3.0) -> str:
        """The reply a client in `netns_path` gets ("" when none)."""
        res = subprocess.run([*enter(netns_path), sys.executable, "-c", CLIENT, proto, addr,
                              str(port), str(timeout)], capture_output=True, text=True,
                             timeout=timeout + 30)
        return res.stdout.strip() if res.returncode == 0 else ""

    def close(self) -> None:
        for proc in self.listeners:
            proc.kill()
            proc.wait()
        for name in self.pod_namespaces:
            ip("netns", "del", name, check=False)
        self.fabric.close()


def peer_of(listener: subprocess.Popen[str]) -> str:
    """The source address the listener saw for its latest client."""
    assert listener.stdout is not None
    return listener.stdout.readline().strip()


def node_object(name: str, pod_cidr: str, address: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"podCIDR": pod_cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": address}]}}


def links(host: Host) -> str:
    return host.run("ip", "-o", "link").stdout


def routes(host: Host) -> str:
    return host.run("ip", "route").stdout


def tables(host: Host) -> str:
    return host.run("nft", "list", "tables").stdout
