"""NetworkPolicy: networking.k8s.io/v1 (stored) and extensions/v1beta1 (the 1.3 spelling).

Both versions have one shape (v1beta1 grew policyTypes, egress and ipBlock alongside v1),
so the registry's apiVersion rewrite is the whole conversion. In 1.3 a namespace was isolated by its annotation
`net.beta.kubernetes.io/network-policy: {"ingress": {"isolation": "DefaultDeny"}}` and
policies only admitted traffic; today any policy selecting a pod isolates it for the
directions in its `policyTypes` (default Ingress, plus Egress when it has egress rules).
The proxy (net.services) honours both.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model import validation as v
from minikube13.model.errors import FieldError
from minikube13.model.groups.core_container import port_name_problems, validate_port_number
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    LABEL_SELECTOR,
    NAME_COLUMN,
    name_of,
    obj,
    object_age,
    top_level,
)
from minikube13.model.groups.workload import format_selector
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import Arr, IntOrString, integer, string

V1 = "networking.k8s.io/v1"
V1BETA1 = "extensions/v1beta1"
ISOLATION_ANNOTATION = "net.beta.kubernetes.io/network-policy"
PROTOCOLS = ["SCTP", "TCP", "UDP"]
POLICY_TYPES = ["Ingress", "Egress"]
_API = "io.k8s.api.networking.v1"

PORT = obj(f"{_API}.NetworkPolicyPort", "NetworkPolicyPort describes a port to allow "
           "traffic on", {
               "protocol": string("protocol represents the protocol (TCP, UDP, or SCTP) which "
                                  "traffic must match. If not specified, this field defaults "
                                  "to TCP.", enum=("SCTP", "TCP", "UDP")),
               "port": IntOrString(description="port represents the port on the given "
                                               "protocol: a numerical or named port."),
               "endPort": integer("endPort indicates that the range of ports from port to "
                                  "endPort if set, inclusive, should be allowed."),
           })
IP_BLOCK = obj(f"{_API}.IPBlock", "IPBlock describes a particular CIDR that is allowed to "
               "the pods matched by a NetworkPolicySpec's podSelector.", {
                   "cidr": string("cidr is a string representing the IPBlock"),
                   "except": Arr(items=string(), description="except is a slice of CIDRs "
                                 "that should not be included within an IPBlock"),
               }, required=("cidr",))
PEER = obj(f"{_API}.NetworkPolicyPeer", "NetworkPolicyPeer describes a peer to allow traffic "
           "to/from.", {
               "podSelector": LABEL_SELECTOR.with_description(
                   "podSelector is a label selector which selects pods."),
               "namespaceSelector": LABEL_SELECTOR.with_description(
                   "namespaceSelector selects namespaces using cluster-scoped labels."),
               "ipBlock": IP_BLOCK,
           })
INGRESS_RULE = obj(f"{_API}.NetworkPolicyIngressRule", "NetworkPolicyIngressRule describes "
                   "a particular set of traffic that is allowed to the pods matched by a "
                   "NetworkPolicySpec's podSelector.", {
                       "ports": Arr(items=PORT, list_type="atomic"),
                       "from": Arr(items=PEER, list_type="atomic"),
                   })
EGRESS_RULE = obj(f"{_API}.NetworkPolicyEgressRule", "NetworkPolicyEgressRule describes a "
                  "particular set of traffic that is allowed out of pods matched by a "
                  "NetworkPolicySpec's podSelector.", {
                      "ports": Arr(items=PORT, list_type="atomic"),
                      "to": Arr(items=PEER, list_type="atomic"),
                  })
SPEC = obj(f"{_API}.NetworkPolicySpec", "NetworkPolicySpec provides the specification of a "
           "NetworkPolicy", {
               "podSelector": LABEL_SELECTOR.with_description(
                   "podSelector selects the pods to which this NetworkPolicy object applies. "
                   "An empty podSelector selects all pods in the namespace."),
               "ingress": Arr(items=INGRESS_RULE, list_type="atomic"),
               "egress": Arr(items=EGRESS_RULE, list_type="atomic"),
               "policyTypes": Arr(items=string(enum=("Egress", "Ingress")),
                                  list_type="atomic"),
           })
NETWORK_POLICY = top_level(f"{_API}.NetworkPolicy", "NetworkPolicy describes what network "
                           "traffic is allowed for a set of Pods", {"spec": SPEC})


def default_policy(policy: Object) -> Object:
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return policy
    spec.setdefault("podSelector", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
    return policy


def validate_policy(policy: Object, old: Object | None) -> list[FieldError]:
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return [fe.required("spec")]
    out = v.validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for i, rule in enumerate(spec.get("ingress") or []):
        out += _validate_rule(rule, "from", f"spec.ingress[{i}]")
    for i, rule in enumerate(spec.get("egress") or []):
        out += _validate_rule(rule, "to", f"spec.egress[{i}]")
    types = spec.get("policyTypes") or []
    for i, kind in enumerate(types):
        if kind not in POLICY_TYPES:
            out.append(fe.not_supported(f"spec.policyTypes[{i}]", kind, POLICY_TYPES))
        elif kind in types[:i]:
            out.append(fe.duplicate(f"spec.policyTypes[{i}]", kind))
    return out


def _validate_rule(rule: Any, peers_key: str, path: str) -> list[FieldError]:
    if not isinstance(rule, dict):
        return []
    out: list[FieldError] = []
    for j, port in enumerate(rule.get("ports") or []):
        out += _validate_port(port, f"{path}.ports[{j}]")
    for j, peer in enumerate(rule.get(peers_key) or []):
        out += _validate_peer(peer, f"{path}.{peers_key}[{j}]")
    return out


def _validate_port(port: Object, path: str) -> list[FieldError]:
    out: list[FieldError] = []
    if port.get("protocol") not in PROTOCOLS:
        out.append(fe.not_supported(f"{path}.protocol", port.get("protocol"), PROTOCOLS))
    number = port.get("port")
    if isinstance(number, int):
        out += validate_port_number(number, f"{path}.port")
    elif isinstance(number, str):
        out += v.check_value(f"{path}.port", number, port_name_problems)
    end = port.get("endPort")
    if end is not None:
        if not isinstance(number, int):
            out.append(fe.forbidden(f"{path}.endPort", "may not be specified when `port` is "
                                    "non-numeric"))
        elif not isinstance(end, int) or end < number:
            out.append(fe.invalid(f"{path}.endPort", end, "must be greater than or equal to "
                                  "`port`"))
    return out


def _validate_peer(peer: Object, path: str) -> list[FieldError]:
    kinds = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
    if not kinds:
        return [fe.required(path, "must specify a peer")]
    out: list[FieldError] = []
    if "ipBlock" in kinds and len(kinds) > 1:
        out.append(fe.forbidden(path, "may not specify more than 1 peer type"))
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            out += v.validate_label_selector(peer[key], f"{path}.{key}")
    block = peer.get("ipBlock")
    if isinstance(block, dict):
        out += _validate_ip_block(block, f"{path}.ipBlock")
    return out


def _validate_ip_block(block: Object, path: str) -> list[FieldError]:
    try:
        cidr = ipaddress.ip_network(str(block.get("cidr") or ""), strict=False)
    except ValueError:
        return [fe.invalid(f"{path}.cidr", block.get("cidr", ""), "must be a valid CIDR")]
    out: list[FieldError] = []
    for i, text in enumerate(block.get("except") or []):
        try:
            inner = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            out.append(fe.invalid(f"{path}.except[{i}]", text, "must be a valid CIDR"))
            continue
        if inner.version != cidr.version or not inner.subnet_of(cidr):  # type: ignore[arg-type]
            out.append(fe.invalid(f"{path}.except[{i}]", text, "must be a strict subset of "
                                  "`cidr`"))
    return out


def policy_cells(policy: Object, now: datetime) -> list[Any]:
    selector = (policy.get("spec") or {}).get("podSelector") or {}
    return [name_of(policy), format_selector(selector), object_age(policy, now)]


objects.register(KindSpec(
    "networkpolicies", NETWORK_POLICY, default=default_policy, validate=validate_policy,
    columns=(NAME_COLUMN, Column("Pod-Selector", description="podSelector selects the pods "
                                 "to which this NetworkPolicy object applies."), AGE_COLUMN),
    cells=policy_cells))
