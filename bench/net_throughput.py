"""Pod network benchmark: pod-to-pod TCP throughput against the same transfer between two
plain namespaces on one bridge, and the per-pod setup time.

Usage: .venv/bin/python bench/net_throughput.py [--mib 1024] [--rounds 5] [--pods 20]

Method (printed with the numbers). Every namespace is made here (`m13t-net-bench-*`) and
deleted at the end; nothing touches the machine's own network namespace.
* "plain": namespaces q1, q2, each with a veth into a bridge in a third namespace; kernel
  defaults, no nftables.
* "pod, same node": a node namespace running NodeNetwork exactly as the daemon does
  (bridge m13br0, masquerade + hostPort tables, br_netfilter on where loaded), two pod
  namespaces linked by NodeNetwork.setup_pod.
* "pod, other node": a second node namespace joined to the first by a veth (one segment:
  host-gw routes from update_peers); pod 1 sends to a pod there.
A transfer is `--mib` MiB over one TCP connection: the sender writes 4 MiB buffers
(sendall), the receiver reads into a 4 MiB buffer and times first byte to EOF; both are
Python processes in their namespaces. The three kinds alternate for `--rounds` rounds; each
kind's median is shown, and its ratio to "plain". Setup time: NodeNetwork.setup_pod for
`--pods` fresh namespaces (veth made in the pod's netns, address, route), median and p90.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PORT = 5201
RECEIVER = textwrap.dedent("""
    import socket, sys, time
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1)
    print("ready", flush=True)
    c, _ = s.accept(); buf = bytearray(4 << 20); view = memoryview(buf)
    n = c.recv_into(view); start = time.perf_counter(); total = n
    while n:
        n = c.recv_into(view); total += n
    print(total, time.perf_counter() - start, flush=True)
""")
SENDER = textwrap.dedent("""
    import socket, sys
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    chunk = b"x" * (4 << 20); left = int(sys.argv[3])
    while left > 0:
        s.sendall(chunk[:left]); left -= len(chunk)
    s.close()
""")
NODE_SETUP = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from minikube13.net.node_network import NodeNetwork
    data, name, cidr, addr, pods, peers = sys.argv[1:7]
    net = NodeNetwork(Path(data), "10.42.0.0/16")
    net.start(name, cidr, addr)
    out = {"ips": [], "setup_s": []}
    for i, path in enumerate(json.loads(pods)):
        t = time.perf_counter()
        ip, _ = net.setup_pod(f"{i:04d}{name}-bench", path, {})
        out["setup_s"].append(time.perf_counter() - t)
        out["ips"].append(ip)
    net.update_peers(json.loads(peers))
    print(json.dumps(out))
""")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Namespaces:
    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.names: list[str] = []

    def make(self, label: str) -> str:
        name = f"m13t-net-bench-{self.tag}-{label}"
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
        self.names.append(name)
        return name

    def close(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def enter(ns: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{ns}"]


def plain_pair(nss: Namespaces) -> tuple[str, str, str]:
    """q1 -> q2 over a bridge in its own namespace; (sender ns, receiver ns, receiver ip)."""
    sw, q1, q2 = nss.make("sw"), nss.make("q1"), nss.make("q2")
    ip("-n", sw, "link", "add", "br0", "type", "bridge")
    ip("-n", sw, "link", "set", "br0", "up")
    for i, q in enumerate((q1, q2), start=1):
        ip("-n", q, "link", "add", "eth0", "type", "veth", "peer", "name", f"v{i}",
           "netns", sw)
        ip("-n", sw, "link", "set", f"v{i}", "master", "br0", "up")
        ip("-n", q, "addr", "add", f"10.99.0.{i}/24", "dev", "eth0")
        ip("-n", q, "link", "set", "eth0", "up")
    return q1, q2, "10.99.0.2"


def node(nss: Namespaces, data: Path, ns: str, name: str, cidr: str, addr: str,
         pods: list[str], peers: list[dict[str, object]]) -> dict[str, list]:
    res = subprocess.run([*enter(ns), sys.executable, "-c", NODE_SETUP, str(data / name), name,
                          cidr, addr, json.dumps([f"/run/netns/{p}" for p in pods]),
                          json.dumps(peers)], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if res.returncode != 0:
        raise SystemExit(f"node setup failed: {res.stderr[-2000:]}")
    return dict(json.loads(res.stdout))


def node_object(name: str, cidr: str, addr: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": addr}]}}


def transfer(sender: str, receiver: str, address: str, nbytes: int) -> float:
    """Bytes per second of one transfer."""
    recv = subprocess.Popen([*enter(receiver), sys.executable, "-c", RECEIVER, str(PORT)],
                            stdout=subprocess.PIPE, text=True)
    assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
    subprocess.run([*enter(sender), sys.executable, "-c", SENDER, address, str(PORT),
                    str(nbytes)], check=True)
    total, seconds = recv.stdout.readline().split()
    recv.wait()
    return int(total) / float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pods", type=int, default=20)
    args = parser.parse_args()
    nss = Namespaces()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            q1, q2, q_ip = plain_pair(nss)
            n1, n2 = nss.make("n1"), nss.make("n2")
            ip("-n", n1, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
               "netns", n2)
            for ns, addr in ((n1, "10.213.9.1"), (n2, "10.213.9.2")):
                ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
                ip("-n", ns, "link", "set", "eth0", "up")
            pods = [nss.make(f"p{i}") for i in range(max(args.pods, 2))]
            far = nss.make("far")
            a = node(nss, data, n1, "n1", "10.42.0.0/24", "10.213.9.1", pods,
                     [node_object("n2", "10.42.1.0/24", "10.213.9.2")])
            b = node(nss, data, n2, "n2", "10.42.1.0/24", "10.213.9.2", [far],
                     [node_object("n1", "10.42.0.0/24", "10.213.9.1")])
            kinds = {"plain": (q1, q2, q_ip), "pod, same node": (pods[0], pods[1], a["ips"][1]),
                     "pod, other node": (pods[0], far, b["ips"][0])}
            rates: dict[str, list[float]] = {k: [] for k in kinds}
            nbytes = args.mib << 20
            for _ in range(args.rounds):
                for kind, (src, dst, addr) in kinds.items():
                    rates[kind].append(transfer(src, dst, addr, nbytes))
            print(__doc__.split("Method", 1)[1].split("\n", 1)[1].rstrip())
            print()
            plain = statistics.median(rates["plain"])
            for kind, samples in rates.items():
                mid = statistics.median(samples)
                print(f"{kind:<18} {mid * 8 / 1e9:7.2f} Gbit/s median of {len(samples)} "
                      f"(min {min(samples) * 8 / 1e9:.2f}, max {max(samples) * 8 / 1e9:.2f})"
                      f"   ratio to plain {mid / plain:.3f}")
            setup = sorted(a["setup_s"])
            print(f"pod link setup     median {statistics.median(setup) * 1e3:.1f} ms, p90 "
                  f"{setup[int(0.9 * (len(setup) - 1))] * 1e3:.1f} ms over {len(setup)} pods")
    finally:
        nss.close()


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"(total {time.perf_counter() - start:.0f} s)")
