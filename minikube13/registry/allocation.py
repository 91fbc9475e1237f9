"""ClusterIP and NodePort allocation for Services (pure decisions).

A Service of type ClusterIP, NodePort or LoadBalancer gets `spec.clusterIP` from the service
CIDR unless it asks for one (honoured when free and in range) or is headless ("None"); each
port of a NodePort or LoadBalancer Service gets `nodePort` from the node port range unless
it asks for one (honoured when free). What is taken is whatever the stored Services hold,
so a delete frees its addresses and a restart forgets nothing. The first host address of
the range (10.43.0.1 by default) is kept for the `kubernetes` Service: it is only ever
given to a Service that asks for it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minikube13.model import errors as fe
from minikube13.model.errors import FieldError

Object = dict[str, Any]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_SERVICE_CIDR = "10.43.0.0/16"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
HEADLESS = "None"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
RANDOM_TRIES = 32  # random picks before the sweep that finds any free value


class Rng(Protocol):
    """The part of random.Random the allocator uses (a seeded one in tests)."""

    def randrange(self, start: int, stop: int) -> int: ...


@dataclass(frozen=True)
class ServiceRanges:
    """Where ClusterIPs and NodePorts come from (the daemon's service_cidr and
    node_port_range)."""

    network: IPNetwork
    node_ports: range

    @classmethod
    def parse(cls, service_cidr: str = DEFAULT_SERVICE_CIDR,
              node_port_range: str = DEFAULT_NODE_PORT_RANGE) -> ServiceRanges:
        low, _, high = node_port_range.partition("-")
        network = ipaddress.ip_network(service_cidr.strip(), strict=True)
        if network.num_addresses < 4:
            raise ValueError(f"service CIDR {service_cidr} is too small")
        return cls(network, range(int(low), int(high or low) + 1))

    @property
    def kubernetes_ip(self) -> str:
        """The reserved first host address, for the `kubernetes` Service."""
        return str(self.network.network_address + 1)

    def holds(self, ip: str) -> bool:
        """Whether `ip` is a host address of the range (not network or broadcast)."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address not in self.network:
            return False
        offset = int(address) - int(self.network.network_address)
        return 0 < offset < self.network.num_addresses - 1


@dataclass
class Taken:
    """What the other stored Services hold."""

    ips: set[str] = field(default_factory=set)
    node_ports: set[int] = field(default_factory=set)


def held_by(svc: Object) -> tuple[str, set[int]]:
    """The ClusterIP ("" when none or headless) and the nodePorts a stored Service holds."""
    spec = svc.get("spec") or {}
    ip = spec.get("clusterIP") or ""
    ports = {int(p["nodePort"]) for p in spec.get("ports") or []
             if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]}
    return ("" if ip == HEADLESS else str(ip)), ports


def allocate(svc: Object, taken: Taken, ranges: ServiceRanges,
             rng: Rng) -> list[FieldError]:
    """Fill in the ClusterIP and nodePorts of `svc` (in place); the problems with what it
    asked for, as field errors (nothing is filled in then)."""
    spec = svc.get("spec")
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return []
    errors = _check_cluster_ip(spec, taken, ranges)
    errors += _check_node_ports(spec, taken, ranges)
    if errors:
        return errors
    if not spec.get("clusterIP"):
        ip = _free_ip(taken.ips, ranges, rng)
        if ip is None:
            return [fe.invalid("spec.clusterIP", "", f"range is full: no free IP in "
                               f"{ranges.network}")]
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    return _fill_node_ports(spec, taken, ranges, rng)


def _check_cluster_ip(spec: Object, taken: Taken, ranges: ServiceRanges) -> list[FieldError]:
    ip = spec.get("clusterIP")
    if not ip or ip == HEADLESS:
        return []
    if not ranges.holds(str(ip)):
        try:
            ipaddress.ip_address(str(ip))
        except ValueError:
            return [fe.invalid("spec.clusterIP", ip, "must be a valid IP address")]
        return [fe.invalid("spec.clusterIP", ip, "provided IP is not in the valid range. "
                           f"The range of valid IPs is {ranges.network}")]
    if str(ip) in taken.ips:
        return [fe.invalid("spec.clusterIP", ip, "provided IP is already allocated")]
    return []


