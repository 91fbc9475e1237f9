"""A pod dir made by hand for the stage1 e2e tests (no stage0): a throw-away busybox rootfs,
OCI bundles written here, a netns, and stage1 launched detached exactly as stage0 does.

Names are kept apart from the real runtime's (netns `m13t-*`, cgroups under
`/minikube13-test/`, a runc root per test) so another part's garbage collector never
touches them; `PodRig.destroy` removes every one of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from minikube13.runtime.poddir import (
    STAGE1_TOKEN,
    ContainerPlan,
    ContainerState,
    PodDir,
    PodPlan,
    Stage1State,
    StopRequest,
)
from minikube13.runtime.procfs import stage1_alive

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "/usr/bin/busybox"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "minikube13-test"
NETNS_DIR = Path("/run/netns")


def build_rootfs(root: Path) -> Path:
    """busybox with every applet linked in /bin, plus the mount points the bundles use."""
    (root / "bin").mkdir(parents=True)
    os.link(BUSYBOX, root / "bin" / "busybox") if _same_fs(BUSYBOX, root) else \
        _copy(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp", "etc", "shared", "root"):
        (root / d).mkdir(exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "dev" / "termination-log").touch()
    return root


def _same_fs(a: str, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def _copy(src: str, dst: Path) -> None:
    dst.write_bytes(Path(src).read_bytes())
    dst.chmod(0o755)


def bundle_config(args: list[str], rootfs: Path, netns: str, cgroups_path: str, *,
                  shared: Path, termination_log: Path, memory_limit: int | None = None,
                  ) -> dict[str, Any]:
    """A small OCI config like stage0's: pid/ipc/uts by STAGE1 path, netns file, new mount."""
    ns = [{"type": t, "path": f"{STAGE1_TOKEN}ns/{p}"}
          for t, p in (("pid", "pid"), ("ipc", "ipc"), ("uts", "uts"))]
    ns += [{"type": "network", "path": netns}, {"type": "mount"}]
    caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_NET_BIND_SERVICE"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/shared", "type": "bind", "source": str(shared),
         "options": ["rbind", "rw"]},
        {"destination": "/dev/termination-log", "type": "bind",
         "source": str(termination_log), "options": ["bind", "rw"]},
    ]
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if memory_limit is not None:
        resources["memory"] = {"limit": memory_limit, "swap": memory_limit}
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin", "HOME=/root"], "cwd": "/",
                    "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": True},
        "root": {"path": str(rootfs), "readonly": True},
        "mounts": mounts,
        "linux": {"namespaces": ns, "cgroupsPath": cgroups_path, "resources": resources,
                  "maskedPaths": ["/proc/kcore", "/proc/keys"],
                  "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]},
    }


