"""Done-when 4: dist/minikube13, the single executable, copied into a fresh Debian 12 root
that has no Python at all, prints its version and runs a daemon that answers /readyz (and
runs a pod: stage1 is the same executable).

The daemon runs chrooted in its own mount, PID and network namespaces (made by `unshare`):
the API listens on that namespace's loopback only, and every mount and process goes away
with the namespace's PID 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from debian_root import fresh_root

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PORT = 6443
READY_TIMEOUT_S = 90.0


def packaging_build() -> ModuleType:
    """packaging/build.py (packaging/ is no package: the name is PyPI's)."""
    spec = importlib.util.spec_from_file_location("m13_build", REPO / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh debootstrapped root with only dist/minikube13 (and its minikube13d link)."""
    onefile, _deb = packaging_build().ensure_package()
    root = fresh_root(tmp_path_factory.mktemp("onefile"))
    shutil.copy2(onefile, root / "usr/bin/minikube13")
    (root / "usr/bin/minikube13d").symlink_to("minikube13")
    shutil.copytree(REPO / "build/images/busybox.oci", root / "var/tmp/busybox.oci")
    return root


def test_root_has_no_python(root: Path) -> None:
    """The root the executable runs in has no Python interpreter or library."""
    assert not list((root / "usr/bin").glob("python*"))
    assert not list((root / "usr/lib").glob("python3*"))
    assert not list((root / "usr/local/lib").glob("python3*"))


def test_version_runs_without_python(root: Path) -> None:
    """`chroot ROOT /usr/bin/minikube13 version` prints the minikube13 and API versions."""
    res = subprocess.run(["chroot", str(root), "/usr/bin/minikube13", "version"],
                         capture_output=True, text=True, timeout=60, env=_clean_env())
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("minikube13 ")
    assert "Kubernetes v1.3.0" in res.stdout


def test_images_import_runs_without_python(root: Path) -> None:
    """The lazily imported image code is in the executable: the base image imports."""
    res = subprocess.run(["chroot", str(root), "/usr/bin/minikube13", "images", "import",
                          "/var/tmp/busybox.oci"],
                         capture_output=True, text=True, timeout=60, env=_clean_env())
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("imported ")


@pytest.fixture
def daemon(root: Path) -> Iterator[ChrootDaemon]:
    d = ChrootDaemon(root)
    try:
        yield d
    finally:
        d.stop()


def test_daemon_answers_readyz(daemon: ChrootDaemon) -> None:
    """`minikube13d` (the link name) in the root serves /readyz on 127.0.0.1 and registers
    its node."""
    daemon.start()
    assert daemon.readyz() == "ok"
    nodes = json.loads(daemon.inside("/usr/bin/minikube13", "get", "nodes", "-o", "json"))
    assert [n["metadata"]["name"] for n in nodes["items"]] == ["onefile"]


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
       "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
           "name": "web", "image": "busybox", "imagePullPolicy": "IfNotPresent",
           "command": ["sh", "-c", "echo hello; exec sleep 600"]}]}}


def test_daemon_runs_a_pod(daemon: ChrootDaemon, root: Path) -> None:
    """A busybox pod runs (stage1 is the executable again: `minikube13 stage1 <dir>`), and
    is deleted again."""
    (root / "var/tmp/pod.json").write_text(json.dumps(POD))
    daemon.start()
    daemon.inside("/usr/bin/minikube13", "apply", "-f", "/var/tmp/pod.json")
    phase = daemon.wait_for(lambda: daemon.pod_phase("web") == "Running", "pod web Running")
    assert phase
    daemon.inside("/usr/bin/minikube13", "delete", "pod", "web")
    daemon.wait_for(lambda: daemon.pod_phase("web") is None, "pod web gone")


class ChrootDaemon:
    """minikube13d chrooted into `root`, in new mount, PID and network namespaces."""

    def __init__(self, root: Path):
        self.root = root
        self.log = root.parent / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        r = self.root
        # the root a mount point of its own, as / is on a machine (`ip netns` remounts /)
        script = (f"mount --rbind {r} {r} && "
                  f"mount --rbind /sys {r}/sys && mount --rbind /dev {r}/dev && "
                  "ip link set lo up && "
                  f"exec chroot {r} /usr/bin/minikube13d --bind-address 127.0.0.1 "
                  f"--secure-port {PORT} --node-name onefile --registry-allow 127.0.0.1:*")
        cmd = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
               "--kill-child", f"--mount-proc={r}/proc", "--net", "sh", "-ec", script]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            env=_clean_env())
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"daemon exited:\n{self._log_tail()}"
            if b"daemon ready" in self.log.read_bytes():
                return
            time.sleep(0.2)
        raise AssertionError(f"no `daemon ready` in {READY_TIMEOUT_S}s:\n{self._log_tail()}")

    def readyz(self) -> str:
        """GET https://127.0.0.1:PORT/readyz from inside the daemon's network namespace."""
        probe = ("import ssl, urllib.request\n"
                 "c = ssl.create_default_context(); c.check_hostname = False\n"
                 "c.verify_mode = ssl.CERT_NONE\n"
                 f"u = urllib.request.urlopen('https://127.0.0.1:{PORT}/readyz', context=c,"
                 " timeout=10)\nprint(u.status, u.read().decode())\n")
        res = subprocess.run(["nsenter", f"--net=/proc/{self._pid1()}/ns/net", sys.executable,
                              "-c", probe], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        status, body = res.stdout.split(" ", 1)
        assert status == "200"
        return body.strip()

    def inside(self, *argv: str, check: bool = True) -> str:
        """Run a program of the root in the daemon's namespaces (its API socket is there)."""
        cmd = ["nsenter", "-t", str(self._pid1()), "-m", "-n", "-p", "chroot", str(self.root),
               *argv]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                             env=_clean_env())
        assert res.returncode == 0 or not check, f"{argv}: {res.stderr}"
        return res.stdout

    def pod_phase(self, name: str) -> str | None:
        pods = json.loads(self.inside("/usr/bin/minikube13", "get", "pods", "-o", "json"))
        for pod in pods["items"]:
            if pod["metadata"]["name"] == name:
                return str(pod.get("status", {}).get("phase"))
        return None

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.5)
        raise AssertionError(f"not {what} in {timeout}s:\n{self._log_tail()}")

    def stop(self) -> None:
        """Tear down any pod (its cgroups are the host's), SIGTERM the namespace's PID 1 (the
        executable), then SIGKILL the namespace."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.inside("/usr/bin/minikube13", "reset", check=False)
            os.kill(self._pid1(), signal.SIGTERM)
            self.process.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError, AssertionError):
            self.process.kill()  # --kill-child: PID 1 dies, and the namespace with it
            self.process.wait(timeout=30)

    def _pid1(self) -> int:
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = children.read_text().split()
        assert pids, "unshare has no child"
        return int(pids[0])

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _clean_env() -> dict[str, str]:
    """No host Python settings leak into the root (PYTHONPATH, VIRTUAL_ENV...)."""
    return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}

