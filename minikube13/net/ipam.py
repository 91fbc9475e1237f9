"""Host-local IPAM's choice (pure): the next free pod address, round-robin after the last
reserved one (like CNI's host-local, so a freed address is not reused at once). The files
that record the choice live in ipam_store.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address

from minikube13.net.cidrs import network


def usable_range(pod_cidr: str) -> tuple[int, int]:
    """First and last assignable address (as ints): after the gateway, before broadcast."""
    net = network(pod_cidr)
    return int(net.network_address) + 2, int(net.broadcast_address) - 1


def next_free(pod_cidr: str, reserved: Iterable[str], last: str | None) -> str | None:
    """The first address after `last` (wrapping) that is not reserved; None when full."""
    first, final = usable_range(pod_cidr)
    if final < first:
        return None
    taken = set(reserved)
    try:
        start = int(IPv4Address(last)) + 1 if last else first
    except ValueError:
        start = first
    if not first <= start <= final:
        start = first
    span = final - first + 1
    for step in range(span):
        candidate = first + (start - first + step) % span
        text = str(IPv4Address(candidate))
        if text not in taken:
            return text
    return None
