"""The service ruleset renderer: what each Service becomes in the node's nftables script."""

from __future__ import annotations

import random
import re

from services_objects import endpoints, ep_port, pod, port, service, subset

from minikube13.net.services.inputs import NodeInfo, service_ports
from minikube13.net.services.rules import render_ruleset

NODE = NodeInfo("n1", ("192.0.2.10",))


def render(services: list, eps: list, node: NodeInfo = NODE, pods: list | None = None) -> str:
    return render_ruleset(services, eps, pods or [], [], [], node)


def chain(text: str, name: str) -> list[str]:
    """The rules of one chain (comment and hook lines dropped)."""
    found = re.search(r"\tchain " + re.escape(name) + r" \{\n(.*?)\n\t\}", text, re.S)
    assert found, f"no chain {name} in\n{text}"
    return [line.strip() for line in found.group(1).splitlines()
            if not line.strip().startswith(("comment", "type "))]


def elements(text: str, name: str) -> str:
    found = re.search(r"\t(?:set|map) " + re.escape(name) + r" \{\n(.*?)\n\t\}", text, re.S)
    assert found, name
    match = re.search(r"elements = \{ (.*) \}", found.group(1))
    return match.group(1) if match else ""


WEB = service("web", "10.43.0.10", [port(80, name="http")])
WEB_EP = endpoints("web", [subset(["10.42.0.11", "10.42.0.12", "10.42.0.13"],
                                  [ep_port(8080, "http")], not_ready=["10.42.0.14"])])


def test_cluster_ip_balances_evenly_over_ready_backends_only() -> None:
    """Three ready backends: one DNAT rule choosing 0..2 at random; the unready one absent."""
    text = render([WEB], [WEB_EP])
    assert "10.43.0.10 . tcp . 80 : goto svc.default.web.tcp.80" in elements(text, "service-ips")
    [rule] = chain(text, "svc.default.web.tcp.80")
    assert rule == ("meta l4proto tcp dnat ip to numgen random mod 3 map { "
                    "0 : 10.42.0.11 . 8080, 1 : 10.42.0.12 . 8080, 2 : 10.42.0.13 . 8080 }")
    assert "10.42.0.14" not in text


def test_transaction_replaces_the_table_whole() -> None:
    """The script creates the table if missing, deletes it and defines it anew."""
    text = render([WEB], [WEB_EP])
    assert text.startswith("table inet minikube13 {}\ndelete table inet minikube13\n"
                           "table inet minikube13 {\n")
    assert "minikube13-masq" not in text and "minikube13-hostport" not in text


def test_no_ready_backend_is_rejected_not_routed() -> None:
    """With every pod unready, the port has no DNAT chain and is in the reject set."""
    eps = endpoints("web", [subset([], [ep_port(8080, "http")], not_ready=["10.42.0.11"])])
    text = render([WEB], [eps])
    assert "svc.default.web" not in text
    assert elements(text, "no-endpoints") == "10.43.0.10 . tcp . 80"
    assert "ip daddr . meta l4proto . th dport @no-endpoints reject" in chain(
        text, "refuse-prerouting")


def test_headless_and_external_name_get_no_rules() -> None:
    """clusterIP None and ExternalName Services leave no trace in the ruleset."""
    headless = service("db", "None", [port(5432)])
    external = {"metadata": {"name": "ext", "namespace": "default"},
                "spec": {"type": "ExternalName", "externalName": "example.org"}}
    eps = endpoints("db", [subset(["10.42.0.20"], [ep_port(5432)])])
    text = render([headless, external], [eps])
    assert "db" not in text and "ext" not in text and "10.42.0.20" not in text


def test_multiple_ports_and_named_target_ports() -> None:
    """Each service port maps to the subset port of the same name: http -> 8080 on one pod
    and 9090 on another (named targetPort resolved per pod), metrics -> 9100."""
    svc = service("web", "10.43.0.10", [port(80, name="http"), port(9100, name="metrics")])
    eps = endpoints("web", [
        subset(["10.42.0.11"], [ep_port(8080, "http"), ep_port(9100, "metrics")]),
        subset(["10.42.0.12"], [ep_port(9090, "http"), ep_port(9100, "metrics")])])
    text = render([svc], [eps])
    assert chain(text, "svc.default.web.tcp.80") == [
        "meta l4proto tcp dnat ip to numgen random mod 2 map { "
        "0 : 10.42.0.11 . 8080, 1 : 10.42.0.12 . 9090 }"]
    assert "10.42.0.12 . 9100" in chain(text, "svc.default.web.tcp.9100")[0]


def test_udp_port_is_its_own_entry() -> None:
    """A UDP port DNATs UDP only; one backend needs no random choice."""
    dns = service("dns", "10.43.0.53", [port(53, name="dns", protocol="UDP")])
    eps = endpoints("dns", [subset(["10.42.0.2"], [ep_port(53, "dns", "UDP")])])
    text = render([dns], [eps])
    assert "10.43.0.53 . udp . 53 : goto svc.default.dns.udp.53" in elements(text,
                                                                            "service-ips")
    assert chain(text, "svc.default.dns.udp.53") == [
        "meta l4proto udp dnat ip to 10.42.0.2:53"]


