"""A pod's link to the bridge: veth `m13v<uid[:8]>` on the node, `eth0` inside the pod's
netns (made there directly: moving a link between namespaces costs ~16 ms), with the pod's
address, a default route via the gateway, and `lo` up."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from minikube13.net.netlink import iproute, lookup

log = logging.getLogger(__name__)
HOST_PREFIX = "m13v"
POD_IFNAME = "eth0"
ENODEV = 19


@dataclass(frozen=True)
class PodLink:
    uid: str
    netns_path: str
    address: str
    prefixlen: int
    gateway: str
    mtu: int = 1500


def host_veth_name(uid: str) -> str:
    return HOST_PREFIX + re.sub(r"[^A-Za-z0-9]", "", uid)[:8]


def attach(ipr: IPRoute, bridge_index: int, link: PodLink) -> str:
    """Make (or keep, when already right) the pod's veth pair; the host-side name."""
    name = host_veth_name(link.uid)
    index = lookup(ipr, name)
    if index is not None and _pod_side_ok(link):
        ipr.link("set", index=index, master=bridge_index, state="up")
        return name
    if index is not None:
        ipr.link("del", index=index)
    ipr.link("add", ifname=name, kind="veth", mtu=link.mtu,
             peer={"ifname": POD_IFNAME, "net_ns_fd": link.netns_path, "mtu": link.mtu})
    index = lookup(ipr, name)
    assert index is not None
    ipr.link("set", index=index, master=bridge_index, state="up")
    ipr.brport("set", index=index, mode=1)  # hairpin: a pod may reach itself via a Service
    _configure_pod_side(link)
    log.debug("pod link up uid=%s veth=%s ip=%s", link.uid, name, link.address)
    return name


def _configure_pod_side(link: PodLink) -> None:
    with iproute(link.netns_path) as pod:
        eth0, lo = lookup(pod, POD_IFNAME), lookup(pod, "lo")
        assert eth0 is not None and lo is not None
        pod.addr("add", index=eth0, address=link.address, prefixlen=link.prefixlen)
        pod.link("set", index=eth0, state="up")
        pod.link("set", index=lo, state="up")
        pod.route("add", dst="0.0.0.0/0", gateway=link.gateway, oif=eth0)


def _pod_side_ok(link: PodLink) -> bool:
    """eth0 in the pod's netns has the address and the default route (a daemon restart,
    or a retried start, finds the link it made before)."""
    try:
        with iproute(link.netns_path) as pod:
            eth0 = lookup(pod, POD_IFNAME)
            if eth0 is None:
                return False
            addrs = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in pod.get_addr(index=eth0)}
            routes = pod.route("get", dst="0.0.0.0/0", table=254) if addrs else []
    except Exception:  # noqa: BLE001 - any doubt means "make it again"
        return False
    via = {r.get("RTA_GATEWAY") for r in routes}
    return (link.address, link.prefixlen) in addrs and link.gateway in via


def detach(ipr: IPRoute, uid: str) -> bool:
    """Delete the pod's veth pair (both ends go); False when it was already gone."""
    index = lookup(ipr, host_veth_name(uid))
    if index is None:
        return False
    try:
        ipr.link("del", index=index)
    except NetlinkError as e:
        if e.code != ENODEV:    # the netns went first and took the pair with it
            raise
        return False
    return True


def host_veths(ipr: IPRoute) -> dict[str, int]:
    """Name -> index of every pod veth on the node."""
    out: dict[str, int] = {}
    for msg in ipr.get_links():
        name = msg.get("IFLA_IFNAME") or ""
        if name.startswith(HOST_PREFIX):
            out[name] = int(msg["index"])
    return out
