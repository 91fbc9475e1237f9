"""Read this machine's numbers for the Node object (the shell of nodestatus)."""

from __future__ import annotations

import ipaddress
import logging
import platform
import socket
from pathlib import Path

import psutil

from minikube13.node.nodestatus import MachineInfo

log = logging.getLogger(__name__)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return "Linux"


def host_ip(bind_address: str = "0.0.0.0", advertise_address: str = "") -> str:
    """The node's InternalIP: the advertise address, else the API's bind address when it
    names one, else the address of the default route's interface, else the first global
    IPv4 address of an interface that is up, else loopback."""
    for text in (advertise_address, bind_address):
        try:
            given = ipaddress.ip_address(text)
        except ValueError:
            continue
        if not given.is_unspecified:
            return str(given)
    up = {name for name, st in psutil.net_if_stats().items() if st.isup}
    addrs = psutil.net_if_addrs()
    default = default_route_interface()
    names = ([default] if default in up else []) + sorted(n for n in addrs if n in up)
    for name in names:
        for addr in addrs.get(name, []):
            if addr.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(addr.address)
            if not ip.is_loopback and not ip.is_link_local:
                return str(ip)
    return "127.0.0.1"


def default_route_interface() -> str:
    """The interface of the IPv4 default route (/proc/net/route), "" when there is none."""
    for line in _read("/proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return fields[0]
    return ""


def read_machine_info(bind_address: str = "0.0.0.0", advertise_address: str = "",
                      api_port: int = 0) -> MachineInfo:
    uname = platform.uname()
    return MachineInfo(
        cpus=psutil.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        hostname=socket.gethostname(),
        internal_ip=host_ip(bind_address, advertise_address),
        machine=uname.machine,
        kernel_version=uname.release,
        os_image=os_image(),
        machine_id=_read("/etc/machine-id"),
        system_uuid=_read("/sys/class/dmi/id/product_uuid"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        api_port=api_port,
    )
