"""The systemd unit and environment file that the package installs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minikube13.daemon.config import load_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "minikube13d.service"
DEFAULTS = REPO / "systemd" / "minikube13d.default"


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit with no warning about it."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: `make deps` installs it (package systemd)")
    # verify insists that ExecStart exists: point it at this checkout's minikube13d.
    binary = Path(sys.executable).parent / "minikube13d"
    assert binary.exists(), "the console script minikube13d is not installed (make deps)"
    unit = tmp_path / UNIT.name
    text = UNIT.read_text()
    assert "ExecStart=/usr/bin/minikube13d\n" in text
    unit.write_text(text.replace("ExecStart=/usr/bin/minikube13d", f"ExecStart={binary}"))
    res = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                         timeout=60)
    report = res.stdout + res.stderr
    assert res.returncode == 0, report
    assert UNIT.name not in report, report  # bad values are warnings, not failures


def test_unit_is_a_notify_service_that_spares_pods() -> None:
    """Type=notify with a watchdog; stopping it kills only the daemon, never the pods."""
    settings = dict(line.split("=", 1) for line in UNIT.read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    assert settings["Type"] == "notify"
    assert settings["KillMode"] == "process"
    assert settings["Delegate"] == "yes"
    assert settings["Restart"] == "on-failure"
    assert settings["EnvironmentFile"] == "-/etc/default/minikube13d"
    assert "WatchdogSec" in settings


def test_default_environment_file_is_valid_when_uncommented(tmp_path: Path) -> None:
    """Every setting in minikube13d.default, uncommented, is accepted as it stands."""
    lines = [line.lstrip("#") for line in DEFAULTS.read_text().splitlines()
             if line.startswith("#MINIKUBE13_")]
    assert len(lines) >= 6
    env_file = tmp_path / "minikube13d"
    env_file.write_text("\n".join(lines) + "\n")
    cfg = load_config({}, environ={}, env_file=env_file)
    assert cfg.secure_port == 6443 and cfg.bind_address == "0.0.0.0"
