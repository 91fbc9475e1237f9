"""A throw-away minikube13 daemon for the benchmarks, started as the tests start one:
temporary directories, 127.0.0.1, a free port, only loopback registries."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
BUSYBOX = REPO / "build" / "images" / "busybox.oci"


class Daemon:
    """A throw-away daemon in temporary directories, as the integration tests start it."""

    def __init__(self, root: Path, extra_args: Sequence[str] = ()):
        self.root = root
        self.data_dir = root / "data"
        self.extra_args = list(extra_args)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.config_dir = root / "config"
        self.kubeconfig = self.config_dir / "admin.kubeconfig"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIKUBE13_")}
        env["MINIKUBE13_ENV_FILE"] = str(self.root / "no-env-file")
        cmd = [sys.executable, "-m", "minikube13", "daemon", "--data-dir",
               str(self.data_dir), "--config-dir", str(self.config_dir),
               "--socket", str(self.root / "api.sock"), "--bind-address", "127.0.0.1",
               "--secure-port", str(self.port), "--log-level", "WARNING",
               "--registry-allow", "127.0.0.1:*,localhost:*", "--no-pod-network",
               "--gossip-port", str(_free_port()), *self.extra_args]
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"daemon exited: {(self.root / 'daemon.log').read_text()}")
            if self._ready():
                return
            time.sleep(0.1)
        raise SystemExit("daemon not ready in time")

    def _ready(self) -> bool:
        ca = self.config_dir / "pki" / "ca.crt"
        if not (ca.exists() and self.kubeconfig.exists()):
            return False
        import urllib.request
        try:
            ctx = ssl.create_default_context(cafile=str(ca))
            with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/readyz",
                                        context=ctx, timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def rss_mb(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / (1024 * 1024)

    def import_busybox(self) -> None:
        """The base image `make images` built, imported as `make up` does."""
        if not (BUSYBOX / "index.json").exists():
            raise SystemExit(f"{BUSYBOX} is missing: run `make images` first")
        subprocess.run([sys.executable, "-m", "minikube13", "images", "import",
                        "--data-dir", str(self.data_dir), str(BUSYBOX)],
                       check=True, capture_output=True)

    def stop(self) -> None:
        """Stop the daemon, then tear down the pods it leaves (pods outlive the daemon)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if (self.data_dir / "pods").exists():
            subprocess.run([sys.executable, "-m", "minikube13", "reset", "--data-dir",
                            str(self.data_dir)], capture_output=True, timeout=120,
                           check=False)


def admin_ssl(kubeconfig: Path) -> tuple[str, ssl.SSLContext]:
    """The server URL and an SSL context with the kubeconfig's CA and client certificate."""
    doc = yaml.safe_load(kubeconfig.read_text())
    ctx_name = doc.get("current-context") or doc["contexts"][0]["name"]
    ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
    tmp = Path(tempfile.mkdtemp(prefix="m13-bench-creds-"))

    def material(section: dict[str, Any], key: str, name: str) -> str:
        if section.get(f"{key}-data"):
            (tmp / name).write_bytes(base64.b64decode(section[f"{key}-data"]))
            return str(tmp / name)
        return str(kubeconfig.parent / section[key])

    try:
        ssl_ctx = ssl.create_default_context(
            cafile=material(cluster, "certificate-authority", "ca"))
        ssl_ctx.load_cert_chain(material(user, "client-certificate", "crt"),
                                material(user, "client-key", "key"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # loaded: the key need not stay on disk
    return cluster["server"].rstrip("/"), ssl_ctx


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
