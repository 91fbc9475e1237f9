"""How stage0 launches stage1 and which images it pulls (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube13.runtime import stage0
from minikube13.runtime.imagepull import default_policy
from minikube13.runtime.poddir import PodDir


def test_detached_command_without_systemd(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """setsid --fork, nsenter into the netns, unshare pid/ipc/uts with a fork, stage1."""
    monkeypatch.setattr(stage0, "SYSTEMD_RUNTIME", tmp_path / "absent")
    pd = PodDir(Path("/data/pods/u1"))
    argv = stage0.stage1_command(pd, ["/py", "-m", "minikube13"], "/run/netns/m13-u1")
    assert argv == ["setsid", "--fork", "nsenter", "--net=/run/netns/m13-u1", "unshare",
                    "--pid", "--ipc", "--uts", "--fork", "--", "/py", "-m", "minikube13",
                    "stage1", "/data/pods/u1"]


def test_transient_unit_with_systemd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With systemd as PID 1: a transient minikube13-pod-<uid> unit in machine.slice."""
    monkeypatch.setattr(stage0, "SYSTEMD_RUNTIME", tmp_path)
    argv = stage0.stage1_command(PodDir(Path("/data/pods/u1")), ["/py"], "/run/netns/m13-u1")
    assert argv[:6] == ["systemd-run", "--quiet", "--collect", "--unit=minikube13-pod-u1",
                        "--slice=machine.slice",
                        "--property=StandardOutput=append:/data/pods/u1/stage1.log"]
    assert argv[argv.index("--") + 1:][:2] == ["nsenter", "--net=/run/netns/m13-u1"]
    assert argv[-2:] == ["stage1", "/data/pods/u1"]


@pytest.mark.parametrize("ref, policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.35", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_default_pull_policy(ref: str, policy: str) -> None:
    """Like the API server's default: Always for latest or no tag, else IfNotPresent."""
    assert default_policy(ref) == policy
