"""Carry out a routes.RoutePlan on the node (netlink shell): routes tagged with our own
protocol number (so stale ones are found and removed without touching anyone else's), and
the VXLAN device `m13vx0` with one FDB entry, neighbour and onlink route per overlay peer.
"""

from __future__ import annotations

import ipaddress
import logging

from pyroute2 import IPRoute

from minikube13.net.bridge import BRIDGE
from minikube13.net.cidrs import vtep_address, vtep_mac
from minikube13.net.netlink import lookup
from minikube13.net.pods import HOST_PREFIX
from minikube13.net.routes import RoutePlan

log = logging.getLogger(__name__)
VXLAN = "m13vx0"
VNI = 1
VXLAN_PORT = 8472
VXLAN_OVERHEAD = 50
ROUTE_PROTO = 113       # "m13": marks the routes this module owns
MAIN_TABLE = 254
NUD_PERMANENT = 0x80
RTNH_F_ONLINK = 4
AF_INET = 2


def local_networks(ipr: IPRoute) -> list[str]:
    """The IPv4 subnets this node is directly on (not the pod bridge, overlay or veths)."""
    names = {int(m["index"]): m.get("IFLA_IFNAME") or "" for m in ipr.get_links()}
    out = []
    for addr in ipr.get_addr(family=AF_INET):
        name = names.get(int(addr["index"]), "")
        if name in (BRIDGE, VXLAN, "lo") or name.startswith(HOST_PREFIX):
            continue
        iface = ipaddress.ip_interface(f"{addr.get('IFA_ADDRESS')}/{addr['prefixlen']}")
        if not iface.ip.is_loopback:
            out.append(str(iface.network))
    return sorted(set(out))


def uplink_mtu(ipr: IPRoute, address: str) -> int:
    """The MTU of the interface that holds `address` (1500 when not found)."""
    for addr in ipr.get_addr(family=AF_INET, address=address):
        for link in ipr.get_links(int(addr["index"])):
            return int(link.get("IFLA_MTU") or 1500)
    return 1500


def our_routes(ipr: IPRoute) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for r in ipr.get_routes(family=AF_INET, table=MAIN_TABLE, proto=ROUTE_PROTO):
        out[f"{r.get('RTA_DST')}/{r['dst_len']}"] = {"gateway": r.get("RTA_GATEWAY"),
                                                      "oif": r.get("RTA_OIF")}
    return out


def apply_plan(ipr: IPRoute, plan: RoutePlan, own_cidr: str, node_address: str) -> None:
    """Make the kernel's routes to other nodes' pod CIDRs exactly `plan`'s."""
    current = our_routes(ipr)
    for route in plan.direct:
        if current.get(route.cidr, {}).get("gateway") != route.via:
            ipr.route("replace", dst=route.cidr, gateway=route.via, proto=ROUTE_PROTO)
            log.info("route set cidr=%s via=%s", route.cidr, route.via)
    vx = _ensure_overlay(ipr, plan, own_cidr, node_address)
    for peer in plan.overlay:
        assert vx is not None
        ipr.route("replace", dst=peer.cidr, gateway=peer.vtep, oif=vx,
                  flags=RTNH_F_ONLINK, proto=ROUTE_PROTO)
        if peer.cidr not in current:
            log.info("overlay route set cidr=%s node=%s", peer.cidr, peer.node_address)
    for cidr in sorted(set(current) - plan.cidrs):
        try:
            ipr.route("del", dst=cidr, proto=ROUTE_PROTO, table=MAIN_TABLE)
        except Exception:  # noqa: BLE001 - gone with the overlay device already
            continue
        log.info("route removed cidr=%s", cidr)


def _ensure_overlay(ipr: IPRoute, plan: RoutePlan, own_cidr: str,
                    node_address: str) -> int | None:
    """The VXLAN device with exactly the plan's peers; none when no peer needs it."""
    vx = lookup(ipr, VXLAN)
    if vx is not None and (not plan.overlay or not _vxlan_matches(ipr, vx, own_cidr,
                                                                  node_address)):
        ipr.link("del", index=vx)
        log.info("overlay removed dev=%s", VXLAN)
        vx = None
    if not plan.overlay:
        return None
    if vx is None:
        vx = _create_vxlan(ipr, own_cidr, node_address)
    wanted = {(r.mac, r.node_address) for r in plan.overlay}
    for entry in ipr.fdb("dump", ifindex=vx):
        mac, dst = entry.get("NDA_LLADDR"), entry.get("NDA_DST")
        if dst and (mac, dst) not in wanted:
            ipr.fdb("del", ifindex=vx, lladdr=mac, dst=dst)
    for route in plan.overlay:
        ipr.fdb("append", ifindex=vx, lladdr=route.mac, dst=route.node_address,
                state=NUD_PERMANENT)
        ipr.neigh("replace", ifindex=vx, dst=route.vtep, lladdr=route.mac,
                  state=NUD_PERMANENT)
    peers = {r.vtep for r in plan.overlay}
    for entry in ipr.get_neighbours(family=AF_INET, ifindex=vx):
        if entry.get("NDA_DST") not in peers:
            ipr.neigh("del", ifindex=vx, dst=entry.get("NDA_DST"))
    return vx


def _vxlan_matches(ipr: IPRoute, vx: int, own_cidr: str, node_address: str) -> bool:
    """Whether the existing device has our VTEP MAC and outer source address."""
    for link in ipr.get_links(vx):
        data = (link.get(("IFLA_LINKINFO", "IFLA_INFO_DATA")) or {})
        local = data.get("IFLA_VXLAN_LOCAL") if hasattr(data, "get") else None
        return link.get("IFLA_ADDRESS") == vtep_mac(own_cidr) and local == node_address
    return False


def _create_vxlan(ipr: IPRoute, own_cidr: str, node_address: str) -> int:
    mtu = uplink_mtu(ipr, node_address) - VXLAN_OVERHEAD
    ipr.link("add", ifname=VXLAN, kind="vxlan", vxlan_id=VNI, vxlan_port=VXLAN_PORT,
             vxlan_local=node_address, vxlan_learning=0, address=vtep_mac(own_cidr), mtu=mtu)
    vx = lookup(ipr, VXLAN)
    assert vx is not None
    ipr.addr("add", index=vx, address=vtep_address(own_cidr), prefixlen=32)
    ipr.link("set", index=vx, state="up")
    log.info("overlay created dev=%s vni=%d port=%d local=%s", VXLAN, VNI, VXLAN_PORT,
             node_address)
    return vx


def remove_all(ipr: IPRoute) -> None:
    """Drop every route of ours and the overlay device."""
    apply_plan(ipr, RoutePlan(), "0.0.0.0/32", "")
