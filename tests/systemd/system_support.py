"""The .deb built by `make package`, installed into a booted Debian, and driven from outside.

kubectl is the host's (a static Go binary) run in the container's network namespace only,
with the admin kubeconfig the daemon wrote inside the root: the API is reached on the
container's own loopback, as a user on that machine would reach it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nspawn import BootedSystem, InsideFailed

REPO = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"
DEB_INSIDE = "/var/tmp/minikube13.deb"
KUBECONFIG_INSIDE = "/etc/minikube13/admin.kubeconfig"
# The API on the container's loopback only; pods pull nothing (the base image is imported).
TEST_SETTINGS = ("MINIKUBE13_BIND_ADDRESS=127.0.0.1\n"
                 "MINIKUBE13_REGISTRY_ALLOW=127.0.0.1:*\n"
                 "MINIKUBE13_NODE_NAME=booted\n"
                 "MINIKUBE13_POD_NETWORK=false\n")
SYSTEMD_STARTED_ID = "39f53479d3a045ac8e11786248231fbf"  # systemd's "Started <unit>"


def built_deb() -> Path:
    """dist/minikube13_*.deb from packaging/build.py's `ensure_package()` (it runs `make
    package` unless dist/ is newer than every input); $MINIKUBE13_TEST_DEB names a .deb to
    test instead, without building."""
    if os.environ.get("MINIKUBE13_TEST_DEB"):
        return Path(os.environ["MINIKUBE13_TEST_DEB"])
    spec = importlib.util.spec_from_file_location("m13_build", REPO / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, build)
    spec.loader.exec_module(build)
    _onefile, deb = build.ensure_package()
    return Path(deb)


def copy_deb_in(system: BootedSystem, deb: Path) -> str:
    target = system.path(DEB_INSIDE)
    target.write_bytes(deb.read_bytes())
    return DEB_INSIDE


def install(system: BootedSystem, deb: Path) -> None:
    """dpkg -i the package (its Depends are in the root: the container has no network)."""
    system.run(["dpkg", "-i", copy_deb_in(system, deb)], timeout=180)
    # the admin's edit of the conffile: dpkg keeps it across an upgrade to the same version
    settings = system.path("/etc/default/minikube13d")
    if TEST_SETTINGS not in settings.read_text():
        with open(settings, "a") as f:
            f.write(TEST_SETTINGS)


def kubectl(system: BootedSystem, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    cmd = ["nsenter", "-t", str(system.leader), "-n", KUBECTL, "--kubeconfig",
           str(system.path(KUBECONFIG_INSIDE)), "--request-timeout=20s", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if check and res.returncode != 0:
        raise InsideFailed(res.returncode, cmd, res.stdout, res.stderr)
    return res


def journal(system: BootedSystem, *match: str) -> list[dict[str, Any]]:
    """journalctl entries (all fields) that match `FIELD=value` or `-u UNIT` arguments."""
    res = system.run(["journalctl", "--no-pager", "-o", "json", *match], check=False)
    return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]


def pod_manifest(name: str, marker: str) -> dict[str, Any]:
    """A busybox pod whose one container prints a line and sleeps `marker` seconds (the
    marker finds its process on the host)."""
    script = f"echo hello-from-{name}; exec sleep {marker}"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 2, "containers": [{
                "name": "web", "image": "busybox", "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", script]}]}}


def wait_pod_running(system: BootedSystem, name: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:
        res = kubectl(system, "get", "pod", name, "-o", "json", check=False)
        if res.returncode == 0:
            pod = json.loads(res.stdout)
            statuses = pod.get("status", {}).get("containerStatuses") or []
            if statuses and all("running" in (s.get("state") or {}) for s in statuses):
                return pod
        time.sleep(0.5)
    raise AssertionError(f"pod {name} not running in {timeout}s: {json.dumps(pod)[-2000:]}\n"
                         f"{system.run(['journalctl', '-n', '80', '--no-pager'], check=False).stdout}")


def processes_with_cmdline(argv: list[str]) -> dict[int, int]:
    """Host pids whose command line is exactly argv, with their start times (clock ticks)."""
    want = ("\0".join(argv) + "\0").encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes() != want:
                continue
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[19])
    return found


def service_property(system: BootedSystem, unit: str, name: str) -> str:
    return system.run(["systemctl", "show", "-p", name, "--value", unit]).stdout.strip()
