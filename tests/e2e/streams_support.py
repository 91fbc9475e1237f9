"""Fixtures for the streams e2e tests: a real daemon serving pods/log|exec|attach, and pods
whose container really runs under runc but was started by the test, not by stage0/stage1.

The test plays stage1's part on disk: it runs a busybox container with
`runc --root <data-dir>/runc run -d <uid>-<name>`, writes `state/<name>.json`
(ContainerState with that runc id) and appends CRI records to `logs/<name>/<run>.log`.
The Pod object is bound to a Node object that no agent serves, so nothing else touches it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube13.runtime import crilog
from minikube13.runtime.poddir import RUNC_SUBDIR, ContainerState, PodDir, TerminatedState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.conftest import DaemonProcess  # noqa: E402

KUBECTL = "/usr/bin/kubectl"
BUSYBOX = Path("/usr/bin/busybox")
NODE = "streams-e2e-node"

class StreamsDaemon(DaemonProcess):
    """The real daemon without its node agent: the tests place pod dirs themselves."""

    def command(self) -> list[str]:
        return [*super().command(), "--no-run-pods"]


def busybox_rootfs(root: Path) -> Path:
    """/bin/busybox with its applets, /etc/passwd, /tmp: enough for sh, cat, tar."""
    rootfs = root / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    # What `busybox --install -s /bin` does inside the rootfs: relative links stay valid there.
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        link = rootfs / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    for d in ("tmp", "root", "proc", "sys", "dev", "data"):
        (rootfs / d).mkdir()
    return rootfs


def oci_config(hostname: str, args: list[str]) -> dict[str, Any]:
    """A minimal OCI runtime config: own namespaces, proc/dev/devpts, no terminal."""
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root"],
                    "cwd": "/", "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount",
                                                      "network")]},
    }


class RuncPod:
    """A Pod object plus a pod dir whose one container runs under runc."""

    def __init__(self, daemon: DaemonProcess, work: Path, name: str,
                 container: str = "main", extra_containers: tuple[str, ...] = ()):
        self.daemon = daemon
        self.name = name
        self.container = container
        self.run = 0
        containers = [{"name": c, "image": "busybox"} for c in (container, *extra_containers)]
        manifest = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"nodeName": NODE, "containers": containers,
                             "tolerations": [{"operator": "Exists"}]}}
        daemon.kubectl("apply", "-f", "-", input=json.dumps(manifest))
        self.uid = daemon.kubectl("get", "pod", name, "-o",
                                  "jsonpath={.metadata.uid}").stdout.strip()
        self.pod_dir = PodDir.of(daemon.data_dir, self.uid)
        self.runc_id = f"{self.uid}-{container}"
        self.bundle = work / f"bundle-{name}"
        self.rootfs = busybox_rootfs(self.bundle)
        (self.rootfs / "etc" / "hostname").write_text(name + "\n")

    # -- the container ----------------------------------------------------------------

    def runc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        root = self.daemon.data_dir / RUNC_SUBDIR
        return subprocess.run(["runc", "--root", str(root), *args], capture_output=True,
                              text=True, check=check, timeout=30)

    def start(self) -> None:
        """Run the container (`sleep`), record it as running run 0."""
        (self.bundle / "config.json").write_text(json.dumps(
            oci_config(self.name, ["sleep", "3600"])))
        errors = self.bundle / "runc-run.err"  # a file: the container inherits runc's stdio
        with open(errors, "wb") as err:
            res = subprocess.run(["runc", "--root", str(self.daemon.data_dir / RUNC_SUBDIR),
                                  "run", "-d", "--bundle", str(self.bundle), self.runc_id],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=err, timeout=30)
        assert res.returncode == 0, f"runc run failed: {errors.read_text()}"
        self.set_state("running")

    def remove(self) -> None:
        self.runc("delete", "--force", self.runc_id, check=False)

    # -- what stage1 would write ------------------------------------------------------

    def set_state(self, state: str, *, previous: TerminatedState | None = None,
                  name: str | None = None) -> None:
        name = name or self.container
        self.pod_dir.write_container_state(ContainerState(
            name=name, init=False, runc_id=self.runc_id, state=state,  # type: ignore[arg-type]
            restart_count=self.run, started_at=time.time(),
            terminated=TerminatedState(0, "Completed") if state == "terminated" else None,
            last_terminated=previous))

    def log(self, text: str, stream: str = "stdout", *, at_ns: int | None = None,
            run: int | None = None, name: str | None = None) -> None:
        """Append one line per line of `text` to the run's CRI log."""
        path = self.pod_dir.log_path(name or self.container, self.run if run is None else run)
        path.parent.mkdir(parents=True, exist_ok=True)
        stamp = at_ns if at_ns is not None else time.time_ns()
        with open(path, "ab") as f:
            for line in text.split("\n"):
                f.write(crilog.encode(stamp, stream, line.encode()))

    def restart(self) -> None:
        """The current run ended (exit 1) and the next one runs: what `--previous` reads."""
        last = TerminatedState(1, "Error", started_at=time.time() - 1, finished_at=time.time())
        self.run += 1
        self.set_state("running", previous=last)


def read_until(fd: int, needle: bytes, timeout: float = 10.0) -> bytes:
    """Everything read from `fd` up to and including `needle`."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {seen!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"EOF before {needle!r} in {seen!r}"
            seen += chunk
    return seen


def _winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def drive_interactive_shell(daemon: DaemonProcess, pod: str) -> int:
    """`kubectl exec -it pod -- sh` on a pty of ours, as a user at a terminal would: run a
    command, resize the terminal, check the shell sees the size, `exit 7`; returns kubectl's
    exit code."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl on the pty's slave side
        os.execv(KUBECTL, [KUBECTL, "--kubeconfig", str(daemon.kubeconfig), "exec", "-it",
                           pod, "--", "sh"])
    try:
        _winsize(fd, 33, 111)
        read_until(fd, b"# ")
        os.write(fd, b"echo $((6 * 7)); tty\r")
        assert b"/dev/pts/" in read_until(fd, b"42\r\n/dev/pts/")
        _winsize(fd, 44, 123)
        deadline = time.monotonic() + 10
        while True:  # the resize travels asynchronously: ask until the shell sees it
            os.write(fd, b"stty size\r")
            seen = read_until(fd, b"# ")
            if b"44 123" in seen:
                break
            assert time.monotonic() < deadline, f"resize never arrived: {seen!r}"
            time.sleep(0.2)
        os.write(fd, b"exit 7\r")
        _, status = os.waitpid(pid, 0)
        pid = 0
        return os.waitstatus_to_exitcode(status)
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def uid_tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module", name="streams_daemon")
def streams_daemon_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamsDaemon]:
    """A daemon of the module's own with PodStreams wired, plus the Node the pods use."""
    d = StreamsDaemon(tmp_path_factory.mktemp("streams"))
    try:
        d.start()
        d.kubectl("apply", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}))
        yield d
    finally:
        d.stop()
        d.kill9()


@pytest.fixture(scope="module", name="running_pod")
def running_pod_fixture(streams_daemon: StreamsDaemon, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[RuncPod]:
    """One pod with a running busybox container, shared by a module's tests."""
    pod = RuncPod(streams_daemon, tmp_path_factory.mktemp("pod"), f"streams-{uid_tag()}")
    try:
        pod.start()
        yield pod
    finally:
        pod.remove()
