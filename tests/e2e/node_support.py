"""Fixtures for tests that drive the real daemon (node agent + pod runtime) with the real
kubectl: the busybox OCI layout, a daemon with it imported (`node`, or `start_node` for
other flags), and small helpers that read pods the way a user would."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.conftest import KUBECTL, DaemonProcess  # noqa: E402, F401 - re-exported

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "rootfs" / "busybox" / "build.py"
PREBUILT = REPO / "build" / "images" / "busybox.oci"
FAST_BACKOFF = ("--pod-backoff-initial", "0.2", "--pod-backoff-max", "1")


@pytest.fixture(scope="module")
def busybox_oci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox OCI layout: the prebuilt one, else built by the rootfs recipe."""
    if (PREBUILT / "index.json").exists():
        return PREBUILT
    out = tmp_path_factory.mktemp("image") / "busybox.oci"
    subprocess.run([sys.executable, str(RECIPE), str(out)], check=True, capture_output=True)
    return out


@contextlib.contextmanager
def start_node(root: Path, busybox_oci: Path,
               extra_args: Sequence[str] = FAST_BACKOFF) -> Iterator[DaemonProcess]:
    """A real daemon with busybox imported; stopped, killed and reset (no pod left) on exit."""
    d = DaemonProcess(root, list(extra_args))
    subprocess.run([sys.executable, "-m", "minikube13", "images", "import", "--data-dir",
                    str(d.data_dir), str(busybox_oci)], check=True, capture_output=True)
    try:
        d.start()
        yield d
    finally:
        d.stop()
        d.kill9()
        d.reset()


@pytest.fixture
def node(tmp_path: Path, busybox_oci: Path) -> Iterator[DaemonProcess]:
    """A fresh daemon of this test's own, with short restart back-off."""
    with start_node(tmp_path / "d", busybox_oci) as d:
        yield d


def wait_for(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll `check` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not reached in {timeout:.0f}s: {check}")


def pod_json(d: DaemonProcess, name: str) -> dict[str, Any] | None:
    """`kubectl get pod NAME -o json`, or None when it is not there."""
    res = d.kubectl("get", "pod", name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def running(d: DaemonProcess, name: str) -> dict[str, Any] | None:
    """The pod when it is Running and every app container runs, else None."""
    pod = pod_json(d, name)
    if pod is None or pod["status"].get("phase") != "Running":
        return None
    statuses = pod["status"].get("containerStatuses") or []
    return pod if statuses and all("running" in s["state"] for s in statuses) else None


def stage1_pid(d: DaemonProcess, uid: str) -> int:
    state = json.loads((d.data_dir / "pods" / uid / "pod-state.json").read_text())
    return int(state["stage1_pid"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
