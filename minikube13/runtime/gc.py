"""Tearing pods down and collecting what was orphaned (blocking; the daemon runs these in
a thread, `minikube13 reset` calls them directly).

A pod's host state: stage1 and its launchers (argv ends with `stage1 <pod dir>`), runc
containers (`<data-dir>/runc/<uid>-<name>`), cgroups `minikube13/pod<uid>`, mounts under the
pod dir, the netns `/run/netns/m13-<uid>`, and the pod dir itself. Netns and cgroups are
host-wide while pod dirs belong to one data dir, so an orphan there is only removed when
nothing lives in it and it is older than ORPHAN_AGE_S (another data dir may be preparing).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from minikube13.runtime import cgroups, mounts, netns, procfs
from minikube13.runtime.poddir import CGROUP_PARENT, PODS_SUBDIR, RUNC_SUBDIR, PodDir

log = logging.getLogger(__name__)
ORPHAN_AGE_S = 60.0


def pod_uids(data_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in (data_dir / PODS_SUBDIR).iterdir()
                      if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return []


def kill_stage1(pd: PodDir) -> int:
    """SIGKILL the pod's stage1 (killing its pid namespace) and launchers; how many."""
    victims = set(procfs.stage1_processes(pd.root))
    state = pd.read_pod_state()
    if procfs.stage1_alive(state) and state is not None:
        victims.add(state.stage1_pid)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5.0
    while victims and time.monotonic() < deadline:
        victims = {p for p in victims if procfs.start_ticks(p) is not None}
        if victims:
            time.sleep(0.005)
    return len(victims)


def runc_delete(data_dir: Path, runc_id: str) -> None:
    """`runc delete --force` when runc still has state for the container."""
    root = data_dir / RUNC_SUBDIR
    if not (root / runc_id).exists():
        return
    result = subprocess.run(["runc", "--root", str(root), "delete", "--force", runc_id],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.warning("runc delete failed id=%s error=%s", runc_id, result.stderr.strip())
        shutil.rmtree(root / runc_id, ignore_errors=True)


def runc_ids_of(data_dir: Path, uid: str) -> list[str]:
    try:
        return sorted(p.name for p in (data_dir / RUNC_SUBDIR).iterdir()
                      if p.name.startswith(f"{uid}-"))
    except FileNotFoundError:
        return []


def teardown_pod(data_dir: Path, uid: str) -> None:
    """Remove everything of one pod; idempotent, and safe on a half-made pod dir."""
    pd = PodDir.of(data_dir, uid)
    kill_stage1(pd)
    for runc_id in runc_ids_of(data_dir, uid):
        runc_delete(data_dir, runc_id)
    cgroups.remove_pod_cgroup(uid)
    mounts.umount_under(pd.root)
    netns.delete_netns(uid)
    if pd.root.exists():
        shutil.rmtree(pd.root, ignore_errors=True)
    if pd.root.exists():  # a mount that came back or a busy file: one more round
        mounts.umount_under(pd.root)
        shutil.rmtree(pd.root)
    log.info("pod torn down uid=%s", uid)


def reset_data_dir(data_dir: Path) -> list[str]:
    """Tear down every pod of `data_dir` (`minikube13 reset`); the uids torn down."""
    uids = pod_uids(data_dir)
    for uid in uids:
        teardown_pod(data_dir, uid)
    pods_root = data_dir / PODS_SUBDIR
    mounts.umount_under(pods_root)
    for runc_id in _runc_ids(data_dir):
        runc_delete(data_dir, runc_id)
    cgroups.remove_parent_if_empty()
    return uids


def _runc_ids(data_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in (data_dir / RUNC_SUBDIR).iterdir() if p.is_dir())
    except FileNotFoundError:
        return []


def collect_orphans(data_dir: Path, now: float | None = None) -> list[str]:
    """Host state no pod dir of this data dir accounts for; what was removed."""
    now = time.time() if now is None else now
    live = set(pod_uids(data_dir))
    removed: list[str] = []
    for runc_id in _runc_ids(data_dir):
        if not any(runc_id.startswith(f"{uid}-") for uid in live):
            runc_delete(data_dir, runc_id)
            removed.append(f"runc:{runc_id}")
    for name in netns.pod_netns_names():
        uid = name.removeprefix("m13-")
        path = netns.NETNS_DIR / name
        if uid not in live and _old(path, now) and not procfs.netns_in_use(path):
            if netns.delete_netns_named(name):
                removed.append(f"netns:{name}")
    for uid in cgroups.pod_cgroup_uids():
        if uid in live or cgroups.procs_in(uid) or not _cgroup_old(uid, now):
            continue
        cgroups.remove_pod_cgroup(uid)
        removed.append(f"cgroup:{CGROUP_PARENT}/pod{uid}")
    return removed


def _old(path: Path, now: float) -> bool:
    try:
        return now - path.lstat().st_mtime > ORPHAN_AGE_S
    except FileNotFoundError:
        return False


def _cgroup_old(uid: str, now: float) -> bool:
    dirs = cgroups.pod_cgroup_dirs(uid)
    return bool(dirs) and all(_old(d, now) for d in dirs)
