"""DNS names of the cluster zone (pure): normalising, reverse names, dashed IPs, pod identity.

Names are kept lower-case without the trailing dot; DNS compares names case-insensitively.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

HOSTNAME_ANNOTATION = "pod.beta.kubernetes.io/hostname"
SUBDOMAIN_ANNOTATION = "pod.beta.kubernetes.io/subdomain"
REVERSE_V4 = "in-addr.arpa"
REVERSE_V6 = "ip6.arpa"
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def normalize(name: str) -> str:
    """Lower case, no trailing dot: the form every lookup uses."""
    return name.rstrip(".").lower()


def is_within(name: str, zone: str) -> bool:
    """name equals zone or lies below it (both normalised)."""
    return name == zone or name.endswith("." + zone)


def relative(name: str, zone: str) -> list[str]:
    """The labels of name left of zone, leftmost first ([] for the apex)."""
    if name == zone:
        return []
    return name[: -len(zone) - 1].split(".")


def ancestors(name: str, zone: str) -> Iterator[str]:
    """name and every name between it and zone (zone included)."""
    while True:
        yield name
        if name == zone or "." not in name:
            return
        name = name.split(".", 1)[1]


def valid_label(label: str) -> bool:
    """An RFC 1123 label (what Kubernetes allows as hostname/subdomain)."""
    return bool(_LABEL.match(label))


def canonical_ip(text: str) -> str | None:
    """The address in its usual spelling, None when text is no address (IPv4 parsed by
    hand: ipaddress costs ~15 us an address, and a zone holds tens of thousands)."""
    parts = text.split(".")
    if len(parts) == 4:
        if all(p.isdigit() and p.isascii() and len(p) <= 3 and (p == "0" or p[0] != "0")
               and int(p) <= 255 for p in parts):
            return text
        return None
    return _address(text, version=6) if ":" in text else None


def reverse_name(ip: str) -> str:
    """The PTR owner of an address: 4.3.2.1.in-addr.arpa or the nibble ip6.arpa name."""
    parts = ip.split(".")
    if len(parts) == 4:
        return ".".join(reversed(parts)) + "." + REVERSE_V4
    return normalize(ipaddress.ip_address(ip).reverse_pointer)


def ip_from_reverse(name: str) -> str | None:
    """The address a normalised reverse name stands for, None when it is not a whole one."""
    if is_within(name, REVERSE_V4):
        parts = relative(name, REVERSE_V4)
        if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            return None
        return _address(".".join(reversed(parts)))
    if is_within(name, REVERSE_V6):
        nibbles = relative(name, REVERSE_V6)
        if len(nibbles) != 32 or not all(len(n) == 1 and n in "0123456789abcdef"
                                         for n in nibbles):
            return None
        digits = "".join(reversed(nibbles))
        return _address(":".join(digits[i:i + 4] for i in range(0, 32, 4)))
    return None


def dashed(ip: str) -> str:
    """10.42.0.5 -> 10-42-0-5; fd00::1 -> fd00--1 (the pod/endpoint name of an address)."""
    if "." in ip:
        return ip.replace(".", "-")
    return str(ipaddress.ip_address(ip)).replace(":", "-")


def ip_from_dashed(label: str) -> str | None:
    """The inverse of dashed(); None when the label is no address."""
    if label.count("-") == 3 and "--" not in label:
        return _address(label.replace("-", "."), version=4)
    if "-" in label:
        return _address(label.replace("-", ":"), version=6)
    return None


def _address(text: str, version: int | None = None) -> str | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if version is not None and ip.version != version:
        return None
    if ip.version == 4 and any(len(p) > 1 and p.startswith("0") for p in text.split(".")):
        return None  # 010.1.1.1 is no address of ours
    return str(ip)


def service_name(service: str, namespace: str, domain: str) -> str:
    return f"{service}.{namespace}.svc.{domain}".lower()


def pod_name(ip: str, namespace: str, domain: str) -> str:
    return f"{dashed(ip)}.{namespace}.pod.{domain}".lower()


def srv_owner(port_name: str, protocol: str, service_fqdn: str) -> str:
    return f"_{port_name}._{protocol}.{service_fqdn}".lower()


def pod_identity(pod: Mapping[str, Any]) -> tuple[str, str]:
    """(hostname, subdomain) a pod asked for: spec.hostname/subdomain, else the 1.3 beta
    annotations; "" where unset (the pod name is no DNS identity of its own)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    annotations = meta.get("annotations") or {}
    hostname = str(spec.get("hostname") or annotations.get(HOSTNAME_ANNOTATION) or "")
    subdomain = str(spec.get("subdomain") or annotations.get(SUBDOMAIN_ANNOTATION) or "")
    return hostname.lower(), subdomain.lower()
