"""What the ruleset is made from (pure): the node, and each service port with the ready
backends its Endpoints list.

A service port is reached at its ClusterIP and externalIPs (and at every node address on its
nodePort); its backends are the `addresses` (never `notReadyAddresses`) of the Endpoints
subsets that carry a port of the same name and protocol. Headless and ExternalName Services
have no rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Object = dict[str, Any]

PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds, the apiserver's default for ClientIP
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class NodeInfo:
    """The node the ruleset is for."""

    name: str
    addresses: tuple[str, ...] = ()  # node addresses where NodePorts answer (IPv4)
    bridge: str = "m13br0"
    bridge_netfilter: bool = True  # bridged IPv4 goes through the inet hooks (br_netfilter)
    bridge_mac: str = ""  # the bridge's MAC: lets frames be routed when br_netfilter is off
    service_cidr: str = "10.43.0.0/16"
    cluster_cidr: str = "10.42.0.0/16"


@dataclass(frozen=True, order=True)
class Backend:
    ip: str
    port: int


@dataclass(frozen=True, order=True)
class ServicePort:
    """One port of one Service, with where it is reached and where it leads."""

    namespace: str
    name: str
    protocol: str  # tcp | udp | sctp
    port: int
    port_name: str = ""
    cluster_ip: str = ""
    external_ips: tuple[str, ...] = ()
    node_port: int = 0
    backends: tuple[Backend, ...] = ()  # ready ones, sorted
    affinity_timeout: int = 0  # seconds of ClientIP affinity; 0 = none

    @property
    def label(self) -> str:
        """`ns.name.proto.port`: unique, and a valid nft identifier part (names have no
        dots)."""
        return f"{self.namespace}.{self.name}.{self.protocol}.{self.port}"

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where the port is reached: the ClusterIP and the externalIPs."""
        return tuple(a for a in (self.cluster_ip, *self.external_ips) if a)


def _meta(obj: Object) -> Object:
    return obj.get("metadata") or {}


@lru_cache(maxsize=65536)
def ipv4_key(text: str) -> int:
    """The IPv4 address as an int (for sorting), or -1 when `text` is not one. Faster
    than ipaddress, which matters at 10,000 endpoints."""
    parts = text.split(".")
    if len(parts) != 4:
        return -1
    value = 0
    for part in parts:
        if not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            return -1
        octet = int(part)
        if octet > 255:
            return -1
        value = value * 256 + octet
    return value


def _ipv4(text: Any) -> bool:
    return isinstance(text, str) and ipv4_key(text) >= 0


def service_ports(services: Iterable[Object], endpoints: Iterable[Object]) -> list[ServicePort]:
    """Every port of every Service that gets rules, sorted, with its ready backends."""
    by_name = {(_meta(e).get("namespace", ""), _meta(e).get("name", "")): e for e in endpoints}
    out: list[ServicePort] = []
    for svc in services:
        spec = svc.get("spec") or {}
        cluster_ip = spec.get("clusterIP") or ""
        if spec.get("type") == "ExternalName" or not _ipv4(cluster_ip):
            continue  # headless ("None"), not allocated yet, or not IPv4
        key = (_meta(svc).get("namespace", ""), _meta(svc).get("name", ""))
        subsets = (by_name.get(key) or {}).get("subsets") or []
        for port in spec.get("ports") or []:
            made = _service_port(key, spec, port, subsets)
            if made is not None:
                out.append(made)
    return sorted(out)


def _service_port(key: tuple[str, str], spec: Object, port: Object,
                  subsets: list[Object]) -> ServicePort | None:
    protocol = PROTOCOLS.get(str(port.get("protocol") or "TCP"))
    number = port.get("port")
    if protocol is None or not isinstance(number, int):
        return None
    name = str(port.get("name") or "")
    node_port = port.get("nodePort") if spec.get("type") in NODE_PORT_TYPES else 0
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    return ServicePort(
        namespace=key[0], name=key[1], protocol=protocol, port=number, port_name=name,
        cluster_ip=str(spec["clusterIP"]),
        external_ips=tuple(sorted(ip for ip in spec.get("externalIPs") or [] if _ipv4(ip))),
        node_port=int(node_port or 0), backends=ready_backends(subsets, name, protocol),
        affinity_timeout=affinity)


def ready_backends(subsets: list[Object], port_name: str, protocol: str) -> tuple[Backend, ...]:
    """The ready addresses of the subsets that carry the port named `port_name`."""
    found: set[Backend] = set()
    for subset in subsets:
        for port in subset.get("ports") or []:
            same_name = str(port.get("name") or "") == port_name
            same_proto = PROTOCOLS.get(str(port.get("protocol") or "TCP")) == protocol
            if not (same_name and same_proto and isinstance(port.get("port"), int)):
                continue
            for address in subset.get("addresses") or []:
                if _ipv4(address.get("ip")):
                    found.add(Backend(str(address["ip"]), int(port["port"])))
    return tuple(sorted(found, key=lambda b: (ipv4_key(b.ip), b.port)))