def _check_node_ports(spec: Object, taken: Taken, ranges: ServiceRanges) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[tuple[int, str]] = set()
    first, last = ranges.node_ports.start, ranges.node_ports.stop - 1
    for i, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort") if isinstance(port, dict) else None
        if not isinstance(wanted, int) or not wanted or spec.get("type") not in NODE_PORT_TYPES:
            continue
        path = f"spec.ports[{i}].nodePort"
        key = (wanted, str(port.get("protocol") or "TCP"))
        if wanted not in ranges.node_ports:
            errors.append(fe.invalid(path, wanted, "provided port is not in the valid range. "
                                     f"The range of valid ports is {first}-{last}"))
        elif wanted in taken.node_ports:
            errors.append(fe.invalid(path, wanted, "provided port is already allocated"))
        elif key in seen:
            errors.append(fe.duplicate(path, wanted))
        seen.add(key)
    return errors


def _fill_node_ports(spec: Object, taken: Taken, ranges: ServiceRanges,
                     rng: Rng) -> list[FieldError]:
    if spec.get("type") not in NODE_PORT_TYPES:
        return []
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    mine = {p["nodePort"] for p in ports if isinstance(p.get("nodePort"), int) and p["nodePort"]}
    for i, port in enumerate(ports):
        if port.get("nodePort"):
            continue
        chosen = _free_port(taken.node_ports | mine, ranges.node_ports, rng)
        if chosen is None:
            return [fe.invalid(f"spec.ports[{i}].nodePort", 0, "range is full: no free "
                               "node port")]
        port["nodePort"] = chosen
        mine.add(chosen)
    return []


def _free_ip(taken: set[str], ranges: ServiceRanges, rng: Rng) -> str | None:
    """A random free host address, never the reserved first one."""
    base = int(ranges.network.network_address)
    size = ranges.network.num_addresses
    offset = _free_offset(2, size - 1, lambda o: str(ipaddress.ip_address(base + o)) in taken,
                          rng)
    return None if offset is None else str(ipaddress.ip_address(base + offset))


def _free_port(taken: set[int], ports: range, rng: Rng) -> int | None:
    return _free_offset(ports.start, ports.stop, lambda p: p in taken, rng)


def _free_offset(low: int, high: int, is_taken: Callable[[int], bool], rng: Rng) -> int | None:
    """A value in [low, high) that is not taken: random first, then a sweep from a random
    start so a nearly full range still finds its last free value."""
    if high <= low:
        return None
    for _ in range(RANDOM_TRIES):
        value = rng.randrange(low, high)
        if not is_taken(value):
            return value
    start = rng.randrange(low, high)
    for step in range(high - low):
        value = low + (start - low + step) % (high - low)
        if not is_taken(value):
            return value
    return None


def kubernetes_service(ranges: ServiceRanges, api_addresses: list[str],
                       api_port: int = 6443) -> tuple[Object, Object]:
    """The `default/kubernetes` Service (the reserved first address, port 443 "https") and
    its hand-kept Endpoints (the API servers), as the apiserver makes them at start."""
    labels = {"component": "apiserver", "provider": "kubernetes"}
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
               "spec": {"type": "ClusterIP", "clusterIP": ranges.kubernetes_ip,
                        "sessionAffinity": "None", "ports": [
                            {"name": "https", "port": 443, "protocol": "TCP",
                             "targetPort": api_port}]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "kubernetes", "namespace": "default", "labels": labels},
                 "subsets": [{"addresses": [{"ip": ip} for ip in sorted(api_addresses)],
                              "ports": [{"name": "https", "port": api_port,
                                         "protocol": "TCP"}]}]}
    return service, endpoints
