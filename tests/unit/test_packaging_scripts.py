"""The .deb's maintainer scripts, run under a fake $DPKG_ROOT with fake `systemctl` and
`minikube13` that only record how they were called."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "packaging" / "debian"
FAKE_TOOL = '#!/bin/sh\necho "$(basename "$0") $*" >> "$CALLS"\n'


class Host:
    """A fake installed system: DPKG_ROOT, a PATH of recording tools, their call log."""

    def __init__(self, top: Path, systemd: bool):
        self.root = top / "root"
        self.bin = top / "bin"
        self.calls = top / "calls"
        self.bin.mkdir(parents=True)
        for tool in ("systemctl", "minikube13"):
            (self.bin / tool).write_text(FAKE_TOOL)
            (self.bin / tool).chmod(0o755)
        (self.root / "usr/share/minikube13/images/busybox.oci").mkdir(parents=True)
        (self.root / "etc/default").mkdir(parents=True)
        if systemd:
            (self.root / "run/systemd/system").mkdir(parents=True)

    def run(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.bin}:/usr/bin:/bin", "DPKG_ROOT": str(self.root),
               "CALLS": str(self.calls)}
        return subprocess.run(["sh", str(SCRIPTS / script), *args], env=env,
                              capture_output=True, text=True, timeout=30)

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path, systemd=True)


def test_install_creates_dirs_imports_images_and_starts_nothing(host: Host) -> None:
    """A fresh install: data dir 0700, images imported, units reloaded, nothing enabled."""
    res = host.run("postinst", "configure", "")
    assert res.returncode == 0, res.stderr
    data = host.root / "var/lib/minikube13"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (host.root / "etc/minikube13").is_dir()
    image = host.root / "usr/share/minikube13/images/busybox.oci"
    assert host.called() == [f"minikube13 images import {image} --data-dir {data}",
                             "systemctl daemon-reload"]


def test_upgrade_restarts_only_a_running_daemon(host: Host) -> None:
    """An upgrade asks systemd to try-restart (a stopped daemon stays stopped)."""
    assert host.run("postinst", "configure", "0.1.0").returncode == 0
    assert host.called()[-2:] == ["systemctl daemon-reload",
                                  "systemctl try-restart minikube13d.service"]
    assert not any(" enable" in c or " start" in c for c in host.called())


def test_install_without_systemd_calls_no_systemctl(tmp_path: Path) -> None:
    """On a machine where systemd is not PID 1 the scripts leave systemctl alone."""
    host = Host(tmp_path, systemd=False)
    assert host.run("postinst", "configure", "").returncode == 0
    assert host.run("prerm", "remove").returncode == 0
    assert host.run("postrm", "purge").returncode == 0
    assert not [c for c in host.called() if c.startswith("systemctl")]


def test_settings_file_moves_the_data_dir(host: Host) -> None:
    """MINIKUBE13_DATA_DIR in /etc/default/minikube13d is where images are imported."""
    (host.root / "etc/default/minikube13d").write_text("MINIKUBE13_DATA_DIR=/srv/m13\n")
    assert host.run("postinst", "configure", "").returncode == 0
    assert (host.root / "srv/m13").is_dir()
    assert host.called()[0].endswith(f"--data-dir {host.root}/srv/m13")


def test_failed_image_import_does_not_fail_the_install(host: Host) -> None:
    """A broken image import is reported, and the package still configures."""
    (host.bin / "minikube13").write_text("#!/bin/sh\nexit 3\n")
    res = host.run("postinst", "configure", "")
    assert res.returncode == 0
    assert "could not import" in res.stderr


def test_remove_stops_the_daemon_then_the_pods_and_keeps_state(host: Host) -> None:
    """`apt remove`: the service stops, `minikube13 reset` stops the pods, state stays."""
    host.run("postinst", "configure", "")
    state = host.root / "var/lib/minikube13/state.db"
    state.write_text("db")
    host.calls.unlink()
    assert host.run("prerm", "remove").returncode == 0
    assert host.run("postrm", "remove").returncode == 0
    data = host.root / "var/lib/minikube13"
    assert host.called() == ["systemctl stop minikube13d.service",
                             f"minikube13 reset --data-dir {data}",
                             "systemctl daemon-reload"]
    assert state.read_text() == "db"
    assert (host.root / "etc/minikube13").is_dir()


def test_upgrade_stops_nothing(host: Host) -> None:
    """prerm and postrm of an upgrade neither stop the daemon nor touch the pods."""
    assert host.run("prerm", "upgrade", "0.1.0").returncode == 0
    assert host.run("postrm", "upgrade", "0.1.0").returncode == 0
    assert host.called() == []


def test_purge_removes_state_and_settings(host: Host) -> None:
    """`apt purge`: the store, certificates, logs and the enablement link are gone."""
    host.run("postinst", "configure", "")
    wants = host.root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "minikube13d.service").symlink_to("/lib/systemd/system/minikube13d.service")
    (host.root / "etc/minikube13/pki").mkdir()
    assert host.run("postrm", "purge").returncode == 0
    for gone in ("var/lib/minikube13", "etc/minikube13", "var/log/minikube13"):
        assert not (host.root / gone).exists()
    assert not os.path.lexists(wants / "minikube13d.service")
    assert (host.root / "etc/default").is_dir(), "dpkg itself purges the conffile"


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_unknown_action_fails(host: Host, script: str) -> None:
    """A maintainer script called with an action it does not know exits non-zero."""
    res = host.run(script, "frobnicate")
    assert res.returncode == 1
    assert "unknown argument" in res.stderr
