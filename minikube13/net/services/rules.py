"""The node's service and NetworkPolicy ruleset as one `nft -f` script (pure).

Table `inet minikube13`, swapped whole in one transaction (create-if-missing, delete,
define), holds:

* nat: `services` maps ClusterIP/externalIP . proto . port (and node address + nodePort)
  to one chain per service port, which DNATs to a ready backend chosen evenly at random
  (`numgen random mod N`); with ClientIP affinity each backend has a timeout set of the
  clients it served, checked first. NodePort, externalIP and non-cluster sources are marked
  for masquerade; a pod reaching itself through its Service is masqueraded (hairpin).
* filter: traffic to a service port with no ready backend, or to an unknown port of the
  service range, is rejected; traffic to (from) a pod isolated by NetworkPolicy goes to
  that pod's ingress (egress) chain, which accepts what its policies allow and drops the
  rest. Established flows always pass.

Where br_netfilter is off (bridged pod-to-pod frames skip the inet hooks), service traffic
between two pods of the bridge is masqueraded so answers come back through the DNAT, and a
`bridge minikube13` table routes frames to/from isolated pods up through the node so the
policy chains see them.

Measured in test namespaces (kernel 6.18, nft 1.0.6): bridge-nf-call-iptables is per
namespace and 1 in a new one, and then bridged pod-to-pod IPv4 passes the inet forward hook
(iifname/oifname = the bridge) with conntrack; `ct` in the bridge family fails (no
nf_conntrack_bridge) and `meta ibrname` is refused in inet, so policy cannot be stateful
on the bridge itself. Without br_netfilter a DNAT to a pod on the same bridge breaks
(the answer is bridged straight back) unless masqueraded. With it, hairpin needs the
port's hairpin mode (the proxy turns it on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from minikube13.net.services.inputs import Backend, NodeInfo, ServicePort, service_ports
from minikube13.net.services.policy import Allow, PodPolicy, PortRange, pod_policies

TABLE = "minikube13"
MASQ_MARK = 0x4000  # hostport (net.hostport) uses 0x2000
Object = dict[str, object]


def render_ruleset(services: Iterable[Object], endpoints: Iterable[Object],
                   pods: Iterable[Object], policies: Iterable[Object],
                   namespaces: Iterable[Object], node: NodeInfo) -> str:
    """The whole nft script for this node (tables `inet minikube13`, `bridge minikube13`)."""
    pods = list(pods)
    ports = service_ports(services, endpoints)
    isolated = pod_policies(pods, policies, namespaces, node.name)
    return render(ports, isolated, node, _local_pod_ips(pods, node.name))


def _local_pod_ips(pods: Iterable[Object], node_name: str) -> frozenset[str]:
    out = set()
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        if isinstance(spec, dict) and isinstance(status, dict) and \
                spec.get("nodeName") == node_name and status.get("podIP"):
            out.add(str(status["podIP"]))
    return frozenset(out)


def render(ports: Sequence[ServicePort], isolated: Sequence[PodPolicy], node: NodeInfo,
           local_ips: frozenset[str] = frozenset()) -> str:
    """The script from decided inputs; `local_ips` are this node's pods (hairpin)."""
    body: list[str] = []
    body += _declarations(ports, isolated, node, local_ips)
    body += _base_chains(node)
    for port in ports:
        if port.backends:
            body += _service_chains(port)
    for pod in isolated:
        body += _policy_chains(pod)
    text = replace_table("inet", TABLE, "".join(body))
    bridge = "" if node.bridge_netfilter else _bridge_body(isolated, node)
    return text + replace_table("bridge", TABLE, bridge)


def remove_ruleset() -> str:
    """The script that removes every table this module owns."""
    return replace_table("inet", TABLE, "") + replace_table("bridge", TABLE, "")


def replace_table(family: str, name: str, body: str) -> str:
    """Create-if-missing, delete, define: one transaction swaps (or drops) the table."""
    text = f"table {family} {name} {{}}\ndelete table {family} {name}\n"
    return text + (f"table {family} {name} {{\n{body}}}\n" if body else "")


# -- declarations -------------------------------------------------------------------------


def _set(name: str, kind: str, elements: Iterable[str], extra: str = "") -> list[str]:
    items = sorted(set(elements))
    lines = [f"\tset {name} {{\n", f"\t\ttype {kind}\n"]
    if extra:
        lines.append(f"\t\t{extra}\n")
    if items:
        lines.append(f"\t\telements = {{ {', '.join(items)} }}\n")
    return lines + ["\t}\n"]


def _map(name: str, kind: str, elements: Iterable[str]) -> list[str]:
    lines = [f"\tmap {name} {{\n", f"\t\ttype {kind} : verdict\n"]
    items = sorted(set(elements))
    if items:
        lines.append(f"\t\telements = {{ {', '.join(items)} }}\n")
    return lines + ["\t}\n"]


