"""What /proc says about stage1 processes: liveness guarded against pid reuse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from minikube13.runtime.poddir import Stage1State


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks); None when gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = text[text.rfind(")") + 2:].split()
    # rest[0] is field 3 (state); field 22 is rest[19]
    if len(rest) < 20 or rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


def stage1_alive(state: Stage1State | None) -> bool:
    """The stage1 that wrote `state` still runs (same pid AND same start time)."""
    if state is None or state.stage1_pid <= 0:
        return False
    return start_ticks(state.stage1_pid) == state.stage1_start_ticks


def pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]


def stage1_processes(pod_dir: Path) -> list[int]:
    """Every process whose argv ends with `stage1 <pod_dir>`: stage1 and its launchers."""
    want = str(pod_dir)
    me = os.getpid()
    return [pid for pid in pids() if pid != me and cmdline(pid)[-2:] == ["stage1", want]]


def netns_in_use(netns_file: Path) -> bool:
    """Some process still lives in the network namespace bound at `netns_file`."""
    try:
        target = os.stat(netns_file)
    except FileNotFoundError:
        return False
    for pid in pids():
        try:
            st = os.stat(f"/proc/{pid}/ns/net")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False
