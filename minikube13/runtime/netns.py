"""Pod network namespaces: /run/netns/m13-<uid> with only `lo`, up (via iproute2).

Full pod networking (veth, bridge, routes) is a later issue; nothing here routes out.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from minikube13.runtime.errors import create_error
from minikube13.runtime.poddir import NETNS_PREFIX

log = logging.getLogger(__name__)
NETNS_DIR = Path("/run/netns")


def netns_name(uid: str) -> str:
    return f"{NETNS_PREFIX}{uid}"


def netns_path(uid: str) -> Path:
    return NETNS_DIR / netns_name(uid)


def ensure_netns(uid: str) -> Path:
    """Create the pod's netns with lo up (idempotent: an existing one is kept)."""
    path = netns_path(uid)
    name = netns_name(uid)
    if not path.exists():
        _ip("netns", "add", name)
    _ip("-n", name, "link", "set", "lo", "up")
    return path


def delete_netns(uid: str) -> bool:
    """Remove the pod's netns; False when there was none."""
    return delete_netns_named(netns_name(uid))


def delete_netns_named(name: str) -> bool:
    if not (NETNS_DIR / name).exists():
        return False
    result = subprocess.run(["ip", "netns", "del", name], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0 and (NETNS_DIR / name).exists():
        log.warning("netns delete failed name=%s error=%s", name, result.stderr.strip())
        return False
    return True


def pod_netns_names() -> list[str]:
    """Names of every m13-* netns on this host (pods of any data dir)."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(NETNS_PREFIX))
    except FileNotFoundError:
        return []


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise create_error(f"ip {' '.join(args)}: {result.stderr.strip()}")
