"""Mounts stage0 makes on the host: overlay roots, tmpfs volumes (mount(2) via ctypes)."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from minikube13.runtime.errors import create_error

log = logging.getLogger(__name__)

MS_NODEV = 0x4
MS_NOSUID = 0x2
MNT_DETACH = 0x2
MAX_MOUNT_DATA = 4095  # the kernel copies one page of options
_libc = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                     data.encode() if data else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def umount(target: str, detach: bool = True) -> bool:
    """Unmount `target`; False when it was not mounted (EINVAL) or is gone (ENOENT)."""
    rc = _libc.umount2(target.encode(), MNT_DETACH if detach else 0)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(err, f"umount {target}: {os.strerror(err)}")


def mount_overlay(layers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """An overlay root at `target`: `layers` bottom→top (read-only), writes go to `upper`."""
    if not layers:
        raise create_error("image has no layers")
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    lower = ":".join(str(p) for p in reversed(layers))
    data = f"lowerdir={lower},upperdir={upper},workdir={work}"
    try:
        if len(data) <= MAX_MOUNT_DATA:
            mount("overlay", str(target), "overlay", MS_NODEV, data)
        else:
            _mount_overlay_by_fds(layers, upper, work, target)
    except OSError as e:
        raise create_error(str(e)) from e


def _mount_overlay_by_fds(layers: Sequence[Path], upper: Path, work: Path,
                          target: Path) -> None:
    """Many layers: name each lowerdir /proc/self/fd/N (the kernel resolves them at mount
    time), so the options fit in one page."""
    fds = [os.open(p, os.O_PATH | os.O_DIRECTORY) for p in reversed(layers)]
    try:
        lower = ":".join(f"/proc/self/fd/{fd}" for fd in fds)
        data = f"lowerdir={lower},upperdir={upper},workdir={work}"
        if len(data) > MAX_MOUNT_DATA:
            raise create_error(f"overlay options too long for {len(layers)} layers")
        mount("overlay", str(target), "overlay", MS_NODEV, data)
    finally:
        for fd in fds:
            os.close(fd)


def mount_tmpfs(target: Path, size_bytes: int | None, mode: int = 0o777) -> None:
    target.mkdir(parents=True, exist_ok=True)
    options = f"mode={mode:o}" + (f",size={size_bytes}" if size_bytes else "")
    try:
        mount("tmpfs", str(target), "tmpfs", MS_NODEV | MS_NOSUID, options)
    except OSError as e:
        raise create_error(str(e)) from e


def mount_points() -> list[str]:
    """Every mount point of this mount namespace (mountinfo field 5, unescaped)."""
    with open("/proc/self/mountinfo", "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").splitlines()
    return [_unescape(line.split(" ")[4]) for line in lines if line.count(" ") >= 4]


def _unescape(path: str) -> str:
    if "\\" not in path:
        return path
    return path.encode("utf-8", "surrogateescape").decode("unicode_escape")


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below `root`, deepest first (the order to unmount them)."""
    base = str(root).rstrip("/")
    found = [m for m in mount_points() if m == base or m.startswith(base + "/")]
    return sorted(set(found), key=lambda m: (m.count("/"), m), reverse=True)


def is_mounted(path: Path) -> bool:
    return str(path).rstrip("/") in set(mount_points())


def umount_under(root: Path) -> int:
    """Detach every mount at or below `root` (deepest first); how many went."""
    count = 0
    for _ in range(3):  # stacked mounts on one point need one umount each
        points = mounts_under(root)
        if not points:
            break
        for point in points:
            try:
                count += umount(point)
            except OSError as e:
                log.warning("umount failed path=%s error=%s", point, e)
    return count