def _declarations(ports: Sequence[ServicePort], isolated: Sequence[PodPolicy],
                  node: NodeInfo, local_ips: frozenset[str]) -> list[str]:
    key = "ipv4_addr . inet_proto . inet_service"
    served = [p for p in ports if p.backends]
    empty = [p for p in ports if not p.backends]
    out = _set("node-addresses", "ipv4_addr", node.addresses)
    out += _set("service-ports", key, (f"{a} . {p.protocol} . {p.port}"
                                       for p in ports for a in p.addresses))
    out += _set("no-endpoints", key, (f"{a} . {p.protocol} . {p.port}"
                                      for p in empty for a in p.addresses))
    out += _set("node-ports", "inet_proto . inet_service",
                (f"{p.protocol} . {p.node_port}" for p in served if p.node_port))
    out += _set("no-endpoint-node-ports", "inet_proto . inet_service",
                (f"{p.protocol} . {p.node_port}" for p in empty if p.node_port))
    out += _set("hairpin", "ipv4_addr . ipv4_addr",  # a local pod reaching itself
                (f"{b.ip} . {b.ip}" for p in served for b in p.backends if b.ip in local_ips))
    out += _map("service-ips", key, (f"{a} . {p.protocol} . {p.port} : goto "
                                     f"{_svc_chain(p)}" for p in served for a in p.addresses))
    out += _map("service-node-ports", "inet_proto . inet_service",
                (f"{p.protocol} . {p.node_port} : goto {_svc_chain(p)}"
                 for p in served if p.node_port))
    out += _map("pod-ingress", "ipv4_addr", (f"{pod.ip} : goto ingress.{pod.label}"
                                             for pod in isolated if pod.ingress is not None))
    out += _map("pod-egress", "ipv4_addr", (f"{pod.ip} : goto egress.{pod.label}"
                                            for pod in isolated if pod.egress is not None))
    for port in served:
        if port.affinity_timeout:
            for backend in port.backends:
                out += _set(_affinity_set(port, backend), "ipv4_addr", (),
                            f"flags dynamic,timeout; timeout {port.affinity_timeout}s;")
    return out


def _chain(name: str, rules: Iterable[str], hook: str = "") -> list[str]:
    lines = [f"\tchain {name} {{\n"]
    if hook:
        lines.append(f"\t\t{hook}\n")
    return lines + [f"\t\t{rule}\n" for rule in rules] + ["\t}\n"]


def _base_chains(node: NodeInfo) -> list[str]:
    mark = f"meta mark set meta mark | {MASQ_MARK:#x}"
    l4 = "meta l4proto . th dport"
    services = [
        f"ip daddr . {l4} @service-ports ip saddr != {node.cluster_cidr} {mark}",
        f"ip daddr . {l4} vmap @service-ips",
        f"ip daddr @node-addresses {l4} @node-ports {mark}",
        f"ip daddr @node-addresses {l4} vmap @service-node-ports",
    ]
    postrouting = [f"meta mark & {MASQ_MARK:#x} == {MASQ_MARK:#x} masquerade"]
    if node.bridge_netfilter:
        postrouting.append("ct status dnat ip saddr . ip daddr @hairpin masquerade")
    else:  # answers between two pods of the bridge would skip the un-DNAT: masquerade
        postrouting.append(f'ct status dnat iifname "{node.bridge}" oifname "{node.bridge}" '
                           "masquerade")
    refuse = [f"ip daddr . {l4} @no-endpoints reject",
              f"ip daddr {node.service_cidr} ip daddr . {l4} != @service-ports reject"]
    policy = ["ct state established,related accept", "ip daddr vmap @pod-ingress",
              "ip saddr vmap @pod-egress"]
    return (
        _chain("nat-prerouting", ["jump services"],
               "type nat hook prerouting priority dstnat; policy accept;")
        + _chain("nat-output", ["jump services"],
                 "type nat hook output priority -100; policy accept;")
        + _chain("nat-postrouting", postrouting,
                 "type nat hook postrouting priority srcnat; policy accept;")
        + _chain("services", services)
        + _chain("refuse-prerouting", refuse,
                 "type filter hook prerouting priority -110; policy accept;")
        + _chain("refuse-output", refuse,
                 "type filter hook output priority -110; policy accept;")
        + _chain("filter-input", ["ct state established,related accept",
                                  f"ip daddr @node-addresses {l4} @no-endpoint-node-ports "
                                  "reject", "ip saddr vmap @pod-egress"],
                 "type filter hook input priority filter; policy accept;")
        + _chain("filter-forward", policy,
                 "type filter hook forward priority filter; policy accept;")
    )


