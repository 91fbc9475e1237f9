"""Starting, stopping, restarting and killing the daemon; systemd notifications; bad config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import DaemonProcess, drain_notifications

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  greeting: hello
"""


def test_restart_keeps_data_and_certificates(fresh_daemon: DaemonProcess) -> None:
    """A configmap created before a restart is there after it, and the CA is unchanged."""
    fresh_daemon.kubectl("apply", "-f", "-", input=CONFIGMAP.format(name="before-restart"))
    ca = (fresh_daemon.pki / "ca.crt").read_bytes()
    kubeconfig = fresh_daemon.kubeconfig.read_bytes()
    fresh_daemon.restart()
    out = fresh_daemon.kubectl("get", "cm", "before-restart", "-o",
                               "jsonpath={.data.greeting}").stdout
    assert out == "hello"
    assert (fresh_daemon.pki / "ca.crt").read_bytes() == ca
    assert fresh_daemon.kubeconfig.read_bytes() == kubeconfig


def test_kill9_keeps_acknowledged_writes(fresh_daemon: DaemonProcess) -> None:
    """After kill -9 and a new start, an object kubectl saw created is still there."""
    fresh_daemon.kubectl("apply", "-f", "-", input=CONFIGMAP.format(name="before-kill"))
    fresh_daemon.kill9()
    fresh_daemon.start()  # also proves a stale socket file does not block the start
    assert fresh_daemon.kubectl("get", "cm", "before-kill", "-o", "name").stdout.strip() \
        == "configmap/before-kill"


def test_sigterm_stops_cleanly(fresh_daemon: DaemonProcess) -> None:
    """SIGTERM ends the daemon with exit code 0, removes its socket and logs the stop."""
    started = time.monotonic()
    assert fresh_daemon.stop() == 0
    assert time.monotonic() - started < 10
    assert not fresh_daemon.socket.exists()
    assert "daemon stopped" in fresh_daemon.log()


def test_second_daemon_on_the_same_socket_refuses(fresh_daemon: DaemonProcess,
                                                  daemon_factory: type[DaemonProcess]) -> None:
    """A second daemon pointed at a live socket exits with a clear message."""
    second = daemon_factory("second")
    second.socket = fresh_daemon.socket
    proc = second.spawn()
    assert proc.wait(30) != 0
    assert "another daemon is serving" in second.log()
    assert fresh_daemon.kubectl("get", "ns", "default", "-o", "name").returncode == 0


def test_sd_notify_ready_watchdog_and_stopping(daemon_factory: type[DaemonProcess],
                                               tmp_path: Path) -> None:
    """Under systemd the daemon sends READY=1 when serving, WATCHDOG=1 pings, then STOPPING=1."""
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify_path))
        listener.settimeout(0.2)
        d = daemon_factory("notified", env={"NOTIFY_SOCKET": str(notify_path),
                                            "WATCHDOG_USEC": "400000"})
        d.start()
        # The fixture's own probe can see /readyz before the daemon's probe of itself does:
        # wait for READY=1 itself, then for a watchdog ping after it.
        messages = drain_notifications(listener, until="READY=1", timeout=10)
        messages += drain_notifications(listener, until="WATCHDOG=1", timeout=10)
        assert d.stop() == 0
        messages += drain_notifications(listener, until="STOPPING=1", timeout=10)
    text = "\n".join(messages)
    assert "READY=1" in text and "STATUS=serving" in text
    assert "WATCHDOG=1" in text
    assert "STOPPING=1" in text
    assert text.index("READY=1") < text.index("STOPPING=1")




def test_bad_env_file_value_stops_the_daemon_with_a_clear_error(
        daemon_factory: type[DaemonProcess], tmp_path: Path) -> None:
    """A bad port in the environment file: exit code 1, the file and variable named, no traceback."""
    env_file = tmp_path / "minikube13d.env"
    env_file.write_text("MINIKUBE13_SECURE_PORT=sixty-four-forty-three\n")
    d = daemon_factory("badenv", env={"MINIKUBE13_ENV_FILE": str(env_file)})
    # Without --secure-port on the command line, the file's value is the one used.
    cmd = d.command()
    i = cmd.index("--secure-port")
    del cmd[i:i + 2]
    res = subprocess.run(cmd, env=d.environment(), capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert str(env_file) in res.stderr
    assert "MINIKUBE13_SECURE_PORT" in res.stderr and "port number" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_flag_is_reported_without_traceback(tmp_path: Path) -> None:
    """`minikube13 daemon --bind-address nowhere` explains itself and exits 1."""
    env = dict(os.environ, MINIKUBE13_ENV_FILE=str(tmp_path / "none"))
    res = subprocess.run([sys.executable, "-m", "minikube13", "daemon", "--bind-address",
                          "nowhere"], env=env, capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert "--bind-address='nowhere'" in res.stderr and "not an IP address" in res.stderr
    assert "Traceback" not in res.stderr


def test_busy_port_is_reported(fresh_daemon: DaemonProcess,
                               daemon_factory: type[DaemonProcess]) -> None:
    """A second daemon on a port in use says which address it could not listen on."""
    second = daemon_factory("busy")
    second.port = fresh_daemon.port
    proc = second.spawn()
    assert proc.wait(30) == 1
    assert f"cannot listen on 127.0.0.1:{fresh_daemon.port}" in second.log()
    assert not second.socket.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_startup_still_exits(daemon_factory: type[DaemonProcess],
                                           sig: signal.Signals) -> None:
    """Ctrl-C or SIGTERM right after launch ends the daemon without a hang."""
    d = daemon_factory(f"early-{sig.name}")
    proc = d.spawn()
    time.sleep(0.8)
    proc.send_signal(sig)
    assert proc.wait(20) in (0, 1, -sig)


def test_open_watch_does_not_hold_up_shutdown(fresh_daemon: DaemonProcess) -> None:
    """With `kubectl get ns -w` running, SIGTERM still stops the daemon within seconds."""
    watcher = subprocess.Popen(
        ["/usr/bin/kubectl", "--kubeconfig", str(fresh_daemon.kubeconfig), "get", "ns", "-w"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[0] == "NAME"  # the watch is open
        started = time.monotonic()
        assert fresh_daemon.stop() == 0
        assert time.monotonic() - started < 10
    finally:
        watcher.kill()
        watcher.wait(10)


def test_second_daemon_on_the_same_data_dir_refuses(fresh_daemon: DaemonProcess,
                                                    daemon_factory: type[DaemonProcess]) -> None:
    """Two daemons never share one store: the second names the first one's pid and exits."""
    second = daemon_factory("same-data")
    second.data_dir = fresh_daemon.data_dir
    proc = second.spawn()
    assert proc.wait(30) == 1
    assert fresh_daemon.process is not None
    assert f"another minikube13d (pid {fresh_daemon.process.pid})" in second.log()
    assert fresh_daemon.kubectl("get", "ns", "default", "-o", "name").returncode == 0
