"""stage1's own namespace set-up: who it is on the host, its mount namespace, the hostname.

stage0 starts stage1 as PID 1 of fresh pid/ipc/uts namespaces in the pod's netns, in the
host mount namespace with the host's /proc. runc must see a procfs of the pod's pid
namespace (it records pod-namespace pids and reads /proc/<pid>/* about them; with the host
/proc `runc exec` fails and `runc state` lies), so stage1 first notes its host pid and start
time, then unshares its mount namespace (everything mounted on the host stays visible;
propagation host -> stage1 is kept by making it a slave), detaches the copies of other
pods' mounts it inherited (they would pin those pods' overlays and netns), and mounts a
procfs of the pod's pid namespace on /proc. A directory fd to the host's /proc, opened
before, maps container pids back to host pids.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from minikube13.runtime.poddir import NETNS_PREFIX

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_SLAVE = 0x4000, 0x80000
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(OSError):
    """A namespace system call failed."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(errno, f"{what}: {os.strerror(errno)}")


def host_identity() -> tuple[int, int]:
    """(host pid, start ticks) of this process, read through the host's /proc."""
    pid = int(os.readlink("/proc/self"))
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return pid, int(stat.rsplit(b")", 1)[1].split()[19])


def enter_pod_mount_namespace(pod_root: Path, netns: str) -> int:
    """Private mount namespace with the pod's procfs on /proc; returns a host /proc dir fd."""
    host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "make / rslave")
    for target in foreign_mounts(_mount_points(), pod_root, netns):
        _libc.umount2(target.encode(), MNT_DETACH)   # best effort: gone already is fine
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
           "mount proc")
    return host_proc


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().decode(errors="replace").splitlines()
    return [_unescape(line.split()[4]) for line in lines if len(line.split()) > 4]


def _unescape(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def foreign_mounts(points: list[str], pod_root: Path, netns: str) -> list[str]:
    """Mounts of other pods (under the pods dir, or their netns files), deepest first."""
    pods_dir = str(pod_root.parent).rstrip("/") + "/"
    own = str(pod_root).rstrip("/")
    netns_dir = os.path.dirname(netns).rstrip("/") + "/"
    out = []
    for point in points:
        if point.startswith(pods_dir) and not (point == own or point.startswith(own + "/")):
            out.append(point)
        elif point.startswith(netns_dir + NETNS_PREFIX) and point != netns:
            out.append(point)
    return sorted(set(out), key=lambda p: -p.count("/"))


def set_hostname(name: str) -> None:
    if name:
        data = name.encode()
        _check(_libc.sethostname(data, len(data)), "sethostname")


def host_pid_of(host_proc: int, stage1_host_pid: int, pod_pid: int) -> int | None:
    """The host pid of our child `pod_pid` (a pid in the pod's namespace), if found."""
    try:
        for task in _listdir_at(host_proc, f"{stage1_host_pid}/task"):
            for child in _read_at(host_proc, f"{stage1_host_pid}/task/{task}/children").split():
                if _ns_pid(host_proc, child) == pod_pid:
                    return int(child)
    except OSError:
        return None
    return None


def _listdir_at(dir_fd: int, path: str) -> list[str]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def _read_at(dir_fd: int, path: str) -> str:
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def _ns_pid(host_proc: int, host_pid: str) -> int | None:
    """The innermost pid of a host process (last NSpid entry)."""
    try:
        status = _read_at(host_proc, f"{host_pid}/status")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None
