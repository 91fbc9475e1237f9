"""The whole chain: the daemon's node agent runs real pods (stage0, stage1, runc) from the
busybox image, and kubectl logs / exec / exec -it work on them (issue 3, done-when 1 and 5)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .streams_support import StreamsDaemon, drive_interactive_shell

REPO = Path(__file__).resolve().parents[2]


class PodsDaemon(StreamsDaemon):
    """The real daemon with its node agent on (pods run), streams wired."""

    def command(self) -> list[str]:
        return [a for a in super().command() if a != "--no-run-pods"]


def _minikube13(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "minikube13", *args], check=True, cwd=REPO,
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def pods_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodsDaemon]:
    root = tmp_path_factory.mktemp("pods")
    image = root / "busybox.oci"
    subprocess.run([sys.executable, str(REPO / "rootfs" / "busybox" / "build.py"), str(image)],
                   check=True, cwd=REPO, capture_output=True, timeout=120)
    d = PodsDaemon(root)
    _minikube13("images", "import", str(image), "--data-dir", str(d.data_dir))
    try:
        d.start()
        yield d
    finally:
        d.kubectl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s", check=False,
                  timeout=90)
        d.stop()
        d.kill9()
        _minikube13("reset", "--data-dir", str(d.data_dir))


def _wait_status(d: PodsDaemon, pod: str, status: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = d.kubectl("get", "pod", pod, "--no-headers", check=False).stdout
        if status in out.split():
            return
        time.sleep(0.3)
    pytest.fail(f"pod {pod} not {status}: {d.kubectl('get', 'pod', pod, check=False).stdout}")


def test_quick_start_logs_and_exec_on_real_pods(pods_daemon: PodsDaemon) -> None:
    """kubectl run ... -- echo hi, then kubectl logs prints hi; exec and exec -it work."""
    kc = pods_daemon.kubectl
    kc("run", "hello", "--image=busybox", "--restart=Never", "--", "echo", "hi")
    kc("run", "shell", "--image=busybox", "--", "sh", "-c",
       "echo up; while true; do sleep 1; done")
    _wait_status(pods_daemon, "hello", "Completed")
    assert kc("logs", "hello").stdout == "hi\n"
    _wait_status(pods_daemon, "shell", "Running")
    assert kc("logs", "shell").stdout.startswith("up\n")
    assert kc("exec", "shell", "--", "cat", "/etc/hostname").stdout == "shell\n"
    assert kc("exec", "shell", "--", "sh", "-c", "exit 5", check=False).returncode == 5
    assert drive_interactive_shell(pods_daemon, "shell") == 7
