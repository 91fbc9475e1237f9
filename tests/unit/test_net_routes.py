"""Routes to other nodes' pod CIDRs: direct (host-gw) when the node's address is on one of
our subnets, through VXLAN otherwise; nodes without a podCIDR or address are skipped."""

from __future__ import annotations

from typing import Any

from minikube13.net.routes import DirectRoute, OverlayRoute, Peer, peers_of, plan_routes


def node(name: str, cidr: str, address: str) -> dict[str, Any]:
    addresses = [{"type": "Hostname", "address": name}]
    if address:
        addresses.append({"type": "InternalIP", "address": address})
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": addresses}}


def test_peers_skip_self_and_incomplete_nodes() -> None:
    nodes = [node("me", "10.42.0.0/24", "10.0.0.1"), node("b", "10.42.1.0/24", "10.0.0.2"),
             node("no-cidr", "", "10.0.0.3"), node("no-ip", "10.42.3.0/24", ""),
             node("v6", "10.42.4.0/24", "fd00::1"), node("bad", "10.42.5.1/24", "10.0.0.5")]
    assert peers_of(nodes, "me") == [Peer("b", "10.42.1.0/24", "10.0.0.2")]


def test_direct_on_shared_subnet_overlay_elsewhere() -> None:
    peers = [Peer("b", "10.42.1.0/24", "10.0.0.2"), Peer("c", "10.42.2.0/24", "192.168.7.9")]
    plan = plan_routes(peers, "10.42.0.0/24", ["10.0.0.0/24"])
    assert plan.direct == (DirectRoute("10.42.1.0/24", "10.0.0.2"),)
    assert plan.overlay == (OverlayRoute("10.42.2.0/24", "192.168.7.9", "10.42.2.0",
                                         "0e:6d:0a:2a:02:00"),)
    assert plan.cidrs == {"10.42.1.0/24", "10.42.2.0/24"}


def test_overlapping_cidrs_are_left_out() -> None:
    """A peer claiming our block, or one already claimed, gets no route."""
    peers = [Peer("b", "10.42.0.0/24", "10.0.0.2"), Peer("c", "10.42.1.0/24", "10.0.0.3"),
             Peer("d", "10.42.1.0/25", "10.0.0.4")]
    plan = plan_routes(peers, "10.42.0.0/24", ["10.0.0.0/24"])
    assert plan.direct == (DirectRoute("10.42.1.0/24", "10.0.0.3"),)


def test_departed_node_leaves_the_plan() -> None:
    both = peers_of([node("b", "10.42.1.0/24", "10.0.0.2"),
                     node("c", "10.42.2.0/24", "10.0.0.3")], "me")
    one = peers_of([node("b", "10.42.1.0/24", "10.0.0.2")], "me")
    local = ["10.0.0.0/24"]
    assert plan_routes(both, "10.42.0.0/24", local).cidrs - \
        plan_routes(one, "10.42.0.0/24", local).cidrs == {"10.42.2.0/24"}
