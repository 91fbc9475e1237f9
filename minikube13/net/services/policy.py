"""NetworkPolicy decisions (pure): for each pod on this node, whether it is isolated for
ingress and egress, and what each direction admits.

A pod is isolated for ingress when its namespace carries the 1.3 annotation
`net.beta.kubernetes.io/network-policy: {"ingress": {"isolation": "DefaultDeny"}}`, or when
a policy of its namespace selects it with "Ingress" in `policyTypes` (today's rule; a
policy with no ingress rules then admits nothing). Egress isolation is today's rule only.
An isolated pod admits what any policy selecting it allows: peers by pod selector (in the
policy's namespace), namespace selector, both, or IP block; ports by number, range or
name (resolved through the isolated pod's own container ports). Host-network pods are
never isolated: they are the node.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from minikube13.model.selectors import LabelSelector, SelectorError, from_label_selector
from minikube13.net.services.inputs import PROTOCOLS, ipv4_key

Object = dict[str, Any]

ISOLATION_ANNOTATION = "net.beta.kubernetes.io/network-policy"
TERMINATED = ("Succeeded", "Failed")


@dataclass(frozen=True, order=True)
class PortRange:
    protocol: str  # tcp | udp | sctp
    first: int
    last: int


@dataclass(frozen=True, order=True)
class CidrPeer:
    cidr: str
    excepts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Allow:
    """One admitted flow: from/to any peer (`any_peer`) or the listed pod IPs and CIDRs,
    on any port (`ports` empty) or the listed ones."""

    any_peer: bool = False
    pod_ips: tuple[str, ...] = ()
    cidrs: tuple[CidrPeer, ...] = ()
    ports: tuple[PortRange, ...] = ()


@dataclass(frozen=True)
class PodPolicy:
    """An isolated pod of this node. `ingress`/`egress` None: that direction is open."""

    namespace: str
    name: str
    ip: str
    ingress: tuple[Allow, ...] | None = None
    egress: tuple[Allow, ...] | None = None

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}"


def _meta(obj: Object) -> Object:
    return obj.get("metadata") or {}


def _labels(obj: Object) -> dict[str, str]:
    return dict(_meta(obj).get("labels") or {})


def namespace_isolated(namespace: Object) -> bool:
    """The 1.3 DefaultDeny annotation on a Namespace."""
    text = (_meta(namespace).get("annotations") or {}).get(ISOLATION_ANNOTATION)
    if not text:
        return False
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    ingress = doc.get("ingress") if isinstance(doc, dict) else None
    return isinstance(ingress, dict) and ingress.get("isolation") == "DefaultDeny"


def _networked(pod: Object) -> bool:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    return bool(status.get("podIP")) and not spec.get("hostNetwork") and \
        status.get("phase") not in TERMINATED


@dataclass
class _Cluster:
    """What every decision reads, with memos: a rule's peers are the same for every pod
    the policy selects, and selectors are parsed once."""

    everyone: list[Object]
    namespaces: dict[str, Object]
    peers: dict[tuple[int, str, int], tuple[tuple[str, ...], tuple[CidrPeer, ...]]] = \
        field(default_factory=dict)
    selectors: dict[int, tuple[Any, LabelSelector]] = field(default_factory=dict)

    def selects(self, selector: Any, labels: dict[str, str]) -> bool:
        """metav1.LabelSelector semantics; a malformed one (refused at admission) and a
        missing one match nothing."""
        known = self.selectors.get(id(selector))
        if known is None:
            try:
                parsed = from_label_selector(selector if isinstance(selector, dict) else None)
            except SelectorError:
                parsed = from_label_selector(None)
            known = self.selectors[id(selector)] = (selector, parsed)  # pinned: id stays its
        return known[1].matches(labels)


def pod_policies(pods: Iterable[Object], policies: Iterable[Object],
                 namespaces: Iterable[Object], node_name: str) -> list[PodPolicy]:
    """The isolated pods bound to `node_name`, sorted by namespace and name."""
    cluster = _Cluster([p for p in pods if _networked(p)],
                       {_meta(n).get("name", ""): n for n in namespaces})
    by_ns: dict[str, list[Object]] = {}
    for policy in policies:
        by_ns.setdefault(_meta(policy).get("namespace", ""), []).append(policy)
    out: list[PodPolicy] = []
    for pod in cluster.everyone:
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            continue
        made = _pod_policy(pod, by_ns.get(_meta(pod).get("namespace", ""), []), cluster)
        if made is not None:
            out.append(made)
    return sorted(out, key=lambda p: (p.namespace, p.name))


def _pod_policy(pod: Object, policies: list[Object], cluster: _Cluster) -> PodPolicy | None:
    namespace = _meta(pod).get("namespace", "")
    selecting = [p for p in policies
                 if cluster.selects((p.get("spec") or {}).get("podSelector"), _labels(pod))]
    ingress_policies = [p for p in selecting if "Ingress" in _types(p)]
    egress_policies = [p for p in selecting if "Egress" in _types(p)]
    isolated_in = bool(ingress_policies) or \
        namespace_isolated(cluster.namespaces.get(namespace, {}))
    if not isolated_in and not egress_policies:
        return None
    ingress = _allows(ingress_policies, "ingress", pod, cluster) if isolated_in else None
    egress = _allows(egress_policies, "egress", pod, cluster) if egress_policies else None
    return PodPolicy(namespace, _meta(pod).get("name", ""), pod["status"]["podIP"],
                     ingress, egress)


def _allows(policies: list[Object], direction: str, pod: Object,
            cluster: _Cluster) -> tuple[Allow, ...]:
    """What the policies' rules of one direction admit for `pod`; rules that can admit
    nothing (no peer matched, no port resolved) are left out."""
    out = []
    for policy in policies:
        for index, rule in enumerate((policy.get("spec") or {}).get(direction) or []):
            allow = _allow(rule, (id(policy), direction, index), policy, pod, cluster)
            if allow.any_peer or allow.pod_ips or allow.cidrs:
                out.append(allow)
    return tuple(out)


def _types(policy: Object) -> list[str]:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _allow(rule: Object, key: tuple[int, str, int], policy: Object, pod: Object,
           cluster: _Cluster) -> Allow:
    ports = _ports(rule.get("ports") or [], pod)
    if rule.get("ports") and not ports:
        return Allow()  # only named ports this pod does not have: admits nothing
    peers = rule.get("from" if key[1] == "ingress" else "to")
    if not peers:
        return Allow(any_peer=True, ports=ports)
    if key not in cluster.peers:
        cluster.peers[key] = _peer_sets(peers, _meta(policy).get("namespace", ""), cluster)
    ips, cidrs = cluster.peers[key]
    return Allow(pod_ips=ips, cidrs=cidrs, ports=ports)


def _peer_sets(peers: list[Object], home: str,
               cluster: _Cluster) -> tuple[tuple[str, ...], tuple[CidrPeer, ...]]:
    ips: set[str] = set()
    cidrs: set[CidrPeer] = set()
    for peer in peers:
        block = peer.get("ipBlock")
        if isinstance(block, dict) and block.get("cidr"):
            cidrs.add(CidrPeer(str(block["cidr"]), tuple(sorted(block.get("except") or []))))
        else:
            ips.update(_peer_pod_ips(peer, home, cluster))
    return tuple(sorted(ips, key=ipv4_key)), tuple(sorted(cidrs))


def _peer_pod_ips(peer: Object, home: str, cluster: _Cluster) -> set[str]:
    pod_selector, ns_selector = peer.get("podSelector"), peer.get("namespaceSelector")
    if pod_selector is None and ns_selector is None:
        return set()
    found: set[str] = set()
    for other in cluster.everyone:
        other_ns = _meta(other).get("namespace", "")
        if ns_selector is None:
            in_scope = other_ns == home
        else:
            in_scope = cluster.selects(ns_selector,
                                       _labels(cluster.namespaces.get(other_ns, {})))
        if in_scope and (pod_selector is None or cluster.selects(pod_selector, _labels(other))):
            found.add(other["status"]["podIP"])
    return found


def _ports(ports: list[Object], pod: Object) -> tuple[PortRange, ...]:
    out: set[PortRange] = set()
    for port in ports:
        protocol = PROTOCOLS.get(str(port.get("protocol") or "TCP"))
        if protocol is None:
            continue
        number = port.get("port")
        if number is None:
            out.add(PortRange(protocol, 0, 65535))
        elif isinstance(number, int):
            out.add(PortRange(protocol, number, int(port.get("endPort") or number)))
        else:
            resolved = _named_port(pod, str(number), protocol)
            if resolved:
                out.add(PortRange(protocol, resolved, resolved))
    return tuple(sorted(out))


def _named_port(pod: Object, name: str, protocol: str) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and \
                    PROTOCOLS.get(str(port.get("protocol") or "TCP")) == protocol:
                return int(port.get("containerPort") or 0)
    return 0
