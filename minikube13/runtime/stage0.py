"""stage0: lay out a pod directory on the host and launch stage1 detached.

Order (plan.json last, so a pod dir with a plan is complete): pure planning (errors before
any host change), netns + cgroup, etc files, volumes, termination logs, overlay roots,
config.json per container, stage0.json (what a reboot must redo), plan.json. `restore`
redoes the host state a reboot loses (netns, cgroups, tmpfs, overlays) from stage0.json.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from minikube13.runtime import cgroups, etcfiles, mounts, netns
from minikube13.runtime.bundle import (
    DEFAULT_PIDS_LIMIT,
    BundleSpec,
    bind,
    build_config,
    caps_from_mask,
)
from minikube13.runtime.errors import create_error
from minikube13.runtime.poddir import ContainerPlan, PodDir, PodPlan, read_json, write_json_atomic
from minikube13.runtime.podenv import ImageDefaults, PodFacts
from minikube13.runtime.volumes import VolumePlan, container_mounts, plan_volumes, sub_paths

log = logging.getLogger(__name__)
Json = dict[str, Any]
STAGE0_RECORD = "stage0.json"
STAGE1_LOG = "stage1.log"
HOST_RESOLV = Path("/etc/resolv.conf")
SYSTEMD_RUNTIME = Path("/run/systemd/system")
WARM_TIMEOUT_S = 60.0        # warm_stage1
MACHINED = Path("/lib/systemd/systemd-machined")
BUSCTL = "/usr/bin/busctl"


@dataclass(frozen=True)
class ContainerImage:
    """A resolved image for one container: its layers (bottom→top) and config."""
    ref: str
    image_id: str
    digest: str
    layers: tuple[Path, ...]
    defaults: ImageDefaults


@dataclass(frozen=True)
class Stage0Options:
    pids_limit: int = DEFAULT_PIDS_LIMIT
    backoff_initial_s: float = 10.0
    backoff_max_s: float = 300.0
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    host_network: bool = False   # the node's netns: no pod netns, stage1 without nsenter
    resolv_conf: str | None = None   # given whole (pod network on), else made here


# Links the pod's new netns to the node's network (PodRuntime's hook): called with the
# netns path once it exists, again after a reboot re-made it.
Attach = Callable[[str], None]


@dataclass(frozen=True)
class Stage0Record:
    """<pod dir>/stage0.json: what stage0 made, so a reboot or a cleanup can redo/undo it."""
    uid: str
    namespace: str
    name: str
    pod_ip: str = ""
    images: dict[str, list[str]] = field(default_factory=dict)   # container -> [id, digest]
    layers: dict[str, list[str]] = field(default_factory=dict)   # container -> bottom→top
    tmpfs: dict[str, int | None] = field(default_factory=dict)   # volume -> size
    host_network: bool = False


def read_record(pd: PodDir) -> Stage0Record | None:
    raw = read_json(pd.root / STAGE0_RECORD)
    if raw is None:
        return None
    names = set(Stage0Record.__dataclass_fields__)
    return Stage0Record(**{k: v for k, v in raw.items() if k in names})


def all_containers(pod: Json) -> list[tuple[Json, bool]]:
    spec = pod.get("spec") or {}
    return ([(c, True) for c in spec.get("initContainers") or []]
            + [(c, False) for c in spec.get("containers") or []])


@dataclass(frozen=True)
class PodLayout:
    """Everything stage0 will write, computed before the host is touched."""
    record: Stage0Record
    plan: PodPlan
    volumes: list[VolumePlan]
    sub_paths: list[str]
    etc_texts: dict[str, str]
    configs: dict[str, Json]          # container name -> config.json


def prepare(pd: PodDir, pod: Json, facts: PodFacts, images: Mapping[str, ContainerImage],
            options: Stage0Options, attach: Attach | None = None) -> PodPlan:
    """Build the whole pod dir; the caller tears it down if this raises. Every config
    error (missing secret, unknown user, bad volume) is raised before any host change."""
    layout = plan_pod(pd, pod, facts, images, options)
    pd.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(pd.root / STAGE0_RECORD, asdict(layout.record))
    restore(pd, layout.record, attach)
    pd.etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in layout.etc_texts.items():
        (pd.etc_dir / name).write_text(text)
    write_volumes(pd, layout.volumes)
    for path in layout.sub_paths:
        if not os.path.lexists(path):
            os.makedirs(path, exist_ok=True)
    for name, config in layout.configs.items():
        term_log = pd.container_dir(name) / "termination-log"
        term_log.touch()
        term_log.chmod(0o666)  # any container user may write its message (as the kubelet)
        write_json_atomic(pd.bundle_dir(name) / "config.json", config)
    pd.write_plan(layout.plan)
    return layout.plan


def plan_pod(pd: PodDir, pod: Json, facts: PodFacts, images: Mapping[str, ContainerImage],
             options: Stage0Options) -> PodLayout:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    uid, namespace = pd.uid, meta.get("namespace", "default")
    hostname, subdomain = etcfiles.pod_hostname(pod)
    volumes = plan_volumes(pod, facts)
    containers = all_containers(pod)
    vol_dir = _volume_dir_of(pd)
    netns_file = str(netns.netns_path(uid))
    bundle_netns = "" if options.host_network else netns_file
    etc_texts = etc_files(pod, hostname, subdomain, facts.pod_ip, options)
    etc_mounts = [bind(f"/etc/{n}", str(pd.etc_dir / n)) for n in etc_texts]
    caps = host_capabilities()
    configs: dict[str, Json] = {}
    for container, _init in containers:
        name = container["name"]
        image = images[name]
        configs[name] = build_config(BundleSpec(
            pod=pod, container=container, image=image.defaults, facts=facts,
            rootfs=str(pd.rootfs_dir(name)), netns=bundle_netns,
            cgroups_path=cgroups.container_cgroups_path(uid, name), hostname=hostname,
            termination_log=str(pd.container_dir(name) / "termination-log"),
            mounts=[*etc_mounts, *container_mounts(container, volumes, vol_dir)],
            passwd=_layer_file(image.layers, "etc/passwd"),
            group=_layer_file(image.layers, "etc/group"), pids_limit=options.pids_limit,
            host_caps=caps))
    plan = PodPlan(
        uid=uid, namespace=namespace, name=meta.get("name", ""),
        restart_policy=spec.get("restartPolicy") or "Always", hostname=hostname,
        netns=netns_file, cgroup_parent=cgroups.pod_cgroup(uid),
        termination_grace_s=float(spec.get("terminationGracePeriodSeconds", 30)),
        backoff_initial_s=options.backoff_initial_s, backoff_max_s=options.backoff_max_s,
        init_containers=[_container_plan(pd, c, True) for c, init in containers if init],
        containers=[_container_plan(pd, c, False) for c, init in containers if not init])
    record = Stage0Record(
        uid, namespace, meta.get("name", ""), facts.pod_ip,
        images={n: [i.image_id, i.digest] for n, i in images.items()},
        layers={n: [str(p) for p in i.layers] for n, i in images.items()},
        tmpfs={v.name: v.size_bytes for v in volumes if v.kind == "tmpfs"},
        host_network=options.host_network)
    return PodLayout(record, plan, volumes, sub_paths([c for c, _ in containers], volumes,
                                                      vol_dir), etc_texts, configs)


def _volume_dir_of(pd: PodDir) -> Callable[[str], str]:
    return lambda name: str(pd.volume_dir(name))


def _container_plan(pd: PodDir, container: Json, init: bool) -> ContainerPlan:
    name = container["name"]
    return ContainerPlan(
        name=name, init=init, runc_id=f"{pd.uid}-{name}", bundle=str(pd.bundle_dir(name)),
        termination_log=str(pd.container_dir(name) / "termination-log"),
        liveness_probe=container.get("livenessProbe"),
        readiness_probe=container.get("readinessProbe"),
        lifecycle=container.get("lifecycle"),
        tty=bool(container.get("tty")), stdin=bool(container.get("stdin")))


def restore(pd: PodDir, record: Stage0Record, attach: Attach | None = None) -> Path:
    """(Re)make the host state of a pod dir: netns (linked to the node's network by
    `attach`; none for host-network pods), cgroup, tmpfs volumes, overlay roots."""
    netns_file = netns.netns_path(pd.uid)
    if not record.host_network:
        netns_file = netns.ensure_netns(pd.uid)
        if attach is not None:
            attach(str(netns_file))
    cgroups.ensure_pod_cgroup(pd.uid)
    for volume, size in record.tmpfs.items():
        target = pd.volume_dir(volume)
        if not mounts.is_mounted(target):
            mounts.mount_tmpfs(target, size)
    for name, layers in record.layers.items():
        target = pd.rootfs_dir(name)
        if not mounts.is_mounted(target):
            base = pd.container_dir(name)
            mounts.mount_overlay([Path(p) for p in layers], base / "upper", base / "work",
                                 target)
    return netns_file


def etc_files(pod: Json, hostname: str, subdomain: str, pod_ip: str,
              options: Stage0Options) -> dict[str, str]:
    """/etc/hosts, /etc/resolv.conf and /etc/hostname of the pod, by file name."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    namespace = meta.get("namespace", "default")
    try:
        host_resolv = HOST_RESOLV.read_text()
    except OSError:
        host_resolv = ""
    return {
        "hosts": etcfiles.hosts_text(hostname, subdomain, namespace, pod_ip),
        "resolv.conf": options.resolv_conf if options.resolv_conf is not None else
        etcfiles.resolv_text(namespace, options.dns_servers, options.dns_search, host_resolv,
                             spec.get("dnsPolicy") or "ClusterFirst"),
        "hostname": etcfiles.hostname_text(hostname),
    }


