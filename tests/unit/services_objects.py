"""Object factories for the service-proxy and NetworkPolicy unit tests (canonical shapes,
as the registry stores them)."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def service(name: str, cluster_ip: str, ports: list[Object], *, ns: str = "default",
            kind: str = "ClusterIP", affinity: str = "None", timeout: int | None = None,
            external_ips: list[str] | None = None) -> Object:
    spec: Object = {"type": kind, "clusterIP": cluster_ip, "sessionAffinity": affinity,
                    "selector": {"app": name}, "ports": ports}
    if timeout is not None:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": timeout}}
    if external_ips:
        spec["externalIPs"] = external_ips
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def port(number: int, *, name: str = "", protocol: str = "TCP", node_port: int = 0) -> Object:
    out: Object = {"port": number, "protocol": protocol, "targetPort": number}
    if name:
        out["name"] = name
    if node_port:
        out["nodePort"] = node_port
    return out


def endpoints(name: str, subsets: list[Object], ns: str = "default") -> Object:
    return {"metadata": {"name": name, "namespace": ns}, "subsets": subsets}


def subset(ready: list[str], ports: list[Object], not_ready: list[str] | None = None) -> Object:
    out: Object = {"addresses": [{"ip": ip} for ip in ready], "ports": ports}
    if not_ready:
        out["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return out


def ep_port(number: int, name: str = "", protocol: str = "TCP") -> Object:
    out: Object = {"port": number, "protocol": protocol}
    if name:
        out["name"] = name
    return out


def pod(name: str, ip: str, labels: dict[str, str], *, ns: str = "default",
        node: str = "n1", ports: list[Object] | None = None, **spec: Any) -> Object:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, **spec,
                     "containers": [{"name": "c", "image": "x", "ports": ports or []}]},
            "status": {"phase": "Running", "podIP": ip}}


def namespace(name: str, labels: dict[str, str] | None = None,
              deny: bool = False) -> Object:
    meta: Object = {"name": name, "labels": labels or {}}
    if deny:
        meta["annotations"] = {"net.beta.kubernetes.io/network-policy":
                               '{"ingress": {"isolation": "DefaultDeny"}}'}
    return {"metadata": meta}


def policy(name: str, selector: Object, *, ns: str = "default",
           ingress: list[Object] | None = None, egress: list[Object] | None = None,
           types: list[str] | None = None) -> Object:
    spec: Object = {"podSelector": selector}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}
