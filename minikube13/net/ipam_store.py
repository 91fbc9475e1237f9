"""Host-local IPAM's files, as CNI's host-local plugin keeps them: one file per allocated
address under <data_dir>/net/ipam/, named by the address and holding the pod uid, plus
`last_reserved_ip.0`. Files survive daemon restarts, and creating one with O_EXCL is the
reservation, so an address is never handed out twice.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from ipaddress import IPv4Address
from pathlib import Path

from minikube13.net import NetworkError
from minikube13.net.cidrs import network
from minikube13.net.ipam import next_free

log = logging.getLogger(__name__)
LAST_RESERVED = "last_reserved_ip.0"


class HostLocalIpam:
    """The allocations of one node, in `state_dir` (one daemon per data dir)."""

    def __init__(self, state_dir: Path, pod_cidr: str):
        self.state_dir = Path(state_dir)
        self.pod_cidr = pod_cidr
        self._net = network(pod_cidr)
        self._lock = threading.Lock()
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def allocations(self) -> dict[str, str]:
        """address -> pod uid, for every address file (of any CIDR)."""
        return allocations_in(self.state_dir)

    def address_of(self, uid: str) -> str | None:
        """The pod's address in the current podCIDR, if it has one."""
        for address, owner in self.allocations().items():
            if owner == uid and IPv4Address(address) in self._net:
                return address
        return None

    def allocate(self, uid: str) -> str:
        """The pod's address: the one it already holds, else a new one."""
        with self._lock:
            held = self.address_of(uid)
            if held is not None:
                return held
            for _ in range(16):  # another writer may win a file between our look and create
                address = next_free(self.pod_cidr, self.allocations(), self._last())
                if address is None:
                    raise NetworkError(f"no free address in {self.pod_cidr}")
                if self._reserve(address, uid):
                    (self.state_dir / LAST_RESERVED).write_text(address)
                    log.debug("address allocated ip=%s uid=%s", address, uid)
                    return address
            raise NetworkError(f"could not reserve an address in {self.pod_cidr}")

    def release(self, uid: str) -> list[str]:
        """Free every address the pod holds; the addresses freed."""
        with self._lock:
            return release_in(self.state_dir, uid)

    def release_unknown(self, live_uids: set[str]) -> list[str]:
        """Free the addresses of pods not in `live_uids` (torn down without us)."""
        freed: list[str] = []
        for uid in sorted({o for o in self.allocations().values() if o not in live_uids}):
            freed.extend(self.release(uid))
        return freed

    def _reserve(self, address: str, uid: str) -> bool:
        try:
            fd = os.open(self.state_dir / address, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as e:
            if e.errno == errno.EEXIST:
                return False
            raise
        with os.fdopen(fd, "w") as f:
            f.write(uid)
        return True

    def _last(self) -> str | None:
        try:
            return (self.state_dir / LAST_RESERVED).read_text().strip() or None
        except FileNotFoundError:
            return None


def allocations_in(state_dir: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        paths = list(state_dir.iterdir())
    except FileNotFoundError:
        return out
    for path in paths:
        if _is_address(path.name):
            try:
                out[path.name] = path.read_text().strip()
            except FileNotFoundError:
                continue
    return out


def release_in(state_dir: Path, uid: str) -> list[str]:
    """Delete the address files holding `uid` (needs no podCIDR: a daemon that has not
    learnt its own yet can still free a torn-down pod's address)."""
    freed = [a for a, owner in allocations_in(state_dir).items() if owner == uid]
    for address in freed:
        (state_dir / address).unlink(missing_ok=True)
        log.debug("address released ip=%s uid=%s", address, uid)
    return freed


def _is_address(name: str) -> bool:
    try:
        IPv4Address(name)
    except ValueError:
        return False
    return True