class PodRig:
    """One hand-made pod: dirs, bundles, netns; launch stage1; inspect; destroy."""

    def __init__(self, base: Path, rootfs: Path, *, restart_policy: str = "Never",
                 grace_s: float = 5.0, backoff: tuple[float, float] = (0.2, 2.0)):
        self.uid = uuid.uuid4().hex[:12]
        self.data_dir = base / "data"
        self.pd = PodDir.of(self.data_dir, self.uid)
        self.pd.root.mkdir(parents=True)
        self.shared = self.pd.root / "shared"
        self.shared.mkdir()
        self.shared.chmod(0o777)
        self.rootfs = rootfs
        self.netns = str(NETNS_DIR / f"m13t-{self.uid}")
        self.plan = PodPlan(uid=self.uid, namespace="default", name="pod-" + self.uid[:6],
                            restart_policy=restart_policy, hostname="host-" + self.uid[:6],
                            netns=self.netns, cgroup_parent=f"{CGROUP_PARENT}/pod{self.uid}",
                            termination_grace_s=grace_s, backoff_initial_s=backoff[0],
                            backoff_max_s=backoff[1])
        self.launched = False

    def add(self, name: str, script: str, *, init: bool = False, memory_limit: int | None = None,
            args: list[str] | None = None, **extra: Any) -> ContainerPlan:
        """A container running `sh -c script` (or `args`)."""
        cdir = self.pd.container_dir(name)
        bundle = cdir / "bundle"
        bundle.mkdir(parents=True)
        term = cdir / "termination-log"
        term.touch()
        config = bundle_config(args or ["sh", "-c", script], self.rootfs, self.netns,
                               f"/{self.plan.cgroup_parent}/{name}", shared=self.shared,
                               termination_log=term, memory_limit=memory_limit)
        (bundle / "config.json").write_text(json.dumps(config))
        plan = ContainerPlan(name=name, init=init, runc_id=f"{self.uid}-{name}",
                             bundle=str(bundle), termination_log=str(term), **extra)
        key = "init_containers" if init else "containers"
        self.plan = replace(self.plan, **{key: [*getattr(self.plan, key), plan]})
        return plan

    def launch(self) -> float:
        """Write the plan, make the netns, start stage1 the way stage0 does; returns the
        launch time."""
        self.pd.write_plan(self.plan)
        subprocess.run(["ip", "netns", "add", os.path.basename(self.netns)], check=True)
        subprocess.run(["ip", "netns", "exec", os.path.basename(self.netns), "ip", "link",
                        "set", "lo", "up"], check=True)
        argv = ["setsid", "--fork", "nsenter", f"--net={self.netns}", "unshare", "--pid",
                "--ipc", "--uts", "--fork", "--", sys.executable, "-m", "minikube13",
                "stage1", str(self.pd.root)]
        started = time.time()
        with open(self.pd.root / "stage1.log", "ab") as out:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True,
                           cwd=REPO)
        self.launched = True
        return started

    # -- inspection -----------------------------------------------------------------------

    def pod_state(self) -> Stage1State | None:
        return self.pd.read_pod_state()

    def state(self, name: str) -> ContainerState | None:
        return self.pd.read_container_state(name)

    def wait_for(self, what: Callable[[], Any], timeout_s: float = 10.0, what_s: str = ""
                 ) -> Any:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what_s or what}\n{self.stage1_log()}")

    def stage1_log(self) -> str:
        path = self.pd.root / "stage1.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def alive(self) -> bool:
        return stage1_alive(self.pod_state())

    def stop(self, grace_s: float) -> None:
        """What the agent does: write `stop`, then SIGTERM stage1."""
        state = self.pod_state()
        assert state is not None
        self.pd.write_stop(StopRequest(grace_s))
        os.kill(state.stage1_pid, signal.SIGTERM)

    def pod_pid_ns(self) -> str | None:
        state = self.pod_state()
        try:
            return os.readlink(f"/proc/{state.stage1_pid}/ns/pid") if state else None
        except OSError:
            return None

    # -- teardown -------------------------------------------------------------------------

    def destroy(self) -> None:
        """Kill stage1 (its pid ns dies with it), delete runc containers, cgroups, netns."""
        state = self.pod_state()
        if state is not None and stage1_alive(state):
            os.kill(state.stage1_pid, signal.SIGKILL)
            deadline = time.time() + 5
            while stage1_alive(state) and time.time() < deadline:
                time.sleep(0.02)
        runc_root = self.data_dir / "runc"
        for c in [*self.plan.init_containers, *self.plan.containers]:
            subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", c.runc_id],
                           capture_output=True, check=False)
        remove_cgroups(self.plan.cgroup_parent)
        if os.path.exists(self.netns):
            subprocess.run(["ip", "netns", "del", os.path.basename(self.netns)], check=False)


def cgroup_dirs(rel: str) -> list[Path]:
    return [h / rel for h in CGROUP_ROOT.iterdir() if (h / rel).is_dir()]


def remove_cgroups(rel: str) -> None:
    """rmdir the pod's cgroups, deepest first, in every hierarchy (and the test parent)."""
    for top in cgroup_dirs(rel):
        for sub in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            _rmdir(sub)
        _rmdir(top)
    for parent in cgroup_dirs(CGROUP_PARENT):
        _rmdir(parent)


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def processes_in_pid_ns(ns: str) -> list[int]:
    """Host pids whose pid namespace is `ns` (e.g. 'pid:[4026532248]')."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def read_lines(path: Path) -> list[list[str]]:
    return [ln.split() for ln in path.read_text().splitlines() if ln.strip()] \
        if path.exists() else []


@pytest.fixture(scope="session", name="busybox_rootfs")
def busybox_rootfs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("stage1-rootfs") / "rootfs")


@pytest.fixture(name="pod_rig")
def pod_rig_fixture(tmp_path: Path, busybox_rootfs: Path) -> Iterator[Callable[..., PodRig]]:
    """A factory of PodRigs; every one is destroyed after the test."""
    rigs: list[PodRig] = []

    def make(**kwargs: Any) -> PodRig:
        rig = PodRig(tmp_path / f"pod{len(rigs)}", busybox_rootfs, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.destroy()
