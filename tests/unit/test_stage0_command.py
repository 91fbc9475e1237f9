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
    # SIGTERM on `systemctl stop` must reach stage1: unshare, the main process, ignores it
    assert "--property=KillMode=control-group" in argv


def test_transient_unit_registers_the_pod_with_machined() -> None:
    """Where machined exists, ExecStartPost registers the unit's main process as a machine."""
    pd = PodDir(Path("/data/pods/u1"))
    plain = stage0.transient_unit_args(pd, register_machine=False)
    with_machined = stage0.transient_unit_args(pd, register_machine=True)
    assert not any("RegisterMachine" in a for a in plain)
    [post] = [a for a in with_machined if a.startswith("--property=ExecStartPost=")]
    assert post.startswith("--property=ExecStartPost=-/usr/bin/busctl --quiet call ")
    assert post.endswith("RegisterMachine sayssus minikube13-pod-u1 0 minikube13 container "
                         "$MAINPID /data/pods/u1")


@pytest.mark.parametrize("ref, policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("busybox:1.35", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_default_pull_policy(ref: str, policy: str) -> None:
    """Like the API server's default: Always for latest or no tag, else IfNotPresent."""
    assert default_policy(ref) == policy


def test_stage1_python_starts_without_site_and_with_bytecode() -> None:
    """`python -m minikube13` runs stage1 as `python -S`, its package first on PYTHONPATH and
    bytecode allowed; the frozen binary or a stand-in runs as given."""
    argv, env = stage0.stage1_python(["/py", "-m", "minikube13"])
    assert argv == ["/py", "-S", "-m", "minikube13"]
    package_parent = str(Path(stage0.__file__).resolve().parents[2])
    assert env["PYTHONPATH"].split(":")[0] == package_parent
    assert env["PYTHONDONTWRITEBYTECODE"] == ""
    assert stage0.stage1_python(["/frozen/minikube13"]) == (["/frozen/minikube13"], {})


def test_transient_unit_gets_the_stage1_environment(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """systemd-run does not pass the daemon's environment on: it sets what stage1 needs."""
    monkeypatch.setattr(stage0, "SYSTEMD_RUNTIME", tmp_path)
    argv = stage0.stage1_command(PodDir(Path("/data/pods/u1")), ["/py", "-S"],
                                 "/run/netns/m13-u1", {"PYTHONPATH": "/src"})
    assert "--setenv=PYTHONPATH=/src" in argv[:argv.index("--")]
