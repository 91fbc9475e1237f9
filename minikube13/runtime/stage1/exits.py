"""What a container's end leaves behind: OOM kills in its cgroup, its termination message."""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_MESSAGE = 4096   # the kubelet's limit on a termination message


def memory_cgroup_dirs(cgroups_path: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Where a container's memory accounting lives: v1 memory controller and/or v2."""
    rel = cgroups_path.strip("/")
    if not rel:
        return []
    candidates = [root / "memory" / rel, root / rel, root / "unified" / rel]
    return [p for p in candidates if p.is_dir()]


def oom_kills(cgroups_path: str, root: Path = CGROUP_ROOT) -> int:
    """OOM kills counted in the container's cgroup (v1 memory.oom_control, v2 memory.events).

    The cgroup is made fresh for every run (stage1 deletes the container before each run),
    so any count means this run was OOM killed.
    """
    total = 0
    for directory in memory_cgroup_dirs(cgroups_path, root):
        for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
            total += _counter(directory / name, key)
    return total


def under_oom(cgroups_path: str, root: Path = CGROUP_ROOT) -> bool:
    """v1 kernels without the oom_kill counter still say under_oom while it happens."""
    return any(_counter(d / "memory.oom_control", "under_oom") > 0
               for d in memory_cgroup_dirs(cgroups_path, root))


def _counter(path: Path, key: str) -> int:
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


def termination_message(path: str) -> str:
    """The first 4096 bytes the container wrote to its terminationMessagePath."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MESSAGE)
    except OSError:
        return ""
    return data.decode(errors="replace")


def clear_termination_message(path: str) -> None:
    """Empty the file in place before a run (it is bind-mounted: keep the inode)."""
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return
    try:
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)
