"""NetworkPolicy for real, in a node made of network namespaces: denying all ingress to a
namespace cuts every client off; then allowing one label lets exactly those pods in (by pod
IP and through the Service) — with today's v1 policies, with the 1.3 namespace annotation,
and with br_netfilter off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from minikube13.net.services.rules import render_ruleset

from .svc_support import GATEWAY, Pod, ServiceLab, by_backend, requests

CLUSTER_IP = "10.43.0.30"
BLOCKED_TIMEOUT_S = 0.5
Object = dict[str, Any]
DENY_13 = '{"ingress": {"isolation": "DefaultDeny"}}'


def pod_object(pod: Pod, labels: dict[str, str], ns: str = "default") -> Object:
    return {"metadata": {"name": pod.name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x", "ports": [
                {"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": pod.ip}}


def namespace(name: str, labels: dict[str, str], deny: bool = False) -> Object:
    meta: Object = {"name": name, "labels": labels}
    if deny:
        meta["annotations"] = {"net.beta.kubernetes.io/network-policy": DENY_13}
    return {"metadata": meta}


DENY_ALL = {"metadata": {"name": "deny-all", "namespace": "default"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
ALLOW_FRONTEND = {"metadata": {"name": "allow-frontend", "namespace": "default"},
                  "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                           "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"podSelector": {"matchLabels": {
                               "role": "frontend"}}}], "ports": [{"port": "http"}]}]}}
ALLOW_PROD = {"metadata": {"name": "allow-prod", "namespace": "default"},
              "spec": {"podSelector": {"matchLabels": {"app": "db"}},
                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                           "env": "prod"}}}]}]}}


class Node:
    def __init__(self, lab: ServiceLab):
        self.lab = lab
        self.db = lab.add_pod("db", "10.42.0.10")
        self.front = lab.add_pod("front", "10.42.0.21")
        self.other = lab.add_pod("other", "10.42.0.22")
        self.prod = lab.add_pod("prod", "10.42.0.23")
        lab.serve(self.db)
        self.pods = [pod_object(self.db, {"app": "db"}),
                     pod_object(self.front, {"role": "frontend"}),
                     pod_object(self.other, {"role": "other"}),
                     pod_object(self.prod, {"role": "other"}, ns="prod")]
        self.service = {"metadata": {"name": "db", "namespace": "default"},
                        "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP, "ports": [
                            {"port": 80, "targetPort": "http", "protocol": "TCP"}]}}
        self.endpoints = {"metadata": {"name": "db", "namespace": "default"}, "subsets": [{
            "addresses": [{"ip": self.db.ip}], "ports": [{"port": 8080, "protocol": "TCP"}]}]}

    def apply(self, policies: list[Object], deny_13: bool = False) -> None:
        namespaces = [namespace("default", {"env": "test"}, deny_13),
                      namespace("prod", {"env": "prod"})]
        self.lab.nft(render_ruleset([self.service], [self.endpoints], self.pods, policies,
                                    namespaces, self.lab.node_info()))

    def reaches(self, client: Pod) -> tuple[bool, bool]:
        """(reaches the db pod by IP, reaches it through its Service)."""
        direct = requests(client.ns, self.db.ip, 8080, 2, timeout=BLOCKED_TIMEOUT_S)
        via = requests(client.ns, CLUSTER_IP, 80, 2, timeout=BLOCKED_TIMEOUT_S)
        assert set(direct) <= {f"db {client.ip}", "timeout"}, direct
        # through the Service the source is kept, or (br_netfilter off) masqueraded
        assert set(via) <= {f"db {client.ip}", f"db {GATEWAY}", "timeout"}, via
        return by_backend(direct)["db"] == 2, by_backend(via)["db"] == 2


@pytest.fixture
def node() -> Iterator[Node]:
    with ServiceLab() as lab:
        yield Node(lab)


def _deny_then_allow(node: Node, deny: list[Object], deny_13: bool) -> None:
    node.apply([])
    assert node.reaches(node.front) == (True, True)
    assert node.reaches(node.other) == (True, True)
    node.apply(deny, deny_13)
    assert node.reaches(node.front) == (False, False)
    assert node.reaches(node.other) == (False, False)
    node.apply([*deny, ALLOW_FRONTEND], deny_13)
    assert node.reaches(node.front) == (True, True)
    assert node.reaches(node.other) == (False, False)


def test_v1_deny_all_then_allow_one_label(node: Node) -> None:
    """A v1 deny-all policy cuts both clients off; allowing role=frontend on port "http"
    lets only the frontend in, directly and through the Service."""
    _deny_then_allow(node, [DENY_ALL], deny_13=False)


def test_13_namespace_isolation_then_allow_one_label(node: Node) -> None:
    """The 1.3 DefaultDeny namespace annotation isolates; a policy admits role=frontend."""
    _deny_then_allow(node, [], deny_13=True)


def test_namespace_selector_admits_another_namespace(node: Node) -> None:
    """namespaceSelector env=prod admits the prod pod, not the same-namespace other."""
    node.apply([DENY_ALL, ALLOW_PROD])
    assert node.reaches(node.prod) == (True, True)
    assert node.reaches(node.other) == (False, False)


def test_policies_hold_without_br_netfilter(node: Node) -> None:
    """With bridge-nf-call-iptables off, frames to isolated pods are routed through the
    node, so deny-all and allow-one-label still take effect."""
    node.lab.set_br_netfilter(False)
    _deny_then_allow(node, [DENY_ALL], deny_13=False)
