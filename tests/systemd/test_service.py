"""minikube13d from the .deb under a real systemd (booted in nspawn): issue 7, done-when 2
and 3. The tests run in file order on one booted system: start, logs, pods, restart, watchdog.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from debian_root import fresh_root
from nspawn import BootedSystem
from system_support import (
    SYSTEMD_STARTED_ID,
    built_deb,
    install,
    journal,
    kubectl,
    pod_manifest,
    processes_with_cmdline,
    service_property,
    wait_pod_running,
)

from minikube13.api.audit import AUDIT_MESSAGE_ID

pytestmark = pytest.mark.slow
UNIT = "minikube13d.service"
POD = "web"
MARKER = "3607"  # `sleep 3607` is this test's container process
WATCHDOG_S = 10  # a drop-in shortens WatchdogSec=60s so the hang test is quick


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootedSystem]:
    tmp = tmp_path_factory.mktemp("booted")
    deb = built_deb()
    with BootedSystem(fresh_root(tmp), tmp / "console.log") as booted:
        install(booted, deb)
        yield booted
        booted.run(["systemctl", "stop", UNIT], check=False, timeout=60)
        booted.run(["minikube13", "reset"], check=False, timeout=60)  # pods, before poweroff


def test_enable_now_is_active_only_after_the_api_answers(system: BootedSystem) -> None:
    """`systemctl enable --now` returns active (running) after /readyz answered and the
    node registered; status shows the daemon's STATUS= text."""
    assert system.run(["systemctl", "is-enabled", UNIT], check=False).stdout.strip() == \
        "disabled"  # the package starts nothing on its own
    system.run(["systemctl", "enable", "--now", UNIT], timeout=150)
    assert service_property(system, UNIT, "ActiveState") == "active"
    assert service_property(system, UNIT, "SubState") == "running"
    entries = journal(system, "-u", UNIT)
    answered = [e for e in entries if e.get("MESSAGE", "").startswith("API answers /readyz")]
    started = [e for e in entries if e.get("MESSAGE_ID") == SYSTEMD_STARTED_ID]
    assert answered and started, [e.get("MESSAGE") for e in entries][-30:]
    assert int(answered[0]["__MONOTONIC_TIMESTAMP"]) < int(started[0]["__MONOTONIC_TIMESTAMP"])
    nodes = json.loads(kubectl(system, "get", "nodes", "-o", "json").stdout)["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["booted"]
    status = system.run(["systemctl", "status", "--no-pager", "-l", UNIT]).stdout
    assert "Active: active (running)" in status
    assert 'Status: "serving https://127.0.0.1:6443' in status, status


def test_journal_has_structured_fields_and_a_delete_audit_record(system: BootedSystem) -> None:
    """`journalctl -u minikube13d -o json` has COMPONENT=; `kubectl delete` leaves an
    audit record that `journalctl AUDIT_VERB=delete` finds."""
    entries = journal(system, "-u", UNIT)
    components = {e["COMPONENT"] for e in entries if "COMPONENT" in e}
    assert "minikube13.daemon.supervisor" in components, components
    assert all(e.get("SYSLOG_IDENTIFIER") == "minikube13d" for e in entries
               if "COMPONENT" in e)
    kubectl(system, "create", "configmap", "doomed", "--from-literal=a=b")
    kubectl(system, "delete", "configmap", "doomed")
    records = journal(system, "-u", UNIT, "AUDIT_VERB=delete", f"MESSAGE_ID={AUDIT_MESSAGE_ID}")
    [record] = [r for r in records if r.get("AUDIT_NAME") == "doomed"]
    assert (record["AUDIT_RESOURCE"], record["AUDIT_NAMESPACE"], record["AUDIT_CODE"]) == \
        ("configmaps", "default", "200")
    assert record["AUDIT_USER"] and record["COMPONENT"] == "minikube13.audit"
    assert (record["NAMESPACE"], record["OBJECT"]) == ("default", "configmaps/default/doomed")
    creates = journal(system, "-u", UNIT, "AUDIT_VERB=create", "AUDIT_RESOURCE=configmaps")
    assert [r["AUDIT_CODE"] for r in creates] == ["201"]


def test_pod_runs_as_a_transient_unit_with_journald_fields(system: BootedSystem) -> None:
    """The pod's stage1 is minikube13-pod-<uid>.service in machine.slice; its container's
    output is in the journal under CONTAINER_NAME=web."""
    kubectl(system, "apply", "-f", "-", input=json.dumps(pod_manifest(POD, MARKER)))
    pod = wait_pod_running(system, POD)
    uid = pod["metadata"]["uid"]
    unit = f"minikube13-pod-{uid}.service"
    assert service_property(system, unit, "ActiveState") == "active"
    assert service_property(system, unit, "Slice") == "machine.slice"
    status = system.run(["systemctl", "status", "--no-pager", unit]).stdout
    assert f"stage1 /var/lib/minikube13/pods/{uid}" in status, status
    lines = system.wait_for(["journalctl", "--no-pager", "-o", "json", "CONTAINER_NAME=web",
                             f"POD_UID={uid}"], timeout=10)
    entries = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [e["MESSAGE"] for e in entries] == [f"hello-from-{POD}"]
    assert entries[0]["POD_NAME"] == POD and entries[0]["POD_NAMESPACE"] == "default"
    assert entries[0]["_SYSTEMD_UNIT"] == unit
    daemon_lines = journal(system, "-u", UNIT, f"POD_UID={uid}")
    assert any(e["COMPONENT"] == "minikube13.runtime.stage0" for e in daemon_lines)
    machines = system.run(["machinectl", "list", "--no-legend"], check=False).stdout
    assert f"minikube13-pod-{uid}" in machines, machines


def test_restart_leaves_the_pod_running(system: BootedSystem) -> None:
    """`systemctl restart minikube13d`: same container processes, same start times."""
    before = processes_with_cmdline(["sleep", MARKER])
    started = _started_at(system)
    assert len(before) == 1
    old_pid = service_property(system, UNIT, "MainPID")
    system.run(["systemctl", "restart", UNIT], timeout=150)
    assert service_property(system, UNIT, "MainPID") != old_pid
    assert processes_with_cmdline(["sleep", MARKER]) == before
    wait_pod_running(system, POD)
    assert _started_at(system) == started


def test_a_hung_daemon_is_restarted_by_the_watchdog(system: BootedSystem) -> None:
    """kill -STOP of the main PID: systemd restarts it within WatchdogSec + 10 s; the pod
    lives on."""
    dropin = system.path(f"/etc/systemd/system/{UNIT}.d/test-watchdog.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(f"[Service]\nWatchdogSec={WATCHDOG_S}s\n")
    system.run(["systemctl", "daemon-reload"])
    system.run(["systemctl", "restart", UNIT], timeout=150)
    before = processes_with_cmdline(["sleep", MARKER])
    hung = service_property(system, UNIT, "MainPID")
    restarts = int(service_property(system, UNIT, "NRestarts"))
    system.sh(f"kill -STOP {hung}")
    stopped_at = time.monotonic()
    deadline = stopped_at + WATCHDOG_S + 10
    while time.monotonic() < deadline:
        if service_property(system, UNIT, "MainPID") not in ("0", hung) and \
                int(service_property(system, UNIT, "NRestarts")) > restarts:
            break
        time.sleep(0.5)
    took = time.monotonic() - stopped_at
    assert int(service_property(system, UNIT, "NRestarts")) == restarts + 1, took
    assert took <= WATCHDOG_S + 10
    reasons = journal(system, "-u", UNIT, "--since", "-2min")
    assert any("Watchdog timeout" in e.get("MESSAGE", "") for e in reasons)
    system.run(["systemctl", "start", UNIT], timeout=150)  # waits for READY of the new one
    assert processes_with_cmdline(["sleep", MARKER]) == before
    dropin.unlink()
    system.run(["systemctl", "daemon-reload"])


def _started_at(system: BootedSystem) -> str:
    pod = json.loads(kubectl(system, "get", "pod", POD, "-o", "json").stdout)
    [status] = pod["status"]["containerStatuses"]
    return str(status["state"]["running"]["startedAt"])