def test_node_port_answers_on_node_addresses_and_is_masqueraded() -> None:
    """NodePort 30080 is mapped on the node's addresses, marked for masquerade."""
    svc = service("web", "10.43.0.10", [port(80, name="http", node_port=30080)], kind="NodePort")
    text = render([svc], [WEB_EP])
    assert elements(text, "node-addresses") == "192.0.2.10"
    assert elements(text, "service-node-ports") == "tcp . 30080 : goto svc.default.web.tcp.80"
    services = chain(text, "services")
    assert "ip daddr @node-addresses meta l4proto . th dport @node-ports meta mark set " \
           "meta mark | 0x4000" in services
    assert "meta mark & 0x4000 == 0x4000 masquerade" in chain(text, "nat-postrouting")


def test_client_ip_affinity_uses_timeout_sets_per_backend() -> None:
    """ClientIP affinity: a remembered client goes back to its backend; a new one is spread
    at random and remembered for timeoutSeconds."""
    svc = service("web", "10.43.0.10", [port(80, name="http")], affinity="ClientIP",
                  timeout=600)
    text = render([svc], [WEB_EP])
    rules = chain(text, "svc.default.web.tcp.80")
    assert rules[0] == ("ip saddr @aff.default.web.tcp.80.10.42.0.11.8080 "
                        "goto ep.default.web.tcp.80.10.42.0.11.8080")
    assert rules[3].startswith("numgen random mod 3 vmap { 0 : goto ep.default.web")
    assert chain(text, "ep.default.web.tcp.80.10.42.0.12.8080") == [
        "update @aff.default.web.tcp.80.10.42.0.12.8080 { ip saddr }",
        "meta l4proto tcp dnat ip to 10.42.0.12:8080"]
    assert "timeout 600s" in text


def test_hairpin_masquerade_follows_br_netfilter() -> None:
    """With br_netfilter a pod reaching itself is masqueraded; without it every service flow
    between two pods of the bridge is, and a bridge table routes isolated pods' frames."""
    local = [pod("a", "10.42.0.11", {"app": "web"}),
             pod("b", "10.42.0.12", {"app": "web"}, node="n2")]
    on = render([WEB], [WEB_EP], pods=local)
    assert "ct status dnat ip saddr . ip daddr @hairpin masquerade" in chain(on,
                                                                             "nat-postrouting")
    assert elements(on, "hairpin") == "10.42.0.11 . 10.42.0.11"  # this node's pods only
    assert "table bridge minikube13 {\n" not in on
    off = NodeInfo("n1", ("192.0.2.10",), bridge_netfilter=False, bridge_mac="02:00:00:00:00:01")
    text = render([WEB], [WEB_EP], off)
    assert 'ct status dnat iifname "m13br0" oifname "m13br0" masquerade' in chain(
        text, "nat-postrouting")


def test_unknown_ports_of_the_service_range_are_refused() -> None:
    """Traffic to the service CIDR on a port no Service defines is rejected."""
    text = render([WEB], [WEB_EP])
    assert "ip daddr 10.43.0.0/16 ip daddr . meta l4proto . th dport != @service-ports " \
           "reject" in chain(text, "refuse-prerouting")


def test_external_ips_and_non_cluster_sources_are_served_and_masqueraded() -> None:
    """An externalIP is one more address of the port; sources outside the cluster CIDR get
    the masquerade mark."""
    svc = service("web", "10.43.0.10", [port(80, name="http")], external_ips=["198.51.100.7"])
    text = render([svc], [WEB_EP])
    assert "198.51.100.7 . tcp . 80 : goto svc.default.web.tcp.80" in elements(
        text, "service-ips")
    assert "ip daddr . meta l4proto . th dport @service-ports ip saddr != 10.42.0.0/16 " \
           "meta mark set meta mark | 0x4000" in chain(text, "services")


def test_output_is_independent_of_input_order() -> None:
    """The same objects in any order render the same text (so no needless re-apply)."""
    services = [service(f"s{i}", f"10.43.1.{i}", [port(80)]) for i in range(1, 30)]
    eps = [endpoints(f"s{i}", [subset([f"10.42.{i}.{j}" for j in range(1, 5)], [ep_port(80)])])
           for i in range(1, 30)]
    first = render(services, eps)
    rng = random.Random(3)
    rng.shuffle(services)
    rng.shuffle(eps)
    for e in eps:
        rng.shuffle(e["subsets"][0]["addresses"])
    assert render(services, eps) == first


def test_service_ports_model() -> None:
    """service_ports lists each port with its addresses and backends, skipping unallocated
    Services (no clusterIP yet)."""
    pending = service("new", "", [port(80)])
    ports = service_ports([WEB, pending], [WEB_EP])
    assert [(p.name, p.addresses, len(p.backends)) for p in ports] == [
        ("web", ("10.43.0.10",), 3)]


def test_pods_of_other_nodes_do_not_change_the_rules() -> None:
    """Without policies, pods on other nodes leave the ruleset unchanged."""
    pods = [pod("a", "10.42.0.11", {"app": "web"}, node="n2")]
    assert render([WEB], [WEB_EP], pods=pods) == render([WEB], [WEB_EP])
