"""The pod directory: the on-disk contract between stage0, stage1, the node agent and the API.

    <data-dir>/pods/<uid>/
      plan.json                 PodPlan, written once by stage0 before stage1 starts
      pod-state.json            Stage1State, written by stage1 (atomically)
      state/<container>.json    ContainerState, written by stage1 (atomically)
      logs/<container>/<restartCount>.log   CRI-format log of one run of a container
      containers/<name>/bundle/config.json  the OCI bundle stage0 built (runc's input)
      containers/<name>/rootfs  overlay mount point; upper/ and work/ beside it
      containers/<name>/termination-log     bind-mounted at terminationMessagePath
      volumes/<volume>/         emptyDir, secret, configMap, downwardAPI contents
      etc/hosts, etc/resolv.conf, etc/hostname
      stop                      StopRequest, written by the agent before it signals stage1

Every JSON file is replaced atomically (temp file, fsync, rename), so a reader never sees a
half-written state and a crash leaves the old one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

PODS_SUBDIR = "pods"
RUNC_SUBDIR = "runc"       # runc --root <data-dir>/runc
STAGE1_TOKEN = "/proc/STAGE1/"  # stage1 puts its host pid here in each bundle's ns paths
NETNS_PREFIX = "m13-"       # /run/netns/m13-<uid>
CGROUP_PARENT = "minikube13"  # <controller>/minikube13/pod<uid>/<container>

ContainerPhase = Literal["waiting", "running", "terminated"]
PodRunPhase = Literal["Initializing", "Running", "Stopping", "Succeeded", "Failed"]
T = TypeVar("T")


@dataclass(frozen=True)
class ContainerPlan:
    """One container as stage1 runs it; the bundle holds everything runc needs."""
    name: str
    init: bool
    runc_id: str                     # unique on the host: "<pod uid>-<name>"
    bundle: str                      # absolute path of the OCI bundle directory
    termination_log: str             # host file bind-mounted at terminationMessagePath
    liveness_probe: dict[str, Any] | None = None   # the pod spec's Probe, as written
    readiness_probe: dict[str, Any] | None = None
    lifecycle: dict[str, Any] | None = None         # postStart / preStop handlers
    tty: bool = False
    stdin: bool = False


@dataclass(frozen=True)
class PodPlan:
    uid: str
    namespace: str
    name: str
    restart_policy: str               # Always | OnFailure | Never
    hostname: str
    netns: str                        # /run/netns/m13-<uid>
    cgroup_parent: str                # minikube13/pod<uid> (relative to each hierarchy)
    termination_grace_s: float = 30.0
    backoff_initial_s: float = 10.0   # kubelet: 10 s doubling to 5 min
    backoff_max_s: float = 300.0
    init_containers: list[ContainerPlan] = field(default_factory=list)
    containers: list[ContainerPlan] = field(default_factory=list)


@dataclass(frozen=True)
class TerminatedState:
    exit_code: int
    reason: str                       # Completed | Error | OOMKilled | ContainerCannotRun
    message: str = ""
    signal: int | None = None
    started_at: float | None = None   # epoch seconds
    finished_at: float | None = None


@dataclass(frozen=True)
class ContainerState:
    """What stage1 knows of one container; the agent turns it into a ContainerStatus."""
    name: str
    init: bool
    runc_id: str
    state: ContainerPhase
    restart_count: int = 0
    reason: str = ""                  # waiting: PodInitializing | CrashLoopBackOff | ...
    message: str = ""
    started_at: float | None = None   # running since (epoch seconds)
    terminated: TerminatedState | None = None       # the current state when terminated
    last_terminated: TerminatedState | None = None  # the previous run (lastState)
    ready: bool = False               # readiness probe (True when running with no probe)
    pid: int | None = None            # host pid of the container's init process


@dataclass(frozen=True)
class Stage1State:
    stage1_pid: int                   # host pid
    stage1_start_ticks: int           # /proc/<pid>/stat field 22: guards against pid reuse
    started_at: float
    phase: PodRunPhase
    message: str = ""


@dataclass(frozen=True)
class StopRequest:
    grace_s: float


class PodDir:
    """Paths inside one pod directory."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def of(cls, data_dir: Path, uid: str) -> PodDir:
        return cls(data_dir / PODS_SUBDIR / uid)

    @property
    def uid(self) -> str:
        return self.root.name

    @property
    def plan_path(self) -> Path:
        return self.root / "plan.json"

    @property
    def pod_state_path(self) -> Path:
        return self.root / "pod-state.json"

    @property
    def stop_path(self) -> Path:
        return self.root / "stop"

    @property
    def etc_dir(self) -> Path:
        return self.root / "etc"

    def state_path(self, container: str) -> Path:
        return self.root / "state" / f"{container}.json"

    def log_path(self, container: str, restart_count: int) -> Path:
        return self.root / "logs" / container / f"{restart_count}.log"

    def container_dir(self, container: str) -> Path:
        return self.root / "containers" / container

    def bundle_dir(self, container: str) -> Path:
        return self.container_dir(container) / "bundle"

    def rootfs_dir(self, container: str) -> Path:
        return self.container_dir(container) / "rootfs"

    def volume_dir(self, volume: str) -> Path:
        return self.root / "volumes" / volume

    # -- typed reads and writes -----------------------------------------------------------

    def read_plan(self) -> PodPlan | None:
        raw = read_json(self.plan_path)
        return None if raw is None else plan_from_json(raw)

    def write_plan(self, plan: PodPlan) -> None:
        write_json_atomic(self.plan_path, asdict(plan))

    def read_pod_state(self) -> Stage1State | None:
        raw = read_json(self.pod_state_path)
        return None if raw is None else Stage1State(**raw)

    def write_pod_state(self, state: Stage1State) -> None:
        write_json_atomic(self.pod_state_path, asdict(state))

    def read_container_state(self, container: str) -> ContainerState | None:
        raw = read_json(self.state_path(container))
        return None if raw is None else container_state_from_json(raw)

    def write_container_state(self, state: ContainerState) -> None:
        write_json_atomic(self.state_path(state.name), asdict(state))

    def read_stop(self) -> StopRequest | None:
        raw = read_json(self.stop_path)
        return None if raw is None else StopRequest(**raw)

    def write_stop(self, request: StopRequest) -> None:
        write_json_atomic(self.stop_path, asdict(request))


def plan_from_json(raw: dict[str, Any]) -> PodPlan:
    def containers(key: str) -> list[ContainerPlan]:
        return [_build(ContainerPlan, c) for c in raw.get(key, [])]
    body = {k: v for k, v in raw.items() if k not in ("init_containers", "containers")}
    return _build(PodPlan, body, init_containers=containers("init_containers"),
                  containers=containers("containers"))


def container_state_from_json(raw: dict[str, Any]) -> ContainerState:
    def term(key: str) -> TerminatedState | None:
        value = raw.get(key)
        return None if value is None else _build(TerminatedState, value)
    body = {k: v for k, v in raw.items() if k not in ("terminated", "last_terminated")}
    return _build(ContainerState, body, terminated=term("terminated"),
                  last_terminated=term("last_terminated"))


def _build(cls: type[T], raw: dict[str, Any], **overrides: Any) -> T:
    """A dataclass from JSON, ignoring keys a newer writer added."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in raw.items() if k in names}
    values.update(overrides)
    return cls(**values)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace `path` with `obj` as JSON: temp file in the same dir, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(obj, separators=(",", ":")).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when there is none (yet)."""
    try:
        with open(path, "rb") as f:
            value = json.load(f)
    except FileNotFoundError:
        return None
    return value if isinstance(value, dict) else None
