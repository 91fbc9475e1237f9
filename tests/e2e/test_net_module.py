"""The pod network module on real namespaces: two nodes on a test-made segment, pods as
bare namespaces, NodeNetwork driven inside each node's namespace as the daemon would."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from net_support import NetLab, links, node_object, peer_of, routes, tables  # noqa: E402

A_ADDR, B_ADDR, OUT_ADDR = "10.213.0.10", "10.213.0.20", "10.213.0.254"
A_CIDR, B_CIDR = "10.42.0.0/24", "10.42.1.0/24"


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with NetLab() as lab:
        yield lab


def two_nodes(lab: NetLab, tmp_path: Path, b_addr: str = B_ADDR) -> dict[str, object]:
    a, b = lab.node("a", A_ADDR), lab.node("b", b_addr)
    pa, pb = lab.pod_netns("pa"), lab.pod_netns("pb")
    (ip_a, gw_a), _ = lab.drive(a, tmp_path / "a", ["start", "a", A_CIDR, A_ADDR],
                                ["setup", "uid-a-0001", pa, {}],
                                ["peers", [node_object("b", B_CIDR, b_addr)]])[1:]
    (ip_b, _), plan_b = lab.drive(b, tmp_path / "b", ["start", "b", B_CIDR, b_addr],
                                  ["setup", "uid-b-0001", pb, {}],
                                  ["peers", [node_object("a", A_CIDR, A_ADDR)]])[1:]
    return {"a": a, "b": b, "pa": pa, "pb": pb, "ip_a": ip_a, "ip_b": ip_b, "gw_a": gw_a,
            "plan_b": plan_b}


def test_pods_on_two_nodes_reach_each_other_nodes_and_outside(lab: NetLab,
                                                               tmp_path: Path) -> None:
    """Pod A reaches pod B over TCP and UDP with its own address, reaches both nodes, and
    reaches an outside address masqueraded as its node."""
    n = two_nodes(lab, tmp_path)
    assert n["ip_a"] == "10.42.0.2" and n["gw_a"] == "10.42.0.1" and n["ip_b"] == "10.42.1.2"
    assert n["plan_b"] == {"direct": [{"cidr": A_CIDR, "via": A_ADDR}], "overlay": []}
    pa, pb = str(n["pa"]), str(n["pb"])
    for proto in ("tcp", "udp"):
        server = lab.listen(pb, proto, "0.0.0.0", 8080)
        assert lab.call(pa, proto, str(n["ip_b"]), 8080) == "echo:hi"
        assert peer_of(server) == n["ip_a"]
    a, b = n["a"], n["b"]
    own = lab.listen(a.netns_path, "tcp", A_ADDR, 9000)  # type: ignore[attr-defined]
    assert lab.call(pa, "tcp", A_ADDR, 9000) == "echo:hi"
    assert peer_of(own) == n["ip_a"]
    lab.listen(b.netns_path, "tcp", B_ADDR, 9000)  # type: ignore[attr-defined]
    assert lab.call(pa, "tcp", B_ADDR, 9000) == "echo:hi"
    out = lab.fabric.add_host("net-out", OUT_ADDR)
    outside = lab.listen(out.netns_path, "tcp", OUT_ADDR, 9000)
    assert lab.call(pa, "tcp", OUT_ADDR, 9000) == "echo:hi"
    assert peer_of(outside) == A_ADDR, "pod traffic leaving the cluster is masqueraded"


def test_overlay_between_nodes_on_different_subnets(lab: NetLab, tmp_path: Path) -> None:
    """Nodes on different subnets talk through VXLAN; the overlay goes when its peer does."""
    a, b = lab.node("a", A_ADDR), lab.node("b", "10.213.5.20")
    a.run("ip", "route", "add", "10.213.5.0/24", "dev", "eth0")  # the "router" between
    b.run("ip", "route", "add", "10.213.0.0/24", "dev", "eth0")
    pa, pb = lab.pod_netns("pa"), lab.pod_netns("pb")
    plan_a = lab.drive(a, tmp_path / "a", ["start", "a", A_CIDR, A_ADDR],
                       ["setup", "uid-a-0001", pa, {}],
                       ["peers", [node_object("b", B_CIDR, "10.213.5.20")]])[2]
    lab.drive(b, tmp_path / "b", ["start", "b", B_CIDR, "10.213.5.20"],
              ["setup", "uid-b-0001", pb, {}], ["peers", [node_object("a", A_CIDR, A_ADDR)]])
    assert plan_a["overlay"][0]["cidr"] == B_CIDR and not plan_a["direct"]
    assert "m13vx0" in links(a)
    for proto in ("tcp", "udp"):
        server = lab.listen(pb, proto, "0.0.0.0", 8080)
        assert lab.call(pa, proto, "10.42.1.2", 8080) == "echo:hi"
        assert peer_of(server) == "10.42.0.2"
    lab.drive(a, tmp_path / "a", ["start", "a", A_CIDR, A_ADDR], ["peers", []])
    assert "m13vx0" not in links(a) and B_CIDR not in routes(a)


def test_restart_keeps_addresses_and_teardown_leaves_nothing(lab: NetLab,
                                                              tmp_path: Path) -> None:
    """A restarted network gives running pods their addresses again and new pods fresh
    ones; tearing pods down (or losing their netns) leaves no veth, address or rule."""
    a = lab.node("a", A_ADDR)
    ns = [lab.pod_netns(f"p{i}") for i in range(3)]
    hostport_pod = {"spec": {"containers": [{"name": "c", "ports": [
        {"containerPort": 8080, "hostPort": 8081}]}]}}
    first = lab.drive(a, tmp_path, ["start", "a", A_CIDR, A_ADDR],
                      *[["setup", f"uid-{i}", ns[i], hostport_pod if i == 0 else {}]
                        for i in range(2)])
    again = lab.drive(a, tmp_path, ["start", "a", A_CIDR, A_ADDR],
                      ["setup", "uid-0", ns[0], hostport_pod], ["setup", "uid-2", ns[2], {}])
    assert again[1] == first[1] and again[2][0] not in {first[1][0], first[2][0]}
    assert "minikube13-hostport" in tables(a)
    lab.listen(ns[0], "tcp", "0.0.0.0", 8080)
    out = lab.fabric.add_host("net-out", OUT_ADDR)
    assert lab.call(out.netns_path, "tcp", A_ADDR, 8081) == "echo:hi", "hostPort reaches the pod"
    assert lab.call(ns[1], "tcp", A_ADDR, 8081) == "echo:hi", "hairpin through the hostPort"
    lab.drive(a, tmp_path, ["start", "a", A_CIDR, A_ADDR], ["teardown", "uid-0"],
              ["teardown", "uid-1"])
    assert "minikube13-hostport" not in tables(a)
    pod_links = [line for line in links(a).splitlines() if "m13v" in line]
    assert len(pod_links) == 1, pod_links
    lab.drive(a, tmp_path, ["start", "a", A_CIDR, A_ADDR], ["collect", []])
    assert "m13v" not in links(a)
    assert sorted(p.name for p in (tmp_path / "net" / "ipam").iterdir()) == \
        ["last_reserved_ip.0"]
