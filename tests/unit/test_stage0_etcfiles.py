"""The pod's /etc/hosts, /etc/resolv.conf and hostname (pure text)."""

from __future__ import annotations

from minikube13.runtime.etcfiles import hostname_text, hosts_text, pod_hostname, resolv_text


def test_hostname_is_the_pod_name_cut_to_63() -> None:
    """Without spec.hostname the pod name is the hostname, cut to 63 chars without '-'."""
    name = "a" * 62 + "-bbb"
    assert pod_hostname({"metadata": {"name": name}}) == ("a" * 62, "")
    assert pod_hostname({"metadata": {"name": "web"}}) == ("web", "")


def test_spec_hostname_and_subdomain_win_over_annotations() -> None:
    """spec.hostname/subdomain, else the 1.3 beta annotations."""
    ann = {"pod.beta.kubernetes.io/hostname": "h1", "pod.beta.kubernetes.io/subdomain": "s1"}
    assert pod_hostname({"metadata": {"name": "p", "annotations": ann}}) == ("h1", "s1")
    pod = {"metadata": {"name": "p", "annotations": ann},
           "spec": {"hostname": "h2", "subdomain": "s2"}}
    assert pod_hostname(pod) == ("h2", "s2")


def test_hosts_has_localhost_and_the_pod_fqdn() -> None:
    """localhost lines, then podIP with fqdn (subdomain) and short name."""
    text = hosts_text("web-0", "web", "ns1", "10.1.0.5")
    assert "127.0.0.1\tlocalhost\n" in text and "::1\tlocalhost" in text
    assert text.endswith("10.1.0.5\tweb-0.web.ns1.svc.cluster.local\tweb-0\n")
    assert hosts_text("p", "", "ns1", "").endswith("127.0.1.1\tp\n")


def test_resolv_with_cluster_dns() -> None:
    """Cluster DNS servers: nameservers, the cluster search path (+ extra), ndots:5."""
    text = resolv_text("ns1", ["10.0.0.10"], ["corp.example"], "nameserver 1.1.1.1\n")
    assert text == ("nameserver 10.0.0.10\n"
                    "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
                    "options ndots:5\n")


def test_resolv_falls_back_to_the_hosts() -> None:
    """No cluster DNS (or dnsPolicy Default): the host's resolv.conf as it is."""
    host = "nameserver 192.0.2.1\nsearch lan"
    assert resolv_text("ns1", [], [], host) == host + "\n"
    assert resolv_text("ns1", ["10.0.0.10"], [], host, dns_policy="Default") == host + "\n"


def test_hostname_file() -> None:
    """/etc/hostname holds the name and a newline."""
    assert hostname_text("web") == "web\n"
