"""The nftables texts of the pod network: masquerade only what leaves the cluster CIDR,
hostPort DNAT per mapping, each table replaced whole in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minikube13.net import hostport, masq
from minikube13.node.podsync import PodDns


def test_masquerade_leaves_pod_to_pod_alone() -> None:
    text = masq.render("10.42.0.0/16")
    assert text.startswith("table ip minikube13-masq {}\ndelete table ip minikube13-masq\n")
    assert "ip saddr 10.42.0.0/16 ip daddr != 10.42.0.0/16 masquerade" in text
    assert "inet minikube13" not in text


def pod(*ports: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_host_ports_of_a_pod() -> None:
    p = pod({"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.5"},
            {"containerPort": 9000},
            {"containerPort": 81, "hostPort": 8081, "hostIP": "0.0.0.0"})
    assert hostport.host_ports_of(p, "10.42.0.7") == [
        hostport.HostPort("tcp", 8080, "", "10.42.0.7", 80),
        hostport.HostPort("udp", 53, "10.0.0.5", "10.42.0.7", 53),
        hostport.HostPort("tcp", 8081, "", "10.42.0.7", 81)]


def test_hostport_rules_and_clashes() -> None:
    """One DNAT rule per mapping; of two pods on one port the first wins; hairpin traffic
    from this node's pods is masqueraded."""
    text = hostport.render([hostport.HostPort("tcp", 8080, "", "10.42.0.9", 80),
                            hostport.HostPort("tcp", 8080, "", "10.42.0.7", 80),
                            hostport.HostPort("udp", 53, "10.0.0.5", "10.42.0.7", 5353)],
                           "10.42.0.0/24")
    assert "tcp dport 8080 meta mark set meta mark or 0x2000 dnat to 10.42.0.7:80" in text
    assert "10.42.0.9" not in text
    assert "ip daddr 10.0.0.5 udp dport 53" in text and "dnat to 10.42.0.7:5353" in text
    assert "ip saddr 10.42.0.0/24 masquerade" in text


def test_no_mappings_drop_the_table() -> None:
    assert hostport.render([], "10.42.0.0/24") == (
        "table ip minikube13-hostport {}\ndelete table ip minikube13-hostport\n")


def test_pod_resolv_conf_follows_dns_policy(tmp_path: Path) -> None:
    """ClusterFirst pods ask the node's DNS (the gateway) with the cluster search path;
    hostNetwork pods only with ClusterFirstWithHostNet; Default pods get the host's file."""
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 10.213.0.254\nsearch example.org\n")
    dns = PodDns("10.42.0.1", "cluster.local", host)

    def conf(policy: str | None, host_network: bool = False) -> str:
        spec: dict[str, Any] = {"hostNetwork": host_network}
        if policy:
            spec["dnsPolicy"] = policy
        return dns.resolv_conf({"metadata": {"namespace": "team"}, "spec": spec})

    cluster = conf(None)
    assert "nameserver 10.42.0.1" in cluster and "options ndots:5" in cluster
    assert "search team.svc.cluster.local svc.cluster.local cluster.local" in cluster
    assert conf("Default") == host.read_text()
    assert conf("ClusterFirst", host_network=True) == host.read_text()
    assert "nameserver 10.42.0.1" in conf("ClusterFirstWithHostNet", host_network=True)
