"""The cluster zone as plain records, built from Services, Endpoints and Pods (pure).

kube-dns's records (the Kubernetes DNS spec of 1.3):
* `<svc>.<ns>.svc.<domain>`: A/AAAA = the ClusterIP; headless (clusterIP None): one record
  per ready endpoint address; ExternalName: a CNAME.
* headless endpoints: `<hostname>.<svc>.<ns>.svc.<domain>` where the address has a hostname
  (the PetSet identity: pod spec.hostname + spec.subdomain, or the 1.3 annotations), else
  `<a-b-c-d>.<svc>.<ns>.svc.<domain>`.
* SRV `_<port>._<proto>.<svc>.<ns>.svc.<domain>` for named ports: priority 10, weight 100,
  target the service name (ClusterIP) or each endpoint name (headless).
* PTR for ClusterIPs, headless endpoint addresses and pod IPs.
Pod names `<a-b-c-d>.<ns>.pod.<domain>` are answered from the name itself (resolver.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from minikube13.dns import names

Object = Mapping[str, Any]
SRV_PRIORITY = 10
SRV_WEIGHT = 100
HOSTNAMES_MAP = "endpoints.beta.kubernetes.io/hostnames-map"  # 1.3 Endpoints annotation


class Srv(NamedTuple):
    priority: int
    weight: int
    port: int
    target: str


Rdata = str | Srv  # A/AAAA: an address; CNAME/PTR: a name; SRV: Srv


@dataclass(frozen=True)
class DnsSnapshot:
    """Every record of the zone: owner -> type ("A", "AAAA", "CNAME", "SRV") -> rdata.
    `names` holds every existing name (owners and the empty names above them), `reverse`
    the PTR targets by reverse name."""

    domain: str
    records: Mapping[str, Mapping[str, tuple[Rdata, ...]]] = field(default_factory=dict)
    names: frozenset[str] = frozenset()
    reverse: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    serial: int = 1
    synced: bool = True  # False until the feed has listed everything once

    @staticmethod
    def empty(domain: str, synced: bool = False) -> DnsSnapshot:
        return _Builder(names.normalize(domain)).finish(serial=1, synced=synced)


def build_snapshot(services: Iterable[Object], endpoints: Iterable[Object],
                   pods: Iterable[Object], cluster_domain: str,
                   serial: int = 1) -> DnsSnapshot:
    """The zone for these objects (all namespaces)."""
    builder = _Builder(names.normalize(cluster_domain))
    by_key = {_key(e): e for e in endpoints}
    identities = {(_meta(p).get("namespace", ""), _meta(p).get("name", "")): p for p in pods}
    for service in services:
        builder.add_service(service, by_key.get(_key(service)), identities)
    for pod in identities.values():
        builder.add_pod(pod)
    return builder.finish(serial=serial, synced=True)


class _Builder:
    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.records: dict[str, dict[str, list[Rdata]]] = {}
        self.reverse: dict[str, list[str]] = {}
        self.pod_reverse: dict[str, str] = {}

    def add(self, owner: str, rtype: str, rdata: Rdata) -> None:
        found = self.records.setdefault(owner, {}).setdefault(rtype, [])
        if rdata not in found:
            found.append(rdata)

    def add_ptr(self, ip: str, target: str) -> None:
        found = self.reverse.setdefault(names.reverse_name(ip), [])
        if target not in found:
            found.append(target)

    def add_service(self, service: Object, endpoints: Object | None,
                    pods: Mapping[tuple[str, str], Object]) -> None:
        meta, spec = _meta(service), service.get("spec") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        if not namespace or not names.valid_label(name):
            return
        fqdn = names.service_name(name, namespace, self.domain)
        self.records.setdefault(fqdn, {})
        if spec.get("type") == "ExternalName":
            if spec.get("externalName"):
                self.add(fqdn, "CNAME", names.normalize(str(spec["externalName"])))
            return
        raw_ip = str(spec.get("clusterIP") or "")
        cluster_ip = names.canonical_ip(raw_ip)
        if raw_ip == "None":
            self._add_headless(fqdn, namespace, name, endpoints, pods)
        elif cluster_ip is not None:
            self.add(fqdn, _address_type(cluster_ip), cluster_ip)
            self.add_ptr(cluster_ip, fqdn)
            for port in spec.get("ports") or []:
                if port.get("name") and port.get("port"):
                    owner = names.srv_owner(str(port["name"]), _proto(port), fqdn)
                    self.add(owner, "SRV", Srv(SRV_PRIORITY, SRV_WEIGHT, int(port["port"]),
                                               fqdn))

    def _add_headless(self, fqdn: str, namespace: str, service: str,
                      endpoints: Object | None,
                      pods: Mapping[tuple[str, str], Object]) -> None:
        if endpoints is None:
            return
        hostnames = _hostnames_map(endpoints)
        for subset in endpoints.get("subsets") or []:
            for address in subset.get("addresses") or []:
                ip = names.canonical_ip(str(address.get("ip") or ""))
                if ip is None:
                    continue
                host = _endpoint_hostname(address, service, pods, hostnames) or names.dashed(ip)
                member = f"{host}.{fqdn}"
                self.add(fqdn, _address_type(ip), ip)
                self.add(member, _address_type(ip), ip)
                self.add_ptr(ip, member)
                for port in subset.get("ports") or []:
                    if port.get("name") and port.get("port"):
                        owner = names.srv_owner(str(port["name"]), _proto(port), fqdn)
                        self.add(owner, "SRV", Srv(SRV_PRIORITY, SRV_WEIGHT, int(port["port"]),
                                                   member))

    def add_pod(self, pod: Object) -> None:
        """PTR for the pod's own IP (hostNetwork pods share the node's: no record)."""
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        ip = names.canonical_ip(str(status.get("podIP") or ""))
        namespace = _meta(pod).get("namespace", "")
        if spec.get("hostNetwork") or not namespace or ip is None:
            return
        self.pod_reverse.setdefault(names.reverse_name(ip), names.pod_name(ip, namespace,
                                                                            self.domain))

    def finish(self, serial: int, synced: bool) -> DnsSnapshot:
        for reverse, target in self.pod_reverse.items():
            self.reverse.setdefault(reverse, [target])  # endpoint names win over pod names
        existing = {names.normalize(self.domain), f"svc.{self.domain}", f"pod.{self.domain}"}
        for owner in self.records:
            existing.update(names.ancestors(owner, self.domain))
        return DnsSnapshot(
            domain=self.domain,
            records={o: {t: tuple(v) for t, v in types.items()}
                     for o, types in self.records.items()},
            names=frozenset(existing),
            reverse={r: tuple(sorted(v)) for r, v in self.reverse.items()},
            serial=serial, synced=synced)


def _endpoint_hostname(address: Object, service: str,
                       pods: Mapping[tuple[str, str], Object],
                       hostnames: Mapping[str, str]) -> str:
    """The address's hostname: its own field, the 1.3 hostnames-map, or the pod it points
    at when that pod names this service as its subdomain."""
    host = str(address.get("hostname") or hostnames.get(str(address.get("ip"))) or "")
    if not host:
        ref = address.get("targetRef") or {}
        pod = pods.get((ref.get("namespace", ""), ref.get("name", ""))) \
            if ref.get("kind") == "Pod" else None
        if pod is not None:
            hostname, subdomain = names.pod_identity(pod)
            if subdomain == service.lower():
                host = hostname
    host = host.lower()
    return host if names.valid_label(host) else ""


def _hostnames_map(endpoints: Object) -> dict[str, str]:
    raw = (_meta(endpoints).get("annotations") or {}).get(HOSTNAMES_MAP)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(ip): str(v.get("HostName") or "") for ip, v in parsed.items()
            if isinstance(v, dict)}


def _meta(obj: Object) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Object) -> tuple[str, str]:
    return _meta(obj).get("namespace", ""), _meta(obj).get("name", "")


def _proto(port: Object) -> str:
    return str(port.get("protocol") or "TCP").lower()


def _address_type(ip: str) -> str:
    return "AAAA" if ":" in ip else "A"
