"""pyroute2 sockets in a given network namespace, and sysctls (the netlink shell's base).

`IPRoute(netns=...)` forks a helper process per socket; instead the calling thread enters
the namespace (setns only moves the thread), opens the netlink socket, and returns: the
socket stays bound to the namespace it was made in.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from minikube13.net import NetworkError

log = logging.getLogger(__name__)
CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
ENODEV = 19
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def netlink_socket_in(netns_path: str) -> socket.socket:
    """A NETLINK_ROUTE socket of the namespace at `netns_path`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
            try:
                return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
            finally:
                _setns(own)   # a failure here would leave this thread elsewhere: let it raise
        finally:
            os.close(target)
    finally:
        os.close(own)


@contextlib.contextmanager
def iproute(netns_path: str | None = None) -> Iterator[IPRoute]:
    """An IPRoute of this process's namespace, or of the one at `netns_path`."""
    try:
        ipr = IPRoute() if netns_path is None else \
            IPRoute(fileno=netlink_socket_in(netns_path).detach())
    except OSError as e:
        raise NetworkError(f"netlink socket in {netns_path or 'own netns'}: {e}") from e
    try:
        yield ipr
    except NetlinkError as e:
        raise NetworkError(f"netlink: {e}") from e
    finally:
        ipr.close()


def lookup(ipr: IPRoute, name: str) -> int | None:
    """The index of link `name`, None if absent (one request: link_lookup dumps all)."""
    try:
        found = ipr.link("get", ifname=name)
    except NetlinkError as e:
        if e.code == ENODEV:
            return None
        raise
    return int(found[0]["index"]) if found else None


def write_sysctl(name: str, value: str) -> bool:
    """Set /proc/sys/<name> (dots as slashes) in this thread's netns; False if absent."""
    path = Path("/proc/sys") / name.replace(".", "/")
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except FileNotFoundError:
        return False
    except OSError as e:
        raise NetworkError(f"sysctl {name}={value}: {e}") from e
    return True
