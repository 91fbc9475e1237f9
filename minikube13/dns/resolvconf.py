"""A pod's /etc/resolv.conf by dnsPolicy, as the kubelet writes it (pure text).

ClusterFirst (the default): the node's cluster DNS address, the cluster search path followed
by the host's search domains, `options ndots:5`. hostNetwork pods with ClusterFirst get the
host's file (Kubernetes behaviour); ClusterFirstWithHostNet gives them cluster DNS. Default,
or no cluster DNS address (no pod network), gives the host's resolv.conf as it is.
`None` starts empty; `spec.dnsConfig` (nameservers, searches, options) is merged last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLUSTER_FIRST = "ClusterFirst"
CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"
DEFAULT = "Default"
NONE = "None"
POLICIES = (CLUSTER_FIRST, CLUSTER_FIRST_WITH_HOST_NET, DEFAULT, NONE)
MAX_NAMESERVERS = 3  # glibc's MAXNS
# glibc reads at most 6 search domains and 256 characters of the search line (kubelet 1.3 cut).
MAX_SEARCH_DOMAINS = 6
MAX_SEARCH_CHARS = 256
CLUSTER_OPTIONS = ("ndots:5",)


@dataclass(frozen=True)
class ResolvConf:
    """The parts of a resolv.conf that matter to us."""

    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> ResolvConf:
    """nameserver lines in order; the last `search` or `domain` line wins (like glibc)."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            nameservers.append(values[0])
        elif key in ("search", "domain"):
            search = values if key == "search" else values[:1]
        elif key == "options":
            options.extend(values)
    return ResolvConf(nameservers, search, options)


def uses_cluster_dns(dns_policy: str, host_network: bool) -> bool:
    """Whether a pod with this policy asks the cluster DNS (before a missing address)."""
    policy = dns_policy or CLUSTER_FIRST
    if policy not in POLICIES:
        raise ValueError(f"unknown dnsPolicy {dns_policy!r}")
    if policy in (DEFAULT, NONE):
        return False
    return policy == CLUSTER_FIRST_WITH_HOST_NET or not host_network


def cluster_search(namespace: str, cluster_domain: str, host_search: list[str]) -> list[str]:
    """<ns>.svc.<domain> svc.<domain> <domain>, then the host's, within glibc's limits."""
    domain = cluster_domain.strip(".")
    found = [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]
    for name in host_search:
        name = name.strip(".")
        if name and name not in found:
            found.append(name)
    kept: list[str] = []
    for name in found[:MAX_SEARCH_DOMAINS]:
        if len(" ".join([*kept, name])) > MAX_SEARCH_CHARS:
            break
        kept.append(name)
    return kept


def pod_resolv_conf(dns_policy: str, host_network: bool, nameserver: str | None,
                    namespace: str, cluster_domain: str, host_resolv_conf: str,
                    dns_config: Mapping[str, Any] | None = None) -> str:
    """The text of the pod's /etc/resolv.conf (dns_config: the pod's spec.dnsConfig)."""
    if uses_cluster_dns(dns_policy, host_network) and nameserver is not None:
        host = parse_resolv_conf(host_resolv_conf)
        conf = ResolvConf([nameserver], cluster_search(namespace, cluster_domain, host.search),
                          list(CLUSTER_OPTIONS))
    elif dns_policy == NONE:
        conf = ResolvConf()
    elif not dns_config:
        return _host_text(host_resolv_conf)
    else:
        conf = parse_resolv_conf(host_resolv_conf)
    return render(merge_dns_config(conf, dns_config or {}))


def merge_dns_config(conf: ResolvConf, dns_config: Mapping[str, Any]) -> ResolvConf:
    """Append the pod's nameservers and searches (no duplicates); its options win by name."""
    servers = _unique([*conf.nameservers, *(dns_config.get("nameservers") or [])])
    search = _unique([*conf.search, *(dns_config.get("searches") or [])])
    options = {o.split(":", 1)[0]: o for o in conf.options}
    for item in dns_config.get("options") or []:
        name, value = str(item.get("name", "")), item.get("value")
        if name:
            options[name] = name if value in (None, "") else f"{name}:{value}"
    return ResolvConf(servers[:MAX_NAMESERVERS], search, list(options.values()))


def render(conf: ResolvConf) -> str:
    lines = [f"nameserver {s}" for s in conf.nameservers]
    if conf.search:
        lines.append("search " + " ".join(conf.search))
    if conf.options:
        lines.append("options " + " ".join(conf.options))
    return "".join(line + "\n" for line in lines)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _host_text(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"
