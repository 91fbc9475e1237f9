"""Pod cgroups: `minikube13/pod<uid>` in every hierarchy (v1 controllers, or the v2 tree);
runc puts each container at `/minikube13/pod<uid>/<name>` below it.

Hybrid hosts (v1 controllers + an empty cgroup2 at /sys/fs/cgroup/unified) get the path in
every mounted hierarchy, as runc does; cgroup v2-only hosts get one directory.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from minikube13.runtime.errors import create_error
from minikube13.runtime.poddir import CGROUP_PARENT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hierarchy:
    mount: Path
    version: int              # 1 or 2
    controllers: frozenset[str]


@dataclass(frozen=True)
class CgroupStats:
    memory_bytes: int | None
    cpu_ns: int | None


def hierarchies() -> list[Hierarchy]:
    """Every cgroup hierarchy mounted in this mount namespace (from mountinfo)."""
    out: list[Hierarchy] = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, extra = pre.split(), post.split()
            if len(extra) < 3 or extra[0] not in ("cgroup", "cgroup2"):
                continue
            if extra[0] == "cgroup2":
                out.append(Hierarchy(Path(fields[4]), 2, frozenset()))
                continue
            opts = set(extra[2].split(",")) - {"rw", "ro", "relatime", "nosuid", "nodev",
                                                "noexec", "clone_children"}
            out.append(Hierarchy(Path(fields[4]), 1, frozenset(opts)))
    return out


def pod_cgroup(uid: str) -> str:
    return f"{CGROUP_PARENT}/pod{uid}"


def container_cgroups_path(uid: str, container: str) -> str:
    """linux.cgroupsPath in a bundle: absolute, so it is the same in every hierarchy."""
    return f"/{pod_cgroup(uid)}/{container}"


def ensure_pod_cgroup(uid: str) -> None:
    """mkdir the pod cgroup everywhere (cpuset v1 needs cpus/mems copied down first)."""
    for h in hierarchies():
        for rel in (CGROUP_PARENT, pod_cgroup(uid)):
            path = h.mount / rel
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise create_error(f"cgroup {path}: {e}") from e
            if "cpuset" in h.controllers:
                _inherit_cpuset(path)


def _inherit_cpuset(path: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        mine = path / name
        if mine.exists() and not mine.read_text().strip():
            mine.write_text((path.parent / name).read_text())


def pod_cgroup_dirs(uid: str) -> list[Path]:
    return [p for h in hierarchies() if (p := h.mount / pod_cgroup(uid)).is_dir()]


def procs_in(uid: str) -> set[int]:
    """Every pid in the pod cgroup or below, in any hierarchy."""
    pids: set[int] = set()
    for root in pod_cgroup_dirs(uid):
        for procs in root.rglob("cgroup.procs"):
            pids.update(_read_pids(procs))
    return pids


def _read_pids(path: Path) -> set[int]:
    try:
        return {int(x) for x in path.read_text().split()}
    except (FileNotFoundError, ValueError, OSError):
        return set()


def remove_pod_cgroup(uid: str, timeout_s: float = 5.0) -> int:
    """SIGKILL whatever is left inside, then rmdir bottom-up everywhere; dirs removed."""
    deadline = time.monotonic() + timeout_s
    while (pids := procs_in(uid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    removed = 0
    for root in pod_cgroup_dirs(uid):
        removed += _rmdir_tree(root, deadline)
    return removed


def _rmdir_tree(root: Path, deadline: float) -> int:
    dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                  reverse=True) + [root]
    removed = 0
    for d in dirs:
        while True:
            try:
                d.rmdir()
                removed += 1
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY or time.monotonic() > deadline:
                    log.warning("cgroup rmdir failed path=%s error=%s", d, e)
                    break
                time.sleep(0.01)
    return removed


def remove_parent_if_empty() -> None:
    """rmdir `minikube13` itself where no pod is left (EBUSY otherwise: fine)."""
    for h in hierarchies():
        try:
            (h.mount / CGROUP_PARENT).rmdir()
        except OSError:
            pass


def pod_cgroup_uids() -> set[str]:
    """uids of every pod cgroup on this host (any data dir), from any hierarchy."""
    uids: set[str] = set()
    for h in hierarchies():
        parent = h.mount / CGROUP_PARENT
        if parent.is_dir():
            uids.update(p.name[3:] for p in parent.iterdir()
                        if p.is_dir() and p.name.startswith("pod"))
    return uids


def pod_stats(uid: str) -> CgroupStats:
    """Memory in use and cpu time of the whole pod (v1 memory/cpuacct, or v2 files)."""
    memory = cpu = None
    for h in hierarchies():
        path = h.mount / pod_cgroup(uid)
        if h.version == 1 and "memory" in h.controllers:
            memory = _read_int(path / "memory.usage_in_bytes")
        elif h.version == 1 and "cpuacct" in h.controllers:
            cpu = _read_int(path / "cpuacct.usage")
        elif h.version == 2 and (path / "memory.current").exists():
            memory = _read_int(path / "memory.current")
            usec = _read_keyed(path / "cpu.stat", "usage_usec")
            cpu = usec * 1000 if usec is not None else None
    return CgroupStats(memory, cpu)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_keyed(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None
