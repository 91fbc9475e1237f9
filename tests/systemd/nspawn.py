"""Boot a Debian root with systemd as PID 1 in `systemd-nspawn`, and run commands inside.

The host has no systemd, so nspawn runs with `--register=no --keep-unit` (no machined, no
scope unit: both would need a host D-Bus) and `--private-network` (the container sees only
its own loopback: the network rule). Commands run inside through `nsenter -t <leader> -a`:
every namespace of the container's PID 1, with a clean environment, so `systemctl` and
`journalctl` talk to the container's systemd.

nspawn mounts /sys and the cgroup v1 controller hierarchies read-only; on a machine where
systemd is PID 1 they are writable to root (the daemon's unit has `Delegate=yes` and makes
pod cgroups). So `SYSTEMD_NSPAWN_API_VFS_WRITABLE=1` leaves /sys writable and, once booted,
each read-only /sys/fs/cgroup/<controller> is remounted `bind,rw` inside the container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

INSIDE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# nspawn halts the container on SIGTERM, so a dying pytest leaves no machine behind.
DIE_WITH_PYTEST = ["/usr/bin/setpriv", "--pdeathsig", "TERM"]


class InsideFailed(subprocess.CalledProcessError):
    """A command inside the container failed; the message shows what it printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


class BootedSystem:
    """One booted container over `root`; `stop()` (or the context manager) powers it off."""

    def __init__(self, root: Path, console_log: Path):
        self.root = root
        self.console_log = console_log
        self.name = f"m13-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen[bytes] | None = None
        self._leader = 0

    def __enter__(self) -> BootedSystem:
        try:
            self.start()
        except BaseException:
            self.stop()  # a failed boot must not leave the container running
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life -----------------------------------------------------------------------------

    def start(self, timeout: float = BOOT_TIMEOUT_S) -> None:
        """Boot and wait until systemd reports the boot finished (running or degraded)."""
        cmd = [*DIE_WITH_PYTEST, "systemd-nspawn", "--quiet", "-D", str(self.root), "-b",
               "--register=no", "--keep-unit", "--private-network", "--console=read-only",
               f"--machine={self.name}",
               # runc makes a session keyring per container; nspawn's seccomp filter refuses
               # keyctl (EPERM), which no host where systemd is PID 1 does
               "--system-call-filter=@keyring"]
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1"}
        with open(self.console_log, "wb") as log:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        self._leader = self._wait_leader(deadline)
        left = max(1.0, deadline - time.monotonic())
        res = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                       timeout=left)
        state = res.stdout.strip()
        if state not in ("running", "degraded"):
            raise RuntimeError(f"boot did not finish: state={state!r}\n{self.console_tail()}")
        self.sh("for m in $(awk '$5 ~ \"^/sys/fs/cgroup/\" && $6 ~ /^ro/ {print $5}' "
                "/proc/self/mountinfo); do mount -o remount,bind,rw \"$m\"; done")

    def _wait_leader(self, deadline: float) -> int:
        """The container's PID 1 as the host sees it: nspawn's child running systemd."""
        assert self.process is not None
        pid = self.process.pid
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited rc={self.process.returncode}:\n"
                                   f"{self.console_tail()}")
            for child in _children(pid):
                if _comm(child) == "systemd":
                    # systemd must have mounted /run and its socket before we can talk to it
                    if Path(f"/proc/{child}/root/run/systemd/private").exists():
                        return child
            time.sleep(0.05)
        raise RuntimeError(f"no systemd in the container in time:\n{self.console_tail()}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Power off (SIGTERM to nspawn = halt the container); SIGKILL if it hangs."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                if self._leader and _comm(self._leader) == "systemd":
                    os.kill(self._leader, signal.SIGKILL)  # kills the whole pid namespace
                proc.kill()
                proc.wait(10)
        self.process = None

    @property
    def leader(self) -> int:
        return self._leader

    def console_tail(self, limit: int = 4000) -> str:
        try:
            return self.console_log.read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""

    # -- inside ---------------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, check: bool = True, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run argv inside the container (all its namespaces, its root, a clean env)."""
        cmd = ["nsenter", "-t", str(self._leader), "-a", "env", "-i", f"PATH={INSIDE_PATH}",
               "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "HOME=/root", *argv]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise InsideFailed(res.returncode, list(argv), res.stdout, res.stderr)
        return res

    def sh(self, script: str, *, check: bool = True, timeout: float = 60.0
           ) -> subprocess.CompletedProcess[str]:
        return self.run(["sh", "-ec", script], check=check, timeout=timeout)

    def path(self, inside: str) -> Path:
        """A path inside the container as the host sees it (the root is a plain directory)."""
        return self.root / inside.lstrip("/")

    def wait_for(self, argv: Sequence[str], timeout: float, interval: float = 0.2
                 ) -> subprocess.CompletedProcess[str]:
        """Run argv until it succeeds; the last result when time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            res = self.run(argv, check=False, timeout=max(5.0, timeout))
            if res.returncode == 0 or time.monotonic() > deadline:
                return res
            time.sleep(interval)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
