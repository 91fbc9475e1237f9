"""The node IPAM controller's decisions (pure-ish): a Node without spec.podCIDR gets the
first free block of the cluster CIDR (kube-controller-manager's range allocator).

The view lags our own writes, so the controller remembers what it handed out until the
view shows it (or the node is gone): two nodes reconciled back to back never get the same
block. A full cluster CIDR leaves the node without one and says so in an Event.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from minikube13.controllers.actions import Action, ObjectRef, PatchObject, RecordEvent, View

Object = dict[str, Any]
SOURCE = "node-ipam-controller"


def _network(cidr: str) -> IPv4Network:
    net = ipaddress.ip_network(cidr, strict=True)
    if not isinstance(net, IPv4Network):
        raise ValueError(f"only IPv4 cluster CIDRs are supported: {cidr}")
    return net


def check_node_mask(cluster: IPv4Network, mask: int) -> None:
    if not cluster.prefixlen <= mask <= 30:
        raise ValueError(f"node CIDR mask /{mask} does not fit cluster CIDR {cluster} "
                         f"(want /{cluster.prefixlen}..30)")


def _blocks_taken(cluster: IPv4Network, mask: int, taken: Iterable[str]) -> set[int]:
    """Indexes (within the cluster) of the /mask blocks that overlap a taken CIDR."""
    size = 1 << (32 - mask)
    base = int(cluster.network_address)
    out: set[int] = set()
    for text in taken:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if not isinstance(net, IPv4Network) or not net.overlaps(cluster):
            continue
        first = max(int(net.network_address), base)
        last = min(int(net.broadcast_address), int(cluster.broadcast_address))
        out.update(range((first - base) // size, (last - base) // size + 1))
    return out


def allocate_node_cidr(cluster_cidr: str, mask: int, taken: Iterable[str]) -> str | None:
    """The first /mask block of the cluster CIDR overlapping none of `taken`; None when the
    cluster CIDR is full."""
    cluster = _network(cluster_cidr)
    check_node_mask(cluster, mask)
    used = _blocks_taken(cluster, mask, taken)
    count = 1 << (mask - cluster.prefixlen)
    size = 1 << (32 - mask)
    for index in range(count):
        if index not in used:
            return f"{IPv4Address(int(cluster.network_address) + index * size)}/{mask}"
    return None


def pod_cidr(node: Object) -> str:
    return str((node.get("spec") or {}).get("podCIDR") or "")


class NodeIpam:
    def __init__(self, cluster_cidr: str, node_cidr_mask: int):
        self.cluster_cidr = cluster_cidr
        self.node_cidr_mask = node_cidr_mask
        self._handed_out: dict[str, str] = {}   # node name -> block, until the view has it
        self._told_full: set[str] = set()       # nodes already given a CIDRNotAvailable

    def reconcile(self, key: ObjectRef, view: View, now: datetime) -> list[Action]:
        if self._handed_out:
            self._forget_settled(view.objects("nodes"))
        node = view.get(key)
        if node is None or pod_cidr(node):
            self._told_full.discard(key.name)
            return []
        name = key.name
        block = self._handed_out.get(name)
        if block is None:
            taken = [pod_cidr(n) for n in view.objects("nodes") if pod_cidr(n)]
            block = allocate_node_cidr(self.cluster_cidr, self.node_cidr_mask,
                                       taken + list(self._handed_out.values()))
        if block is None:
            if name in self._told_full:
                return []
            self._told_full.add(name)
            return [RecordEvent(key, "Node", "Normal", "CIDRNotAvailable",
                                f"Node {name} status is now: CIDRNotAvailable", SOURCE)]
        self._handed_out[name] = block
        return [PatchObject(key, {"spec": {"podCIDR": block, "podCIDRs": [block]}}),
                RecordEvent(key, "Node", "Normal", "CIDRAssignmentSucceeded",
                            f"Node {name} got podCIDR {block}", SOURCE)]

    def _forget_settled(self, nodes: list[Object]) -> None:
        present = {(n.get("metadata") or {}).get("name", ""): pod_cidr(n) for n in nodes}
        for name in list(self._handed_out):
            if name not in present or present[name]:
                del self._handed_out[name]
