"""Shared helpers of the end-to-end tests: kubectl runs, test manifests, and HTTPS clients
that present the admin certificate of a test daemon (as kubectl does)."""

from __future__ import annotations

import atexit
import base64
import json
import os
import queue
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

MANIFESTS = Path(__file__).parent / "manifests"
KUBECTL = "/usr/bin/kubectl"


class KubectlFailed(AssertionError):
    """kubectl exited non-zero where the test expected success."""


def kubectl(daemon: Any, *args: str, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against `daemon` through the fixture's helper; text output."""
    result = daemon.kubectl(*args, input=input, check=False)
    if check and result.returncode != 0:
        raise KubectlFailed(f"kubectl {' '.join(args)} -> rc={result.returncode}\n"
                            f"stdout: {result.stdout}\nstderr: {result.stderr}")
    return result


def kubectl_argv(daemon: Any, *args: str) -> list[str]:
    """The argv of a kubectl run against `daemon` (for runs that need Popen or an env)."""
    cache = getattr(daemon, "kube_cache", None)
    extra = ["--cache-dir", str(cache)] if cache else []
    return [KUBECTL, "--kubeconfig", str(daemon.kubeconfig), *extra, *args]


def kubectl_json(daemon: Any, *args: str, input: str | None = None) -> Any:
    """kubectl ... -o json, decoded."""
    return json.loads(kubectl(daemon, *args, "-o", "json", input=input).stdout)


def load_manifest(relative: str, **subst: str) -> dict[str, Any]:
    """A test manifest from tests/integration/manifests with `__KEY__` placeholders filled."""
    text = (MANIFESTS / relative).read_text()
    for key, value in subst.items():
        text = text.replace(f"__{key.upper()}__", value)
    return yaml.safe_load(text)


def to_yaml(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


class LineWatcher:
    """A long-running command (e.g. `kubectl get -w`) whose stdout lines are collected."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 10.0) -> bool:
        """True once predicate(lines) holds, False after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._new.empty()):
                return predicate(self.lines)
            try:
                self._new.get(timeout=min(left, 0.2))
            except queue.Empty:
                pass
        return True

    def stop(self) -> str:
        """Terminate the command; return its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


@dataclass(frozen=True)
class AdminCredentials:
    """Where the API is and the admin's TLS material, as files (for ssl and requests)."""

    server: str
    ca_file: str
    cert_file: str
    key_file: str

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our CA
        s.cert = (self.cert_file, self.key_file)
        s.verify = self.ca_file
        return s


_CREDS: dict[str, AdminCredentials] = {}


def admin_credentials(kubeconfig: str | os.PathLike[str]) -> AdminCredentials:
    """The current context's server and client certificate, from inline data or files."""
    key = str(kubeconfig)
    if key in _CREDS:
        return _CREDS[key]
    doc = yaml.safe_load(Path(kubeconfig).read_text())
    ctx_name = doc.get("current-context") or doc["contexts"][0]["name"]
    ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
    workdir = Path(tempfile.mkdtemp(prefix="m13-e2e-creds-"))
    atexit.register(shutil.rmtree, workdir, True)  # key material: do not leave it in /tmp
    base = Path(kubeconfig).parent

    def material(section: dict[str, Any], field: str, name: str) -> str:
        if section.get(f"{field}-data"):
            path = workdir / name
            path.write_bytes(base64.b64decode(section[f"{field}-data"]))
            return str(path)
        return str(base / section[field])

    creds = AdminCredentials(
        server=cluster["server"].rstrip("/"),
        ca_file=material(cluster, "certificate-authority", "ca.crt"),
        cert_file=material(user, "client-certificate", "admin.crt"),
        key_file=material(user, "client-key", "admin.key"),
    )
    _CREDS[key] = creds
    return creds


def wait_ready(creds: AdminCredentials, timeout: float = 30.0) -> None:
    """Poll /readyz until 200 (the daemon serves again after a restart)."""
    deadline = time.monotonic() + timeout
    last: object = None
    with creds.session() as s:
        while time.monotonic() < deadline:
            try:
                r = s.get(creds.server + "/readyz", timeout=2)
                if r.status_code == 200:
                    return
                last = r.status_code
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.2)
    raise AssertionError(f"daemon not ready after {timeout}s: {last}")


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    """A small ConfigMap body for API-level tests."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": dict(data)}


def ensure_namespace(daemon: Any, name: str) -> None:
    """Create namespace `name` unless it exists."""
    got = kubectl(daemon, "get", "namespace", name, check=False)
    if got.returncode != 0:
        kubectl(daemon, "create", "namespace", name)
