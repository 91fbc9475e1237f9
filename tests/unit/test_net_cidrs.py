"""Pod CIDR arithmetic and the node IPAM controller: every node gets its own block of the
cluster CIDR, never one that overlaps another's, and the block fixes gateway and VTEP."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.controllers.actions import ObjectRef, PatchObject, RecordEvent
from minikube13.controllers.nodeipam import NodeIpam, allocate_node_cidr
from minikube13.controllers.object_cache import ObjectCache
from minikube13.net import NetworkError
from minikube13.net.cidrs import bridge_mac, gateway, gateway_interface, vtep_address, vtep_mac

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_first_blocks_in_order() -> None:
    """Blocks are handed out from the bottom of the cluster CIDR, skipping taken ones."""
    assert allocate_node_cidr("10.42.0.0/16", 24, []) == "10.42.0.0/24"
    assert allocate_node_cidr("10.42.0.0/16", 24, ["10.42.0.0/24"]) == "10.42.1.0/24"
    assert allocate_node_cidr("10.42.0.0/16", 24, ["10.42.0.0/23", "10.42.3.0/24"]) == \
        "10.42.2.0/24"


def test_full_cluster_cidr_gives_none() -> None:
    """A /24 cluster split into /25s holds two nodes; a third gets none."""
    assert allocate_node_cidr("10.42.0.0/24", 25, ["10.42.0.0/25", "10.42.0.128/25"]) is None
    assert allocate_node_cidr("10.42.0.0/24", 25, ["10.42.0.0/16"]) is None


def test_bad_mask_is_refused() -> None:
    with pytest.raises(ValueError):
        allocate_node_cidr("10.42.0.0/16", 8, [])


@given(st.lists(st.integers(min_value=0, max_value=255), max_size=40))
def test_never_overlaps_a_taken_block(indexes: list[int]) -> None:
    """Whatever is taken (of any size), the new block overlaps none of it."""
    taken = [f"10.42.{i}.0/{24 - (i % 3)}" for i in indexes]
    taken = [str(ipaddress.ip_network(t, strict=False)) for t in taken]
    block = allocate_node_cidr("10.42.0.0/16", 24, taken)
    if block is None:
        return
    new = ipaddress.ip_network(block)
    assert not any(new.overlaps(ipaddress.ip_network(t)) for t in taken)


def test_gateway_and_vtep_follow_the_block() -> None:
    assert gateway("10.42.3.0/24") == "10.42.3.1"
    assert gateway_interface("10.42.3.0/24") == "10.42.3.1/24"
    assert vtep_address("10.42.3.0/24") == "10.42.3.0"
    assert vtep_mac("10.42.3.0/24") == "0e:6d:0a:2a:03:00"
    assert bridge_mac("10.42.3.0/24") != vtep_mac("10.42.3.0/24")
    with pytest.raises(NetworkError):
        gateway("10.42.3.1/24")


def node(name: str, cidr: str = "") -> dict[str, Any]:
    spec = {"podCIDR": cidr} if cidr else {}
    return {"metadata": {"name": name, "uid": f"u-{name}"}, "spec": spec}


def cache_of(*nodes: dict[str, Any]) -> ObjectCache:
    cache = ObjectCache()
    for n in nodes:
        cache.put("nodes", n)
    return cache


def ref(name: str) -> ObjectRef:
    return ObjectRef("nodes", "", name)


def test_controller_gives_distinct_blocks_before_the_view_catches_up() -> None:
    """Two new nodes reconciled back to back (the view has neither write yet) get
    different blocks; a node that has one is left alone."""
    ipam = NodeIpam("10.42.0.0/16", 24)
    view = cache_of(node("a"), node("b"), node("c", "10.42.0.0/24"))
    first = ipam.reconcile(ref("a"), view, NOW)
    second = ipam.reconcile(ref("b"), view, NOW)
    patches = [a for a in first + second if isinstance(a, PatchObject)]
    assert [p.patch["spec"]["podCIDR"] for p in patches] == ["10.42.1.0/24", "10.42.2.0/24"]
    assert ipam.reconcile(ref("c"), view, NOW) == []
    again = ipam.reconcile(ref("a"), view, NOW)   # requeued before the view saw it
    assert [a.patch["spec"]["podCIDR"] for a in again if isinstance(a, PatchObject)] == \
        ["10.42.1.0/24"]


def test_deleted_node_frees_its_block() -> None:
    ipam = NodeIpam("10.42.0.0/16", 24)
    ipam.reconcile(ref("a"), cache_of(node("a")), NOW)
    actions = ipam.reconcile(ref("b"), cache_of(node("b")), NOW)
    assert [a.patch["spec"]["podCIDR"] for a in actions if isinstance(a, PatchObject)] == \
        ["10.42.0.0/24"]


def test_full_cluster_is_reported_once() -> None:
    ipam = NodeIpam("10.42.0.0/24", 24)
    view = cache_of(node("a", "10.42.0.0/24"), node("b"))
    events = ipam.reconcile(ref("b"), view, NOW)
    assert [e.reason for e in events if isinstance(e, RecordEvent)] == ["CIDRNotAvailable"]
    assert ipam.reconcile(ref("b"), view, NOW) == []
