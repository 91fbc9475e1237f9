"""The OCI runtime config.json of one container (pure): what runc runs as stage2.

Namespaces: pid, ipc and uts are joined by path under STAGE1_TOKEN (stage1 puts its host
pid there before each `runc run`), network by the pod's netns file, mount is new. The
hostname is not set here: runc refuses it in a joined UTS namespace; stage1 sets it once.
Security defaults follow containerd: its default capability set, a small seccomp deny
list, no new privileges, runc's masked and read-only /proc paths; privileged lifts them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from minikube13.model.groups.core_container import parse_quantity
from minikube13.runtime.errors import config_error
from minikube13.runtime.poddir import STAGE1_TOKEN
from minikube13.runtime.podenv import ImageDefaults, PodFacts, container_env, process_args

Json = dict[str, Any]
OCI_VERSION = "1.0.2"
DEFAULT_PIDS_LIMIT = 4096
CPU_PERIOD = 100_000
MIN_SHARES = 2
DEFAULT_TERMINATION_PATH = "/dev/termination-log"

DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
                "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
                "AUDIT_WRITE")
ALL_CAPS = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
            "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
            "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
            "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
            "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
            "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
            "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")
# ALL_CAPS is in kernel order: ALL_CAPS[n] is capability number n.
# Denied even to root in an unprivileged container (a short form of docker's profile).
SECCOMP_DENY = ("kexec_load", "kexec_file_load", "open_by_handle_at", "init_module",
                "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct",
                "add_key", "request_key", "keyctl", "bpf", "perf_event_open",
                "lookup_dcookie", "quotactl", "settimeofday", "clock_settime", "stime",
                "userfaultfd", "iopl", "ioperm", "create_module", "get_kernel_syms",
                "query_module", "nfsservctl", "uselib", "vm86", "vm86old")
# Also denied unless the container was given CAP_SYS_ADMIN (as docker does).
SECCOMP_ADMIN_ONLY = ("mount", "umount2", "pivot_root", "unshare", "setns", "fsopen",
                      "fsmount", "move_mount", "open_tree")
MASKED_PATHS = ("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@dataclass(frozen=True)
class Mount:
    """One OCI mount; binds default to rbind + rprivate."""
    destination: str
    source: str
    type: str = "bind"
    options: tuple[str, ...] = ("rbind", "rprivate")

    def to_oci(self) -> Json:
        return {"destination": self.destination, "type": self.type, "source": self.source,
                "options": list(self.options)}


def bind(destination: str, source: str, read_only: bool = False) -> Mount:
    return Mount(destination, source, "bind", ("rbind", "rprivate", "ro") if read_only
                 else ("rbind", "rprivate"))


DEFAULT_MOUNTS = (
    Mount("/proc", "proc", "proc", ("nosuid", "noexec", "nodev")),
    Mount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
    Mount("/dev/pts", "devpts", "devpts",
          ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
    Mount("/dev/shm", "shm", "tmpfs", ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
    Mount("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
    Mount("/sys", "sysfs", "sysfs", ("nosuid", "noexec", "nodev", "ro")),
    Mount("/sys/fs/cgroup", "cgroup", "cgroup", ("nosuid", "noexec", "nodev", "relatime", "ro")),
)


@dataclass(frozen=True)
class BundleSpec:
    """Everything one container's config.json is made of."""
    pod: Json
    container: Json
    image: ImageDefaults
    facts: PodFacts
    rootfs: str                       # absolute path of the mounted overlay
    netns: str                        # /run/netns/m13-<uid>
    cgroups_path: str                 # /minikube13/pod<uid>/<name>
    hostname: str
    termination_log: str              # host file bound at terminationMessagePath
    mounts: Sequence[Mount] = ()      # etc files and volumes, in order
    passwd: str = ""                  # the rootfs's /etc/passwd, for named image users
    group: str = ""
    pids_limit: int = DEFAULT_PIDS_LIMIT
    host_caps: frozenset[str] | None = None   # the host's bounding set (None: all known)
    extra_env: Mapping[str, str] = field(default_factory=dict)


def build_config(spec: BundleSpec) -> Json:
    """The OCI runtime spec (config.json) for `spec.container`."""
    security = effective_security(spec.pod, spec.container)
    privileged = bool(security.get("privileged"))
    env = container_env(spec.pod, spec.container, spec.image, spec.facts, spec.hostname)
    env.update(spec.extra_env)
    caps = capabilities(security, spec.host_caps)
    process: Json = {
        "terminal": False,
        "user": user_of(security, spec.image.user, spec.pod, spec.passwd, spec.group),
        "args": process_args(spec.container, spec.image, env),
        "env": [f"{k}={v}" for k, v in env.items()],
        "cwd": spec.container.get("workingDir") or spec.image.working_dir or "/",
        "capabilities": caps,
        "noNewPrivileges": not privileged,
    }
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": spec.rootfs, "readonly": bool(security.get("readOnlyRootFilesystem"))},
        "mounts": [m.to_oci() for m in all_mounts(spec)],
        "linux": linux_section(spec, privileged, "CAP_SYS_ADMIN" in caps["bounding"]),
    }


def all_mounts(spec: BundleSpec) -> list[Mount]:
    path = spec.container.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
    return [*DEFAULT_MOUNTS, *spec.mounts, bind(path, spec.termination_log)]


