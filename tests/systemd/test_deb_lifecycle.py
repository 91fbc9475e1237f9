"""The .deb's life under systemd (issue 7, done-when 5): install, upgrade over itself,
remove (pods stopped, state kept), purge (state gone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from debian_root import fresh_root
from nspawn import BootedSystem
from system_support import (
    built_deb,
    install,
    kubectl,
    pod_manifest,
    processes_with_cmdline,
    service_property,
    wait_pod_running,
)

pytestmark = pytest.mark.slow
UNIT = "minikube13d.service"
MARKER = "3613"
STATE = ("/var/lib/minikube13/state.db", "/etc/minikube13/admin.kubeconfig")


def test_install_upgrade_remove_purge(tmp_path: Path) -> None:
    """Install starts nothing; an upgrade keeps the pod; remove stops pods and keeps the
    store; purge deletes it."""
    deb = built_deb()
    with BootedSystem(fresh_root(tmp_path), tmp_path / "console.log") as system:
        install(system, deb)
        assert system.run(["minikube13", "version"]).returncode == 0
        assert service_property(system, UNIT, "ActiveState") == "inactive"
        assert system.run(["systemctl", "is-enabled", UNIT], check=False).stdout.strip() \
            == "disabled"
        system.run(["systemctl", "start", UNIT], timeout=150)
        kubectl(system, "apply", "-f", "-", input=json.dumps(pod_manifest("keep", MARKER)))
        uid = wait_pod_running(system, "keep")["metadata"]["uid"]
        running = processes_with_cmdline(["sleep", MARKER])
        assert len(running) == 1

        install(system, deb)  # the same version over itself: an upgrade
        assert service_property(system, UNIT, "ActiveState") == "active"
        assert processes_with_cmdline(["sleep", MARKER]) == running
        assert wait_pod_running(system, "keep")["metadata"]["uid"] == uid

        system.run(["dpkg", "-r", "minikube13"], timeout=180)
        assert processes_with_cmdline(["sleep", MARKER]) == {}
        assert service_property(system, f"minikube13-pod-{uid}.service", "ActiveState") \
            == "inactive"
        assert not system.path("/usr/bin/minikube13").exists()
        for path in STATE:
            assert system.path(path).exists(), f"{path} removed without purge"

        system.run(["dpkg", "-P", "minikube13"], timeout=180)
        for path in ("/var/lib/minikube13", "/etc/minikube13"):
            assert not system.path(path).exists(), f"{path} left after purge"
        assert system.run(["dpkg", "-s", "minikube13"], check=False).returncode != 0
