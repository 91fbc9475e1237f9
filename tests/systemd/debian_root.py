"""A minimal Debian 12 root for the booted-systemd tests, built once per machine.

`cached_root()` debootstraps it into a cache directory the tests own (a temporary directory
renamed into place, under a lock, so concurrent builders wait and a killed build leaves no
half root behind); `fresh_root(tmp_path)` is a private copy of it for one test.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

CACHE_DIR = Path(os.environ.get("MINIKUBE13_TEST_CACHE", "/var/cache/minikube13-tests"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# systemd-container brings machined and machinectl, so pods registered as machines show up.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "runc", "iproute2", "nftables", "util-linux",
            "busybox-static", "systemd-container")
BUILD_TIMEOUT_S = 900
COPY_TIMEOUT_S = 300
COMPLETE = ".minikube13-complete"


class RootUnavailable(RuntimeError):
    """The Debian root cannot be built here (no debootstrap, no root, no mirror)."""


def root_name() -> str:
    """The cache entry's name: it changes whenever what goes into the root changes."""
    digest = hashlib.sha256(" ".join((SUITE, MIRROR, *PACKAGES)).encode()).hexdigest()[:12]
    return f"debian-{SUITE}-{digest}"


def missing_tools() -> str:
    """Why a root cannot be built or booted here, or "" when it can."""
    if os.geteuid() != 0:
        return "the booted-systemd tests need root"
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: `make deps` installs it"
    return ""


def cached_root(cache_dir: Path = CACHE_DIR) -> Path:
    """The shared, read-only-by-convention Debian root; debootstraps it the first time."""
    final = cache_dir / root_name()
    if (final / COMPLETE).exists():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another builder finishes first, then we reuse it
        if not (final / COMPLETE).exists():
            _build(final)
    return final


def _build(final: Path) -> None:
    for stale in final.parent.glob(f".building-{final.name}-*"):  # killed builders' leftovers
        _remove(stale)
    building = final.with_name(f".building-{final.name}-{os.getpid()}")
    cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
           str(building), MIRROR]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        _remove(building)
        raise RootUnavailable(f"debootstrap did not finish: {e}") from e
    if res.returncode != 0:
        _remove(building)
        raise RootUnavailable(f"debootstrap failed rc={res.returncode}:\n{res.stdout[-3000:]}"
                              f"\n{res.stderr[-3000:]}")
    _configure(building)
    (building / COMPLETE).write_text(" ".join(PACKAGES) + "\n")
    _remove(final)  # an incomplete entry (no COMPLETE marker)
    building.rename(final)


def _remove(tree: Path) -> None:
    """Delete a (partial) root; debootstrap mounts /proc and /sys in it while it runs."""
    prefix = str(tree.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        below = [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
    for mount in sorted(below, key=len, reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True, check=False)
    shutil.rmtree(tree, ignore_errors=True)


def _configure(root: Path) -> None:
    """Make the root boot quietly in a container with only a loopback interface."""
    (root / "etc" / "hostname").write_text("minikube13-test\n")
    hosts = "127.0.0.1 localhost\n127.0.1.1 minikube13-test\n::1 localhost\n"
    (root / "etc" / "hosts").write_text(hosts)
    # apt and man-db in the image never run in tests: nothing to fetch, nothing to index.
    (root / "var" / "cache" / "apt" / "archives").mkdir(parents=True, exist_ok=True)
    for entry in (root / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        entry.unlink()


def fresh_root(tmp_path: Path) -> Path:
    """A private copy of the cached root for one test, at tmp_path/root."""
    source = cached_root()
    dest = tmp_path / "root"
    res = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(dest)],
                         capture_output=True, text=True, timeout=COPY_TIMEOUT_S)
    if res.returncode != 0:
        raise RootUnavailable(f"copying the root failed: {res.stderr}")
    (dest / COMPLETE).unlink(missing_ok=True)
    return dest
