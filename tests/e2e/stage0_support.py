"""Fixtures for the stage0 e2e tests: a busybox rootfs as a one-layer image, a stand-in
stage1 (until the real one runs), a PodRuntime on a temp data dir, and leak counters."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minikube13.runtime import cgroups, mounts, netns, procfs
from minikube13.runtime.gc import reset_data_dir
from minikube13.runtime.images import Image, ImageConfig, ImageError, ImageStore
from minikube13.runtime.pods import PodInputs, PodRuntime

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/usr/bin/busybox")
BUILD_RECIPE = REPO / "rootfs" / "busybox" / "build.py"
REAL_STAGE1 = [sys.executable, "-m", "minikube13"]
needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="needs root and iproute2")

# A stage1 stand-in: PID 1 of the pod namespaces that records itself and waits for SIGTERM.
STANDIN = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {repo!r})
    from minikube13.runtime.poddir import PodDir, Stage1State
    from minikube13.runtime.procfs import start_ticks
    pd = PodDir(__import__("pathlib").Path(sys.argv[-1]))
    pid = int(os.readlink("/proc/self"))
    def stop(*_):
        pd.write_pod_state(Stage1State(pid, start_ticks(pid), time.time(), "Succeeded"))
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    pd.write_pod_state(Stage1State(pid, start_ticks(pid), time.time(), "Running"))
    while True:
        time.sleep(60)
""")


def busybox_layer(root: Path) -> Path:
    """A rootfs directory: /bin/busybox with its applets, /etc/passwd, /tmp."""
    layer = root / "layer"
    (layer / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, layer / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:  # relative links: `busybox --install -s` links the host path
        if applet != "busybox":
            (layer / "bin" / applet).symlink_to("busybox")
    (layer / "etc").mkdir()
    (layer / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                          "nobody:x:65534:65534:nobody:/:/bin/false\n")
    (layer / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for d in ("tmp", "root", "proc", "sys", "dev"):
        (layer / d).mkdir()
    return layer


@dataclass
class LayerImages:
    """An ImageSource holding one image (any reference resolves to it); pulls fail."""
    layer: Path

    def resolve(self, ref: str) -> Image | None:
        if "missing" in ref:
            return None
        config = ImageConfig(cmd=["sh"], env=["PATH=/bin"])
        return Image(names=[ref], digest="sha256:" + "d" * 64, id="sha256:" + "c" * 64,
                     config=config, size=0, pinned=True)

    def layer_dirs(self, image: Image) -> list[Path]:
        return [self.layer]

    async def pull(self, ref: str, auth: Any = None, progress: Any = None,
                   allowed: Any = ("*",)) -> Image:
        raise ImageError(f"pulling from {ref} not allowed")


def standin_command(tmp: Path) -> list[str]:
    script = tmp / "stage1_standin.py"
    script.write_text(STANDIN.format(repo=str(REPO)))
    return [sys.executable, str(script)]


def pod_object(name: str = "", **spec: Any) -> dict[str, Any]:
    uid = str(uuid.uuid4())
    body: dict[str, Any] = {"containers": [{"name": "main", "image": "busybox",
                                            "command": ["sleep", "1000"]}]}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name or f"p-{uid[:8]}", "namespace": "default", "uid": uid},
            "spec": body}


def inputs(**kw: Any) -> PodInputs:
    base: dict[str, Any] = {"secrets": {}, "config_maps": {}, "node_name": "node1",
                            "host_ip": "127.0.0.1"}
    base.update(kw)
    return PodInputs(**base)


@dataclass(frozen=True)
class Leftovers:
    """What one pod left on the host."""
    processes: int
    mounts: int
    cgroups: int
    netns: int
    dirs: int

    @property
    def total(self) -> int:
        return self.processes + self.mounts + self.cgroups + self.netns + self.dirs


def leftovers(data_dir: Path, uid: str) -> Leftovers:
    pod_dir = data_dir / "pods" / uid
    return Leftovers(
        processes=len(procfs.stage1_processes(pod_dir)) + len(cgroups.procs_in(uid)),
        mounts=len(mounts.mounts_under(pod_dir)),
        cgroups=len(cgroups.pod_cgroup_dirs(uid)),
        netns=int(netns.netns_path(uid).exists()),
        dirs=int(pod_dir.exists()))


@pytest.fixture(name="data_dir")
def data_dir_fixture(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    data.mkdir()
    yield data
    reset_data_dir(data)


@pytest.fixture(name="layer")
def layer_fixture(tmp_path: Path) -> Path:
    return busybox_layer(tmp_path)


@pytest.fixture(name="runtime")
def runtime_fixture(tmp_path: Path, data_dir: Path, layer: Path) -> PodRuntime:
    return PodRuntime(data_dir, self_command=standin_command(tmp_path),
                      images=LayerImages(layer))


@pytest.fixture(scope="session", name="busybox_store")
def busybox_store_fixture(tmp_path_factory: pytest.TempPathFactory) -> ImageStore:
    """The rootfs/ busybox image, built once and imported into a store of its own."""
    root = tmp_path_factory.mktemp("stage0-images")
    subprocess.run([sys.executable, str(BUILD_RECIPE), str(root / "busybox.oci")], check=True,
                   capture_output=True)
    store = ImageStore(root / "images")
    store.import_path(root / "busybox.oci")
    return store


@pytest.fixture(name="real_runtime")
def real_runtime_fixture(data_dir: Path, busybox_store: ImageStore) -> PodRuntime:
    """PodRuntime with the real stage1 (`python -m minikube13 stage1`) and runc."""
    return PodRuntime(data_dir, self_command=REAL_STAGE1, images=busybox_store,
                      backoff_initial_s=0.2, backoff_max_s=1.0)


async def wait_for(runtime: PodRuntime, uid: str, check: Any, timeout_s: float = 10.0) -> Any:
    """Poll runtime.pod(uid) until check(pod) is true; the pod."""
    deadline = time.monotonic() + timeout_s
    while True:
        pod = runtime.pod(uid)
        if pod is not None and check(pod):
            return pod
        if time.monotonic() > deadline:
            log = data_tail(runtime.data_dir, uid)
            raise AssertionError(f"pod {uid} never got there: {pod}\n{log}")
        await asyncio.sleep(0.02)


def data_tail(data_dir: Path, uid: str) -> str:
    try:
        return (data_dir / "pods" / uid / "stage1.log").read_text()[-3000:]
    except OSError:
        return ""


def running(name: str) -> Any:
    return lambda pod: name in pod.containers and pod.containers[name].state == "running"