# -- services -----------------------------------------------------------------------------


def _svc_chain(port: ServicePort) -> str:
    return f"svc.{port.label}"


def _endpoint_chain(port: ServicePort, backend: Backend) -> str:
    return f"ep.{port.label}.{backend.ip}.{backend.port}"


def _affinity_set(port: ServicePort, backend: Backend) -> str:
    return f"aff.{port.label}.{backend.ip}.{backend.port}"


def _dnat(port: ServicePort, backends: Sequence[Backend]) -> str:
    head = f"meta l4proto {port.protocol} dnat ip to"
    if len(backends) == 1:
        return f"{head} {backends[0].ip}:{backends[0].port}"
    choices = ", ".join(f"{i} : {b.ip} . {b.port}" for i, b in enumerate(backends))
    return f"{head} numgen random mod {len(backends)} map {{ {choices} }}"


def _service_chains(port: ServicePort) -> list[str]:
    comment = f'comment "{port.namespace}/{port.name}:{port.port_name or port.port}"'
    if not port.affinity_timeout:
        return _chain(_svc_chain(port), [_dnat(port, port.backends)], comment)
    rules = [f"ip saddr @{_affinity_set(port, b)} goto {_endpoint_chain(port, b)}"
             for b in port.backends]
    choices = ", ".join(f"{i} : goto {_endpoint_chain(port, b)}"
                        for i, b in enumerate(port.backends))
    rules.append(f"numgen random mod {len(port.backends)} vmap {{ {choices} }}")
    out = _chain(_svc_chain(port), rules, comment)
    for backend in port.backends:
        out += _chain(_endpoint_chain(port, backend), [
            f"update @{_affinity_set(port, backend)} {{ ip saddr }}", _dnat(port, [backend])])
    return out


# -- network policy -----------------------------------------------------------------------


def _policy_chains(pod: PodPolicy) -> list[str]:
    out: list[str] = []
    comment = f'comment "{pod.namespace}/{pod.name}"'
    if pod.ingress is not None:
        rules = [r for allow in pod.ingress for r in _allow_rules(allow, "saddr")]
        out += _chain(f"ingress.{pod.label}", [*rules, "drop"], comment)
    if pod.egress is not None:
        rules = [r for allow in pod.egress for r in _allow_rules(allow, "daddr")]
        out += _chain(f"egress.{pod.label}", [*rules, "drop"], comment)
    return out


def _allow_rules(allow: Allow, field: str) -> list[str]:
    peers: list[str] = []
    if allow.any_peer:
        peers.append("")
    if allow.pod_ips:
        peers.append(f"ip {field} {{ {', '.join(allow.pod_ips)} }} ")
    for block in allow.cidrs:
        excepts = f"ip {field} != {{ {', '.join(block.excepts)} }} " if block.excepts else ""
        peers.append(f"ip {field} {block.cidr} {excepts}")
    return [f"{peer}{ports}accept" for peer in peers for ports in _port_matches(allow.ports)]


def _port_matches(ports: Sequence[PortRange]) -> list[str]:
    if not ports:
        return [""]
    by_protocol: dict[str, list[str]] = {}
    for p in ports:
        whole = p.first <= 1 and p.last >= 65535
        text = "" if whole else (str(p.first) if p.first == p.last else f"{p.first}-{p.last}")
        by_protocol.setdefault(p.protocol, []).append(text)
    out = []
    for protocol, items in sorted(by_protocol.items()):
        if "" in items:
            out.append(f"meta l4proto {protocol} ")
        else:
            out.append(f"meta l4proto {protocol} th dport {{ {', '.join(items)} }} ")
    return out


# -- bridge (br_netfilter off) ------------------------------------------------------------


def _bridge_body(isolated: Sequence[PodPolicy], node: NodeInfo) -> str:
    """Frames between two ports of the bridge to/from an isolated pod are handed up to
    the node (destination MAC = the bridge's), which routes them through the inet hooks."""
    if not node.bridge_mac or not isolated:
        return ""
    mac = node.bridge_mac
    to_node = f"ether daddr != {mac} ether daddr set {mac} meta pkttype set host"
    lines = _set("isolated-in", "ipv4_addr", (p.ip for p in isolated if p.ingress is not None))
    lines += _set("isolated-out", "ipv4_addr", (p.ip for p in isolated if p.egress is not None))
    lines += _chain("route-isolated", [
        f'iifname != "{node.bridge}" ether type ip ip daddr @isolated-in {to_node}',
        f'iifname != "{node.bridge}" ether type ip ip saddr @isolated-out {to_node}',
    ], "type filter hook prerouting priority -300; policy accept;")
    return "".join(lines)