def write_volumes(pd: PodDir, volumes: Sequence[VolumePlan]) -> None:
    for volume in volumes:
        if volume.kind == "host":
            continue
        root = pd.volume_dir(volume.name)
        root.mkdir(parents=True, exist_ok=True)
        if volume.kind == "dir":
            root.chmod(0o777)  # emptyDir is world-writable, like the kubelet's
        for f in volume.files:
            target = root / f.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(f.data)
            target.chmod(f.mode & 0o7777)


def host_capabilities() -> frozenset[str] | None:
    """The capabilities this process may hand on (CapBnd); None when unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return caps_from_mask(int(line.split()[1], 16))
    except (OSError, ValueError):
        return None
    return None


def _layer_file(layers: Sequence[Path], rel: str) -> str:
    """A file as the container will see it: from the topmost layer that has it."""
    for layer in reversed(layers):
        path = layer / rel
        if path.is_file():
            try:
                return path.read_text(errors="replace")
            except OSError:
                return ""
    return ""


def stage1_python(self_command: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """`python -m minikube13` as stage1 runs it, and the environment it needs: without site
    (`-S`), this package's parent directory first on PYTHONPATH, and with bytecode (its
    modules' .pyc are read, and written once, even where PYTHONDONTWRITEBYTECODE is set).

    Start-up time counts toward every pod's start: site costs ~15 ms (site-packages, .pth
    files, editable-install finders) and compiling stage1's modules from source ~15 ms more.
    stage1 imports only the standard library and this package (systemd-python, for
    journald, is looked up at its first log line: stage1.logs). Other commands (the frozen
    binary, a test's stand-in) run as they are."""
    command = list(self_command)
    if command[1:] != ["-m", "minikube13"]:
        return command, {}
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    return ([command[0], "-S", *command[1:]],
            {"PYTHONPATH": os.pathsep.join(p for p in paths if p), "PYTHONDONTWRITEBYTECODE": ""})


def warm_stage1(self_command: Sequence[str]) -> None:
    """Compile stage1's modules before the first pod needs them: import once, as stage1
    would, what it imports (else the first stage1 compiles them itself)."""
    python, env = stage1_python(self_command)
    if not env:
        return
    code = ("import minikube13.runtime.stage1.entry, minikube13.runtime.stage1.probes, "
            "minikube13.runtime.notify")
    try:
        interpreter = python[:python.index("-m")]
        subprocess.run([*interpreter, "-c", code], stdin=subprocess.DEVNULL,
                       capture_output=True, check=False, timeout=WARM_TIMEOUT_S,
                       env={**os.environ, **env})
    except (OSError, subprocess.TimeoutExpired) as e:
        log.info("stage1 bytecode not compiled error=%s", e)


def stage1_command(pd: PodDir, self_command: Sequence[str], netns_file: str,
                   env: Mapping[str, str] | None = None) -> list[str]:
    """The detached stage1 command line (systemd-run when systemd is PID 1); `env` is what
    it needs on top of the caller's environment (systemd-run: of the unit's). No
    `netns_file`: stage1 stays in the daemon's netns (hostNetwork pods)."""
    enter_net = ["nsenter", f"--net={netns_file}"] if netns_file else []
    inner = [*enter_net, "unshare", "--pid", "--ipc", "--uts",
             "--fork", "--", *self_command, "stage1", str(pd.root)]
    if SYSTEMD_RUNTIME.is_dir():
        setenv = [f"--setenv={k}={v}" for k, v in sorted((env or {}).items())]
        return [*transient_unit_args(pd, MACHINED.exists()), *setenv, "--", *inner]
    return ["setsid", "--fork", *inner]


def pod_unit_name(uid: str) -> str:
    return f"minikube13-pod-{uid}"


def transient_unit_args(pd: PodDir, register_machine: bool) -> list[str]:
    """systemd-run options for the pod's unit `minikube13-pod-<uid>.service`.

    KillMode stays control-group: the unit's main process is `unshare --fork`, which
    ignores SIGTERM while it waits, so `systemctl stop` must reach stage1 itself (stage1
    then stops the containers in order). With machined, ExecStartPost registers the pod
    as a machine (`machinectl list`); `-` because a pod must not fail for want of it.
    """
    name = pod_unit_name(pd.uid)
    log_file = pd.root / STAGE1_LOG
    args = ["systemd-run", "--quiet", "--collect", f"--unit={name}", "--slice=machine.slice",
            f"--property=StandardOutput=append:{log_file}",
            f"--property=StandardError=append:{log_file}",
            "--property=KillMode=control-group", "--property=Delegate=yes",
            f"--description=minikube13 pod {pd.uid}"]
    if register_machine:
        args.append(f"--property=ExecStartPost=-{BUSCTL} --quiet call org.freedesktop.machine1 "
                    "/org/freedesktop/machine1 org.freedesktop.machine1.Manager "
                    f"RegisterMachine sayssus {name} 0 minikube13 container $MAINPID {pd.root}")
    return args


def launch_stage1(pd: PodDir, self_command: Sequence[str], netns_file: str) -> None:
    """Start stage1 detached: `setsid --fork` exits at once, its child is not ours."""
    python, env = stage1_python(self_command)
    argv = stage1_command(pd, python, netns_file, env)
    with open(pd.root / STAGE1_LOG, "ab") as out:
        result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                close_fds=True, check=False, cwd="/",
                                env={**os.environ, **env})
    if result.returncode != 0:
        raise create_error(f"starting stage1 failed: exit {result.returncode}: "
                           f"{stage1_log_tail(pd)}")
    log.info("stage1 launched uid=%s", pd.uid, extra={"pod_uid": pd.uid})


def stage1_log_tail(pd: PodDir, limit: int = 2000) -> str:
    try:
        data = (pd.root / STAGE1_LOG).read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace").strip()

