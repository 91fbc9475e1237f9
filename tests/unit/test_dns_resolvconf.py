"""A pod's resolv.conf by dnsPolicy, hostNetwork and whether the node has cluster DNS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.dns.resolvconf import (
    MAX_SEARCH_CHARS,
    MAX_SEARCH_DOMAINS,
    parse_resolv_conf,
    pod_resolv_conf,
)

HOST = "# from DHCP\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example lan\n"
CLUSTER = ("nameserver 10.42.0.1\n"
           "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lan\n"
           "options ndots:5\n")


def conf(policy: str, host_network: bool = False, nameserver: str | None = "10.42.0.1",
         host: str = HOST, **kw: object) -> str:
    return pod_resolv_conf(policy, host_network, nameserver, "ns1", "cluster.local", host,
                           **kw)  # type: ignore[arg-type]


def test_cluster_first_uses_node_dns_search_path_and_ndots() -> None:
    """ClusterFirst: node DNS, cluster search path then the host's domains, ndots:5."""
    assert conf("ClusterFirst") == CLUSTER
    assert conf("") == CLUSTER  # unset = the default policy


def test_default_policy_is_the_hosts_file() -> None:
    """Default: the host's resolv.conf, word for word."""
    assert conf("Default") == HOST
    assert conf("Default", host="nameserver 192.0.2.9") == "nameserver 192.0.2.9\n"


def test_host_network_pods() -> None:
    """hostNetwork with ClusterFirst gets the host's file; ClusterFirstWithHostNet cluster DNS."""
    assert conf("ClusterFirst", host_network=True) == HOST
    assert conf("ClusterFirstWithHostNet", host_network=True) == CLUSTER
    assert conf("ClusterFirstWithHostNet", host_network=False) == CLUSTER


def test_no_pod_network_falls_back_to_the_host() -> None:
    """Without a node DNS address (no pod network) every policy gets the host's file."""
    for policy in ("ClusterFirst", "ClusterFirstWithHostNet", "Default"):
        assert conf(policy, nameserver=None) == HOST


def test_cluster_domain_and_namespace_shape_the_search_path() -> None:
    text = pod_resolv_conf("ClusterFirst", False, "10.9.0.1", "kube-system", "edge.example.",
                           "")
    assert text == ("nameserver 10.9.0.1\n"
                    "search kube-system.svc.edge.example svc.edge.example edge.example\n"
                    "options ndots:5\n")


def test_host_search_is_cut_to_glibc_limits_without_duplicates() -> None:
    """At most 6 domains; a host domain equal to a cluster one is not repeated."""
    host = "search cluster.local a.example b.example c.example d.example e.example\n"
    line = conf("ClusterFirst", host=host).splitlines()[1]
    assert line.split()[1:] == ["ns1.svc.cluster.local", "svc.cluster.local", "cluster.local",
                                "a.example", "b.example", "c.example"]


def test_domain_line_and_last_search_line_win() -> None:
    assert parse_resolv_conf("search a b\ndomain c\n").search == ["c"]
    assert parse_resolv_conf("domain c\nsearch a b ; comment\n").search == ["a", "b"]
    parsed = parse_resolv_conf("nameserver 1.2.3.4\noptions rotate timeout:1\n")
    assert parsed.nameservers == ["1.2.3.4"] and parsed.options == ["rotate", "timeout:1"]


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        conf("ClusterLast")


def test_dns_config_is_merged() -> None:
    """spec.dnsConfig: extra nameservers/searches appended, options override by name."""
    extra = {"nameservers": ["192.0.2.50"], "searches": ["extra.example"],
             "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    text = conf("ClusterFirst", dns_config=extra)
    assert text.splitlines() == [
        "nameserver 10.42.0.1", "nameserver 192.0.2.50",
        "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lan"
        " extra.example",
        "options ndots:2 edns0"]
    only = {"nameservers": ["192.0.2.7"], "searches": ["x.example"]}
    assert conf("None", dns_config=only) == "nameserver 192.0.2.7\nsearch x.example\n"
    assert conf("Default", dns_config=only).startswith(
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.7\n")


label = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(ns=label, host_search=st.lists(st.lists(label, min_size=1, max_size=3)
                                      .map(".".join), max_size=12))
def test_search_line_always_fits_glibc(ns: str, host_search: list[str]) -> None:
    """Any namespace and host search list: the cluster path first, within 6 / 256 chars."""
    host = "search " + " ".join(host_search) + "\n" if host_search else ""
    text = pod_resolv_conf("ClusterFirst", False, "10.42.0.1", ns, "cluster.local", host)
    search = text.splitlines()[1].split()[1:]
    assert search[:3] == [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert len(search) <= MAX_SEARCH_DOMAINS and len(" ".join(search)) <= MAX_SEARCH_CHARS
    assert len(set(search)) == len(search)
