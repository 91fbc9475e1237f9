"""hostPort mappings (pure): which ports of the node lead to which pod, and the nftables
table `ip minikube13-hostport` that does it.

Packets for a local address (any, or the port's hostIP) and a mapped port are DNATed to
the pod, from outside (prerouting) and from the node itself (output; not from loopback,
which would need route_localnet). A pod reaching its own node's hostPort ("hairpin") is
masqueraded, or the answer would skip the DNAT on the way back; the mark bit says which
connections those are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from minikube13.net.masq import replace_table

TABLE = "minikube13-hostport"
MARK = 0x2000
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
Object = dict[str, Any]


@dataclass(frozen=True, order=True)
class HostPort:
    protocol: str        # tcp | udp | sctp
    host_port: int
    host_ip: str         # "" = every local address
    pod_ip: str
    container_port: int


def host_ports_of(pod: Object, pod_ip: str) -> list[HostPort]:
    """The pod's containers' ports that name a hostPort."""
    out: list[HostPort] = []
    spec = pod.get("spec") or {}
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            host_port = port.get("hostPort")
            if not host_port or not port.get("containerPort"):
                continue
            protocol = PROTOCOLS.get(str(port.get("protocol") or "TCP").upper())
            host_ip = str(port.get("hostIP") or "")
            if protocol is None:
                continue
            out.append(HostPort(protocol, int(host_port),
                                "" if host_ip in ("0.0.0.0", "::") else host_ip,
                                pod_ip, int(port["containerPort"])))
    return out


def _rule(m: HostPort) -> str:
    match = f"ip daddr {m.host_ip} " if m.host_ip else ""
    return (f"\t\t{match}{m.protocol} dport {m.host_port} meta mark set meta mark or "
            f"{MARK:#x} dnat to {m.pod_ip}:{m.container_port}\n")


def render(mappings: Iterable[HostPort], pod_cidr: str) -> str:
    """The whole table; no mappings: no table. The first of clashing mappings wins."""
    seen: set[tuple[str, int, str]] = set()
    rules = []
    for m in sorted(set(mappings)):
        key = (m.protocol, m.host_port, m.host_ip)
        if key in seen:
            continue
        seen.add(key)
        rules.append(_rule(m))
    if not rules:
        return replace_table("ip", TABLE, "")
    body = ("\tchain prerouting {\n"
            "\t\ttype nat hook prerouting priority -110; policy accept;\n"
            "\t\tfib daddr type local jump hostports\n\t}\n"
            "\tchain output {\n"
            "\t\ttype nat hook output priority -110; policy accept;\n"
            "\t\tip daddr != 127.0.0.0/8 fib daddr type local jump hostports\n\t}\n"
            "\tchain hostports {\n" + "".join(rules) + "\t}\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority 90; policy accept;\n"
            f"\t\tmeta mark & {MARK:#x} == {MARK:#x} ip saddr {pod_cidr} masquerade\n\t}}\n")
    return replace_table("ip", TABLE, body)
