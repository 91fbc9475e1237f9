"""A real minikube13 daemon as a subprocess, for integration tests.

`daemon` is shared by the whole session (tests must not depend on a pristine cluster);
`fresh_daemon` is a new daemon with empty state for tests that restart, kill or break it.
Both talk to it the way a user would: kubectl over TLS with the admin kubeconfig, and the
Unix socket.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

KUBECTL = "/usr/bin/kubectl"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# The child gets SIGTERM if pytest dies, so no daemon outlives the run. util-linux's setpriv
# sets it and execs (same pid); a preexec_fn would run Python after fork in a threaded
# pytest, which can deadlock the child before exec and hang Popen forever.
DIE_WITH_PYTEST = ["/usr/bin/setpriv", "--pdeathsig", "TERM"]
# No test pulls an image from the internet (the network rule): only loopback registries.
REGISTRY_ALLOW = "127.0.0.1:*,localhost:*"
RESET_TIMEOUT_S = 60.0


class CommandFailed(subprocess.CalledProcessError):
    """A CalledProcessError whose message shows what the command printed."""

    def __str__(self) -> str:
        return f"{super().__str__()}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a daemon's Unix socket."""

    def __init__(self, path: str, timeout: float = 2.0):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class DaemonProcess:
    """One `minikube13 daemon` subprocess with its own directories and port."""

    def __init__(self, root: Path, extra_args: Sequence[str] = (),
                 env: dict[str, str] | None = None):
        self.root = root
        self.data_dir = root / "data"
        self.config_dir = root / "config"
        self.socket = root / "run" / "api.sock"
        self.port = free_port()
        self.gossip_port = free_port()
        self.kubeconfig = self.config_dir / "admin.kubeconfig"
        self.log_path = root / "daemon.log"
        self.kube_cache = root / "kube-cache"
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "minikube13", "daemon",
            "--data-dir", str(self.data_dir), "--config-dir", str(self.config_dir),
            "--socket", str(self.socket), "--bind-address", "127.0.0.1",
            "--secure-port", str(self.port), "--registry-allow", REGISTRY_ALLOW,
            # the network rule: no pod bridge in the machine's own namespace; gossip on a
            # port of its own so daemons side by side do not meet by accident
            "--no-pod-network", "--gossip-port", str(self.gossip_port),
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        # The developer's own /etc/default/minikube13d and MINIKUBE13_* variables must not
        # leak into a test daemon, nor a systemd NOTIFY_SOCKET.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MINIKUBE13_") and k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        env["MINIKUBE13_ENV_FILE"] = str(self.root / "no-such-env-file")
        env.update(self.extra_env)
        return env

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for readiness."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        try:
            self.process = subprocess.Popen(
                [*DIE_WITH_PYTEST, *self.command()], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.environment(), start_new_session=True,
            )
        finally:
            log.close()
        return self.process

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start the daemon and wait until /readyz answers 200."""
        self.spawn()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.process
            assert proc is not None
            if proc.poll() is not None:
                pytest.fail(f"daemon exited with {proc.returncode} before it was ready:\n"
                            f"{self.log()}")
            if self.is_ready():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"daemon not ready after {timeout:.0f}s:\n{self.log()}")

    def is_ready(self) -> bool:
        ca = self.config_dir / "pki" / "ca.crt"
        if not ca.exists() or not self.kubeconfig.exists():
            return False
        ctx = ssl.create_default_context(cafile=str(ca))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/readyz",
                                        context=ctx, timeout=2) as resp:
                return int(resp.status) == 200
        except (OSError, urllib.error.URLError, ssl.SSLError):
            return False

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._kill_group()
            return proc.wait(STOP_TIMEOUT_S)

    def kill9(self) -> None:
        """SIGKILL the daemon, as a power cut or OOM kill would."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            self._kill_group()
            proc.wait(STOP_TIMEOUT_S)

    def reset(self) -> None:
        """Tear down every pod the daemon left (pods outlive their daemon): stage1s, runc
        containers, mounts, cgroups, netns, pod dirs. Call after stop() or kill9()."""
        if importlib.util.find_spec("minikube13.cli.reset") is None or \
                not (self.data_dir / "pods").exists():
            return
        subprocess.run([sys.executable, "-m", "minikube13", "reset", "--data-dir",
                        str(self.data_dir)], capture_output=True, text=True,
                       timeout=RESET_TIMEOUT_S, check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _kill_group(self) -> None:
        proc = self.process
        assert proc is not None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # -- talking to it --------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this daemon with the admin kubeconfig."""
        cmd = [KUBECTL, "--kubeconfig", str(self.kubeconfig),
               "--cache-dir", str(self.kube_cache), *args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise CommandFailed(res.returncode, cmd, res.stdout, res.stderr)
        return res

    def cli(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `minikube13 ARGS --socket <this daemon's socket>`."""
        cmd = [sys.executable, "-m", "minikube13", *args, "--socket", str(self.socket)]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise CommandFailed(res.returncode, cmd, res.stdout, res.stderr)
        return res

    def socket_ready(self) -> bool:
        """/readyz over the Unix socket as the local admin (the socket's path is reachable
        from any network namespace, the TCP address may not be)."""
        if not self.socket.exists():
            return False
        conn = UnixHTTPConnection(str(self.socket))
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def api_get(self, path: str) -> tuple[int, dict[str, str], Any]:
        """GET over the Unix socket as the local admin: (status, headers, JSON body)."""
        conn = UnixHTTPConnection(str(self.socket), timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, headers, json.loads(body) if body else None
        finally:
            conn.close()

    def create_token(self) -> str:
        """A join token from this (server) daemon: `minikube13 token create`."""
        return self.cli("token", "create").stdout.strip().splitlines()[-1]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pki(self) -> Path:
        return self.config_dir / "pki"


def _running(d: DaemonProcess) -> Iterator[DaemonProcess]:
    try:
        d.start()
        yield d
    finally:
        d.stop()
        d.kill9()
        d.reset()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One daemon shared by the session; tests create their own uniquely named objects."""
    yield from _running(DaemonProcess(tmp_path_factory.mktemp("daemon")))


@pytest.fixture
def fresh_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon of its own, for tests that stop, kill or reconfigure it."""
    yield from _running(DaemonProcess(tmp_path / "d"))


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[type[DaemonProcess]]:
    """Make unstarted daemons (custom flags or environment); all are stopped afterwards."""
    made: list[DaemonProcess] = []

    class _Tracked(DaemonProcess):
        def __init__(self, name: str = "d", extra_args: Sequence[str] = (),
                     env: dict[str, str] | None = None):
            super().__init__(tmp_path / name, extra_args, env)
            made.append(self)

    try:
        yield _Tracked
    finally:
        for d in made:
            d.stop()
            d.kill9()
            d.reset()


def drain_notifications(listener: socket.socket, until: str, timeout: float) -> list[str]:
    """sd_notify datagrams from `listener` (with a recv timeout set) until one contains
    `until`, or `timeout` seconds pass."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(listener.recv(4096).decode())
        except TimeoutError:
            continue
        if until in got[-1]:
            break
    return got
