"""NetworkPolicy decisions: which pods of the node are isolated and what they admit, and the
chains the renderer makes of it."""

from __future__ import annotations

from services_objects import namespace, pod, policy

from minikube13.net.services.inputs import NodeInfo
from minikube13.net.services.policy import Allow, CidrPeer, PortRange, pod_policies
from minikube13.net.services.rules import render_ruleset

NS = [namespace("default"), namespace("prod", {"env": "prod"}),
      namespace("dev", {"env": "dev"})]
PODS = [
    pod("db", "10.42.0.10", {"app": "db"}, ports=[{"name": "pg", "containerPort": 5432}]),
    pod("web", "10.42.0.11", {"app": "web"}),
    pod("other-node", "10.42.1.12", {"app": "web"}, node="n2"),
    pod("prod-client", "10.42.1.13", {"app": "client"}, ns="prod", node="n2"),
    pod("dev-client", "10.42.0.14", {"app": "client"}, ns="dev"),
    pod("host", "192.0.2.1", {"app": "db"}, hostNetwork=True),
]


def decide(policies: list, namespaces: list | None = None) -> dict[str, object]:
    found = pod_policies(PODS, policies, namespaces or NS, "n1")
    return {f"{p.namespace}/{p.name}": p for p in found}


def test_no_policy_isolates_nothing() -> None:
    """Without policies or annotations every pod is open."""
    assert decide([]) == {}


def test_deny_all_v1_policy() -> None:
    """A v1 policy selecting every pod with Ingress and no rules admits nothing."""
    found = decide([policy("deny", {}, types=["Ingress"])])
    assert set(found) == {"default/db", "default/web"}  # this node's, not the host pod
    assert all(p.ingress == () and p.egress is None for p in found.values())


def test_13_namespace_annotation_isolates_and_policies_admit() -> None:
    """DefaultDeny on the namespace isolates its pods; a policy admits app=web to the db."""
    namespaces = [namespace("default", deny=True), *NS[1:]]
    allow = policy("allow-web", {"matchLabels": {"app": "db"}},
                   ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
                   types=["Ingress"])
    found = decide([allow], namespaces)
    assert found["default/web"].ingress == ()
    assert found["default/db"].ingress == (
        Allow(pod_ips=("10.42.0.11", "10.42.1.12")),)


def test_namespace_selector_and_both_selectors() -> None:
    """namespaceSelector admits every pod of matching namespaces; with a podSelector too,
    only matching pods there."""
    rule = {"from": [{"namespaceSelector": {"matchLabels": {"env": "prod"}}},
                     {"namespaceSelector": {"matchLabels": {"env": "dev"}},
                      "podSelector": {"matchLabels": {"app": "nope"}}}]}
    found = decide([policy("p", {"matchLabels": {"app": "db"}}, ingress=[rule])])
    assert found["default/db"].ingress == (Allow(pod_ips=("10.42.1.13",)),)


def test_ports_named_ranges_and_ip_blocks() -> None:
    """A named port resolves through the isolated pod's containers; endPort gives a range;
    an ipBlock keeps its exceptions."""
    rule = {"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.42.0.0/16"]}}],
            "ports": [{"port": "pg", "protocol": "TCP"},
                      {"port": 7000, "endPort": 7010, "protocol": "UDP"}]}
    found = decide([policy("p", {"matchLabels": {"app": "db"}}, ingress=[rule])])
    assert found["default/db"].ingress == (Allow(
        cidrs=(CidrPeer("10.0.0.0/8", ("10.42.0.0/16",)),),
        ports=(PortRange("tcp", 5432, 5432), PortRange("udp", 7000, 7010))),)


def test_a_rule_of_unknown_named_ports_admits_nothing() -> None:
    """A rule whose only port is a name the pod lacks allows nothing (still isolated)."""
    rule = {"ports": [{"port": "missing"}]}
    found = decide([policy("p", {"matchLabels": {"app": "web"}}, ingress=[rule])])
    assert found["default/web"].ingress == ()


def test_empty_rule_admits_everyone() -> None:
    """An ingress rule `{}` admits every source on every port."""
    found = decide([policy("p", {"matchLabels": {"app": "web"}}, ingress=[{}])])
    assert found["default/web"].ingress == (Allow(any_peer=True),)


def test_egress_policy_isolates_egress_only() -> None:
    """policyTypes [Egress] with a rule: egress restricted, ingress left open."""
    found = decide([policy("p", {"matchLabels": {"app": "web"}}, types=["Egress"],
                           egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
                                    "ports": [{"port": 5432}]}])])
    web = found["default/web"]
    assert web.ingress is None
    assert web.egress == (Allow(pod_ips=("10.42.0.10",), ports=(PortRange("tcp", 5432, 5432),)),)


def test_rendered_policy_chains() -> None:
    """Isolated pods get a chain: allowed sources/ports accepted, then drop; established
    flows pass first."""
    allow = policy("p", {"matchLabels": {"app": "db"}}, types=["Ingress"], ingress=[
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "pg"}]}])
    text = render_ruleset([], [], PODS, [allow], NS, NodeInfo("n1"))
    assert "10.42.0.10 : goto ingress.default.db" in text
    assert ("\t\tip saddr { 10.42.0.11, 10.42.1.12 } meta l4proto tcp th dport { 5432 } "
            "accept\n\t\tdrop\n") in text
    forward = text[text.index("chain filter-forward"):]
    assert forward.index("ct state established,related accept") < \
        forward.index("ip daddr vmap @pod-ingress")


def test_bridge_table_when_br_netfilter_is_off() -> None:
    """Without br_netfilter, frames to isolated pods are handed up to the node to be
    routed (destination MAC = the bridge's)."""
    node = NodeInfo("n1", bridge_netfilter=False, bridge_mac="02:00:00:00:00:01")
    text = render_ruleset([], [], PODS, [policy("deny", {}, types=["Ingress"])], NS, node)
    bridge = text[text.index("table bridge minikube13 {\n"):]
    assert "elements = { 10.42.0.10, 10.42.0.11 }" in bridge
    assert "ip daddr @isolated-in ether daddr != 02:00:00:00:00:01 ether daddr set " \
           "02:00:00:00:00:01 meta pkttype set host" in bridge
