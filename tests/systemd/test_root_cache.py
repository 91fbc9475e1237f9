"""The cached Debian root and the nspawn harness that boots it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from debian_root import COMPLETE, cached_root, fresh_root
from nspawn import BootedSystem

pytestmark = pytest.mark.slow


def test_cached_root_is_built_once_and_reused() -> None:
    """A second call returns the same complete root at once, without debootstrap."""
    first = cached_root()
    started = time.monotonic()
    again = cached_root()
    assert again == first and (first / COMPLETE).exists()
    assert time.monotonic() - started < 1.0
    assert (first / "usr/bin/runc").exists() and (first / "bin/busybox").exists()


def test_booted_root_has_systemd_and_only_loopback(tmp_path: Path) -> None:
    """systemd is PID 1 inside, and the only network interface is lo."""
    root = fresh_root(tmp_path)
    with BootedSystem(root, tmp_path / "console.log") as system:
        assert system.run(["cat", "/proc/1/comm"]).stdout.strip() == "systemd"
        links = system.run(["ip", "-o", "link"]).stdout.splitlines()
        assert [line.split(":")[1].strip() for line in links] == ["lo"]
        system.run(["mkdir", "/sys/fs/cgroup/memory/m13-test"])  # writable, as on a host
        system.run(["rmdir", "/sys/fs/cgroup/memory/m13-test"])
        state = system.run(["systemctl", "is-system-running"], check=False).stdout.strip()
        assert state in ("running", "degraded")
    assert not any(str(root) in line for line in Path("/proc/self/mountinfo").read_text()
                   .splitlines()), "the container left a mount behind"
