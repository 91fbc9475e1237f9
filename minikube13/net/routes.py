"""Routes to the other nodes' pod CIDRs (pure): host-gw when the peer's address is on a
subnet this node is directly connected to, else through the VXLAN overlay.

VXLAN needs no exchange of device details: every node's VTEP address and MAC follow from its
podCIDR (cidrs.vtep_address / vtep_mac), so a Node's podCIDR and InternalIP are enough.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from minikube13.net import NetworkError
from minikube13.net.cidrs import network, vtep_address, vtep_mac

Object = dict[str, Any]


@dataclass(frozen=True)
class Peer:
    """Another node, as the routes see it."""
    name: str
    pod_cidr: str
    address: str


@dataclass(frozen=True)
class DirectRoute:
    cidr: str
    via: str


@dataclass(frozen=True)
class OverlayRoute:
    cidr: str
    node_address: str   # the VXLAN packets' outer destination
    vtep: str           # the peer device's address: the route's onlink gateway
    mac: str            # the peer device's MAC (neighbour + FDB entry)


@dataclass(frozen=True)
class RoutePlan:
    direct: tuple[DirectRoute, ...] = ()
    overlay: tuple[OverlayRoute, ...] = ()

    @property
    def cidrs(self) -> set[str]:
        return {r.cidr for r in self.direct} | {r.cidr for r in self.overlay}


def internal_ip(node: Object) -> str:
    for entry in (node.get("status") or {}).get("addresses") or []:
        if entry.get("type") == "InternalIP" and entry.get("address"):
            return str(entry["address"])
    return ""


def peers_of(nodes: Iterable[Object], self_name: str) -> list[Peer]:
    """Every other node with a podCIDR and an IPv4 InternalIP, by name."""
    out: list[Peer] = []
    for node in nodes:
        name = (node.get("metadata") or {}).get("name", "")
        cidr = (node.get("spec") or {}).get("podCIDR") or ""
        address = internal_ip(node)
        if name == self_name or not cidr or not address:
            continue
        try:
            network(cidr)
            if ipaddress.ip_address(address).version != 4:
                continue
        except (NetworkError, ValueError):
            continue
        out.append(Peer(name, cidr, address))
    return sorted(out, key=lambda p: p.name)


def plan_routes(peers: Sequence[Peer], own_cidr: str,
                local_networks: Sequence[str]) -> RoutePlan:
    """Which peers go direct and which through the overlay. A peer whose podCIDR overlaps
    ours or an earlier peer's is left out (a conflict the allocator should never make)."""
    own = network(own_cidr)
    links = [ipaddress.ip_network(n, strict=False) for n in local_networks]
    claimed = [own]
    direct: list[DirectRoute] = []
    overlay: list[OverlayRoute] = []
    for peer in peers:
        cidr = network(peer.pod_cidr)
        if any(cidr.overlaps(c) for c in claimed):
            continue
        claimed.append(cidr)
        address = ipaddress.ip_address(peer.address)
        if any(address in link for link in links):
            direct.append(DirectRoute(str(cidr), peer.address))
        else:
            overlay.append(OverlayRoute(str(cidr), peer.address, vtep_address(str(cidr)),
                                        vtep_mac(str(cidr))))
    return RoutePlan(tuple(direct), tuple(overlay))
