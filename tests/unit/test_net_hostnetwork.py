"""hostNetwork pods with the pod network on: stage1 stays in the node's netns (no nsenter)
and runc joins no network namespace of its own; the node's address is the pod's."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube13.node.machine import host_ip
from minikube13.runtime import stage0
from minikube13.runtime.bundle import namespaces
from minikube13.runtime.poddir import PodDir


def test_host_network_stage1_runs_in_the_node_netns(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setattr(stage0, "SYSTEMD_RUNTIME", tmp_path / "absent")
    argv = stage0.stage1_command(PodDir(Path("/data/pods/u1")), ["/py"], "")
    assert argv[:4] == ["setsid", "--fork", "unshare", "--pid"]
    assert not any(a.startswith("--net") or a == "nsenter" for a in argv)


def test_host_network_bundle_has_no_network_namespace() -> None:
    assert "network" not in {n["type"] for n in namespaces("")}
    assert {"type": "network", "path": "/run/netns/m13-u1"} in namespaces("/run/netns/m13-u1")


def test_internal_ip_prefers_the_advertise_address() -> None:
    """--advertise-address wins, then a specific --bind-address."""
    assert host_ip("0.0.0.0", "10.213.0.10") == "10.213.0.10"
    assert host_ip("10.213.0.11", "") == "10.213.0.11"
    assert host_ip("10.213.0.11", "10.213.0.10") == "10.213.0.10"
