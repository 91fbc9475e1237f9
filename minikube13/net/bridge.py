"""The node's pod bridge `m13br0`: the podCIDR's gateway address on it, a fixed MAC, up;
forwarding on in the node's netns (the daemon's own)."""

from __future__ import annotations

import logging

from pyroute2 import IPRoute

from minikube13.net.cidrs import bridge_mac, network
from minikube13.net.netlink import lookup, write_sysctl

log = logging.getLogger(__name__)
BRIDGE = "m13br0"


def ensure_bridge(ipr: IPRoute, pod_cidr: str, name: str = BRIDGE) -> int:
    """Create or adopt the bridge; its only IPv4 address is the gateway's. Returns its index."""
    index = lookup(ipr, name)
    if index is None:
        ipr.link("add", ifname=name, kind="bridge", address=bridge_mac(pod_cidr))
        index = lookup(ipr, name)
        assert index is not None
        log.info("bridge created name=%s", name)
    else:
        ipr.link("set", index=index, address=bridge_mac(pod_cidr))
    net = network(pod_cidr)
    gateway = str(net.network_address + 1)
    have = [(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)]
    for address, prefix in have:
        if (address, prefix) != (gateway, net.prefixlen):
            ipr.addr("del", index=index, address=address, prefixlen=prefix)
            log.info("bridge address removed name=%s ip=%s/%s", name, address, prefix)
    if (gateway, net.prefixlen) not in have:
        ipr.addr("add", index=index, address=gateway, prefixlen=net.prefixlen)
    ipr.link("set", index=index, state="up")
    return index


def enable_forwarding() -> None:
    """Route between pods and the world; pass bridged pod traffic through the ip hooks
    (br_netfilter, where loaded) so Service DNAT and policy see same-node traffic too."""
    write_sysctl("net.ipv4.ip_forward", "1")
    write_sysctl("net.bridge.bridge-nf-call-iptables", "1")


def remove_bridge(ipr: IPRoute, name: str = BRIDGE) -> bool:
    index = lookup(ipr, name)
    if index is None:
        return False
    ipr.link("del", index=index)
    log.info("bridge removed name=%s", name)
    return True
