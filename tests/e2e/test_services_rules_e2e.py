"""Service rules applied for real in a node made of network namespaces: traffic to a
ClusterIP spreads over the ready backends, NodePort answers from outside, ClientIP affinity
holds (also across a ruleset swap), a pod reaches itself through its Service, UDP works,
and all of it without br_netfilter too."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from minikube13.net.services.apply import apply_ruleset
from minikube13.net.services.rules import remove_ruleset, render_ruleset

from .svc_support import (
    GATEWAY,
    NODE_UPLINK,
    Pod,
    ServiceLab,
    by_backend,
    in_ns,
    requests,
    run,
    shares,
)

CLUSTER_IP = "10.43.0.10"
Object = dict[str, Any]


def web_service(kind: str = "ClusterIP", affinity: str = "None",
                node_port: int = 0) -> Object:
    port: Object = {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    if node_port:
        port["nodePort"] = node_port
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": kind, "clusterIP": CLUSTER_IP, "sessionAffinity": affinity,
                     "selector": {"app": "web"},
                     "ports": [port, {"name": "dns", "port": 53, "targetPort": 5353,
                                      "protocol": "UDP"}]}}


def web_endpoints(ready: list[Pod], not_ready: tuple[Pod, ...] = ()) -> Object:
    return {"metadata": {"name": "web", "namespace": "default"}, "subsets": [{
        "addresses": [{"ip": p.ip} for p in ready],
        "notReadyAddresses": [{"ip": p.ip} for p in not_ready],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                  {"name": "dns", "port": 5353, "protocol": "UDP"}]}]}


class Node:
    def __init__(self, lab: ServiceLab):
        self.lab = lab
        self.backends = [lab.add_pod(f"w{i}", f"10.42.0.1{i}") for i in (1, 2, 3)]
        self.client = lab.add_pod("client", "10.42.0.20")
        self.client2 = lab.add_pod("client2", "10.42.0.21")
        for pod in self.backends:
            lab.serve(pod, tcp=(8080,), udp=(5353,))

    def pods(self) -> list[Object]:
        """The backends as pod objects bound to this node (the hairpin set needs them)."""
        return [{"metadata": {"name": p.name, "namespace": "default"},
                 "spec": {"nodeName": "n1"}, "status": {"phase": "Running", "podIP": p.ip}}
                for p in self.backends]

    def apply(self, services: list[Object], endpoints: list[Object]) -> str:
        text = render_ruleset(services, endpoints, self.pods(), [], [], self.lab.node_info())
        self.lab.nft(text)
        return text


@pytest.fixture
def node() -> Iterator[Node]:
    with ServiceLab() as lab:
        yield Node(lab)


def test_cluster_ip_spreads_over_all_three_backends(node: Node) -> None:
    """300 requests from a client pod reach all three backends, each at least 20%, with the
    client's own address preserved."""
    node.apply([web_service()], [web_endpoints(node.backends)])
    seen = requests(node.client.ns, CLUSTER_IP, 80, 300)
    assert sum(seen.values()) == 300 and set(by_backend(seen)) == {"w1", "w2", "w3"}, seen
    assert min(shares(seen).values()) >= 0.20, seen
    assert all(answer.endswith(node.client.ip) for answer in seen), seen


def test_only_ready_endpoints_get_traffic(node: Node) -> None:
    """A backend listed under notReadyAddresses gets nothing; none ready is refused."""
    w1, w2, w3 = node.backends
    node.apply([web_service()], [web_endpoints([w1, w3], not_ready=(w2,))])
    assert set(by_backend(requests(node.client.ns, CLUSTER_IP, 80, 60))) == {"w1", "w3"}
    node.apply([web_service()], [web_endpoints([], not_ready=(w1, w2, w3))])
    assert requests(node.client.ns, CLUSTER_IP, 80, 3) == {"refused": 3}


def test_udp_port_of_the_same_service(node: Node) -> None:
    """The Service's UDP port spreads datagrams over the backends' UDP servers."""
    node.apply([web_service()], [web_endpoints(node.backends)])
    seen = requests(node.client.ns, CLUSTER_IP, 53, 90, proto="udp")
    assert set(by_backend(seen)) == {"w1", "w2", "w3"}, seen


def test_node_port_from_outside_the_node(node: Node) -> None:
    """A client outside the node reaches the NodePort on the node's address; backends see
    the node (masqueraded), and every backend serves."""
    node.apply([web_service("NodePort", node_port=30080)], [web_endpoints(node.backends)])
    seen = requests(node.lab.outside, NODE_UPLINK, 30080, 90)
    assert set(by_backend(seen)) == {"w1", "w2", "w3"}, seen
    assert all(answer.endswith(GATEWAY) for answer in seen), seen


def test_client_ip_affinity_holds_and_survives_a_swap(node: Node) -> None:
    """With ClientIP affinity each client keeps one backend for 50 requests, and keeps it
    after the ruleset is swapped for an unrelated change."""
    eps = [web_endpoints(node.backends)]
    node.apply([web_service(affinity="ClientIP")], eps)
    first = by_backend(requests(node.client.ns, CLUSTER_IP, 80, 50))
    other = by_backend(requests(node.client2.ns, CLUSTER_IP, 80, 50))
    assert len(first) == 1 and len(other) == 1, (first, other)
    extra = {"metadata": {"name": "other", "namespace": "default"},
             "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.99", "ports": [
                 {"port": 81, "protocol": "TCP"}]}}
    swapped = render_ruleset([web_service(affinity="ClientIP"), extra], eps, node.pods(), [],
                             [], node.lab.node_info())
    asyncio.run(apply_ruleset(swapped, nft=node.lab.nft_command()))
    sets = run(*in_ns(node.lab.node, "nft", "list", "sets", "inet")).stdout
    assert node.client.ip in sets and node.client2.ip in sets, sets  # carried over
    assert by_backend(requests(node.client.ns, CLUSTER_IP, 80, 30)) == \
        {next(iter(first)): 30}


def test_a_pod_reaches_itself_through_its_service(node: Node) -> None:
    """Hairpin: a backend connecting to its own Service can land on itself and is answered
    (masqueraded to the gateway, so the answer comes back through the node)."""
    w1 = node.backends[0]
    node.apply([web_service()], [web_endpoints([w1])])
    seen = requests(w1.ns, CLUSTER_IP, 80, 10)
    assert seen == {f"w1 {GATEWAY}": 10}, seen


def test_without_br_netfilter_services_still_work(node: Node) -> None:
    """With bridge-nf-call-iptables off, pod-to-pod service traffic on one bridge is
    masqueraded so answers return through the un-DNAT; all three backends serve."""
    node.lab.set_br_netfilter(False)
    text = node.apply([web_service()], [web_endpoints(node.backends)])
    assert 'oifname "m13br0" masquerade' in text
    seen = requests(node.client.ns, CLUSTER_IP, 80, 90)
    assert set(by_backend(seen)) == {"w1", "w2", "w3"}, seen


def test_removing_the_ruleset_leaves_no_table(node: Node) -> None:
    """remove_ruleset() drops every table this module made; the node's other tables stay."""
    node.lab.nft("table ip minikube13-masq {\n}\n")
    node.apply([web_service()], [web_endpoints(node.backends)])
    node.lab.nft(remove_ruleset())
    tables = run(*in_ns(node.lab.node, "nft", "list", "tables")).stdout
    assert tables.strip() == "table ip minikube13-masq"
