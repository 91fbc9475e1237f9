"""Pod CIDR arithmetic (pure): a node's gateway, bridge MAC, VXLAN endpoint address and MAC,
all following from its podCIDR. (Handing podCIDRs out is controllers/nodeipam's.)"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network

from minikube13.net import NetworkError

VTEP_MAC_PREFIX = (0x0E, 0x6D)  # locally administered, unicast


def network(cidr: str) -> IPv4Network:
    """An IPv4 network from text (host bits must be zero); NetworkError otherwise."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as e:
        raise NetworkError(f"bad CIDR {cidr!r}: {e}") from e
    if not isinstance(net, IPv4Network):
        raise NetworkError(f"only IPv4 pod networks are supported: {cidr}")
    return net


def gateway(pod_cidr: str) -> str:
    """The bridge's address (and the node's DNS address): the first host of the podCIDR."""
    return str(network(pod_cidr).network_address + 1)


def gateway_interface(pod_cidr: str) -> str:
    """`10.42.3.1/24`: the bridge's address with the podCIDR's prefix."""
    net = network(pod_cidr)
    return f"{net.network_address + 1}/{net.prefixlen}"


def vtep_address(pod_cidr: str) -> str:
    """The node's VXLAN device address: the podCIDR's network address (as flannel)."""
    return str(network(pod_cidr).network_address)


def vtep_mac(pod_cidr: str) -> str:
    """The node's VXLAN device MAC, derived from its podCIDR so peers need no exchange."""
    octets = (*VTEP_MAC_PREFIX, *network(pod_cidr).network_address.packed)
    return ":".join(f"{b:02x}" for b in octets)


def contains(cidr: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in network(cidr)
    except ValueError:
        return False


def bridge_mac(pod_cidr: str) -> str:
    """A fixed MAC for the node's bridge: without one it takes its lowest port's and
    changes as pods come and go, leaving stale gateway entries in pods' ARP caches."""
    octets = (0x0E, 0x6E, *network(pod_cidr).network_address.packed)
    return ":".join(f"{b:02x}" for b in octets)