def linux_section(spec: BundleSpec, privileged: bool, admin: bool) -> Json:
    section: Json = {
        "namespaces": namespaces(spec.netns),
        "cgroupsPath": spec.cgroups_path,
        "resources": resources(spec.container, spec.pids_limit, privileged),
    }
    if not privileged:
        section["maskedPaths"] = list(MASKED_PATHS)
        section["readonlyPaths"] = list(READONLY_PATHS)
        section["seccomp"] = seccomp_profile(admin)
    return section


def namespaces(netns: str) -> list[Json]:
    """The pod's shared namespaces; no `netns` (hostNetwork): runc's own, the node's."""
    network = [{"type": "network", "path": netns}] if netns else []
    return [
        {"type": "pid", "path": f"{STAGE1_TOKEN}ns/pid"},
        {"type": "ipc", "path": f"{STAGE1_TOKEN}ns/ipc"},
        {"type": "uts", "path": f"{STAGE1_TOKEN}ns/uts"},
        *network,
        {"type": "mount"},
    ]


def effective_security(pod: Json, container: Json) -> Json:
    """The pod's securityContext overlaid with the container's (container wins)."""
    merged = dict((pod.get("spec") or {}).get("securityContext") or {})
    merged.update(container.get("securityContext") or {})
    return merged


def capabilities(security: Json, host_caps: frozenset[str] | None = None) -> Json:
    """The capability sets; only what the host's bounding set holds (runc fails otherwise)."""
    available = [c for c in ALL_CAPS if host_caps is None or c in host_caps]
    if security.get("privileged"):
        caps = [f"CAP_{c}" for c in available]
    else:
        wanted = security.get("capabilities") or {}
        add = {_cap_name(c) for c in wanted.get("add") or []}
        drop = {_cap_name(c) for c in wanted.get("drop") or []}
        chosen = set(ALL_CAPS) if "ALL" in add else set(DEFAULT_CAPS) | add
        chosen = set() if "ALL" in drop else chosen - drop
        caps = [f"CAP_{c}" for c in available if c in chosen]
    return {"bounding": caps, "effective": caps, "permitted": caps}


def caps_from_mask(mask: int) -> frozenset[str]:
    """Capability names of a CapBnd-style bit mask (/proc/<pid>/status)."""
    return frozenset(c for n, c in enumerate(ALL_CAPS) if mask >> n & 1)


def _cap_name(name: str) -> str:
    upper = str(name).upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def seccomp_profile(admin: bool = False) -> Json:
    """Allow by default; EPERM for the deny list (and mount & co. without CAP_SYS_ADMIN)."""
    names = list(SECCOMP_DENY) + ([] if admin else list(SECCOMP_ADMIN_ONLY))
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def user_of(security: Json, image_user: str, pod: Json, passwd: str, group: str) -> Json:
    """uid/gid: runAsUser (container over pod) else the image's USER, by number or name."""
    users = parse_passwd(passwd)
    if security.get("runAsUser") is not None:
        uid = int(security["runAsUser"])
        gid = next((g for (u, g) in users.values() if u == uid), 0)
    else:
        uid, gid = _image_user(image_user, users, parse_group(group))
    if security.get("runAsNonRoot") and uid == 0:
        raise config_error("container has runAsNonRoot and image will run as root")
    pod_security = (pod.get("spec") or {}).get("securityContext") or {}
    extra = [int(g) for g in pod_security.get("supplementalGroups") or []]
    if pod_security.get("fsGroup") is not None:
        extra.append(int(pod_security["fsGroup"]))
    user: Json = {"uid": uid, "gid": gid}
    if extra:
        user["additionalGids"] = extra
    return user


def _image_user(text: str, users: Mapping[str, tuple[int, int]],
                groups: Mapping[str, int]) -> tuple[int, int]:
    name, _, grp = text.partition(":")
    if not name:
        return 0, 0
    if name.isdigit():
        uid = int(name)
        gid = next((g for (u, g) in users.values() if u == uid), 0)
    elif name in users:
        uid, gid = users[name]
    else:
        raise config_error(f"unable to find user {name}: no matching entries in passwd file")
    if grp:
        if grp.isdigit():
            gid = int(grp)
        elif grp in groups:
            gid = groups[grp]
        else:
            raise config_error(f"unable to find group {grp}: no matching entries in group file")
    return uid, gid


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    """name -> (uid, gid) from /etc/passwd text; malformed lines are skipped."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            out.setdefault(parts[0], (int(parts[2]), int(parts[3])))
    return out


def parse_group(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out.setdefault(parts[0], int(parts[2]))
    return out


def resources(container: Json, pids_limit: int, privileged: bool) -> Json:
    """cpu shares from requests, cpu quota and memory from limits, the node's pids limit."""
    res = container.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    cpu_request = _quantity(requests.get("cpu")) or _quantity(limits.get("cpu"))
    shares = max(MIN_SHARES, int(cpu_request * 1024)) if cpu_request else MIN_SHARES
    cpu: Json = {"shares": shares}
    cpu_limit = _quantity(limits.get("cpu"))
    if cpu_limit:
        cpu["quota"] = max(1000, int(cpu_limit * CPU_PERIOD))
        cpu["period"] = CPU_PERIOD
    out: Json = {"cpu": cpu, "pids": {"limit": pids_limit},
                 "devices": [{"allow": privileged, "access": "rwm"}]}
    memory = _quantity(limits.get("memory"))
    if memory:
        out["memory"] = {"limit": int(memory)}
    return out


def _quantity(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    parsed = parse_quantity(value)
    if parsed is None:
        raise config_error(f"invalid quantity {value!r}")
    return parsed
