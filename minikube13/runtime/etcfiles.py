"""A pod's /etc/hosts, /etc/resolv.conf and /etc/hostname (pure text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Json = dict[str, Any]
CLUSTER_DOMAIN = "cluster.local"
HOSTNAME_ANNOTATION = "pod.beta.kubernetes.io/hostname"
SUBDOMAIN_ANNOTATION = "pod.beta.kubernetes.io/subdomain"
MAX_HOSTNAME = 63
LOCAL_HOSTS = ("# Kubernetes-managed hosts file.\n"
               "127.0.0.1\tlocalhost\n"
               "::1\tlocalhost ip6-localhost ip6-loopback\n"
               "fe00::0\tip6-localnet\n"
               "fe00::0\tip6-mcastprefix\n"
               "fe00::1\tip6-allnodes\n"
               "fe00::2\tip6-allrouters\n")


def pod_hostname(pod: Json) -> tuple[str, str]:
    """(hostname, subdomain): spec.hostname/subdomain, else the 1.3 annotations, else the
    pod name cut to 63 characters (without a trailing '-' or '.', like the kubelet)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    hostname = spec.get("hostname") or annotations.get(HOSTNAME_ANNOTATION) or ""
    subdomain = spec.get("subdomain") or annotations.get(SUBDOMAIN_ANNOTATION) or ""
    if not hostname:
        hostname = str(meta.get("name", ""))[:MAX_HOSTNAME].rstrip("-.")
    return hostname, subdomain


def fqdn(hostname: str, subdomain: str, namespace: str,
         cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """hostname.subdomain.ns.svc.cluster.local when a subdomain is set, else the hostname."""
    if not subdomain:
        return hostname
    return f"{hostname}.{subdomain}.{namespace}.svc.{cluster_domain}"


def hosts_text(hostname: str, subdomain: str, namespace: str, pod_ip: str,
               cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """localhost lines, then the pod's own name on its IP (127.0.1.1 until it has one)."""
    address = pod_ip or "127.0.1.1"
    full = fqdn(hostname, subdomain, namespace, cluster_domain)
    names = f"{full}\t{hostname}" if full != hostname else hostname
    return f"{LOCAL_HOSTS}{address}\t{names}\n"


def search_domains(namespace: str, extra: Sequence[str] = (),
                   cluster_domain: str = CLUSTER_DOMAIN) -> list[str]:
    base = [f"{namespace}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
    return base + [d for d in extra if d not in base]


def resolv_text(namespace: str, servers: Sequence[str], search: Sequence[str],
                host_resolv: str, dns_policy: str = "ClusterFirst",
                cluster_domain: str = CLUSTER_DOMAIN) -> str:
    """ClusterFirst with cluster DNS servers: those plus the cluster search path and
    ndots:5; with none (or dnsPolicy Default): the host's resolv.conf as it is."""
    if not servers or dns_policy == "Default":
        return host_resolv if host_resolv.endswith("\n") or not host_resolv else host_resolv + "\n"
    lines = [f"nameserver {s}" for s in servers]
    lines.append("search " + " ".join(search_domains(namespace, search, cluster_domain)))
    lines.append("options ndots:5")
    return "\n".join(lines) + "\n"


def hostname_text(hostname: str) -> str:
    return hostname + "\n"
