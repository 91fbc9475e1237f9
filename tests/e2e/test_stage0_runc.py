"""stage0 with the real stage1 and runc and the rootfs/ busybox image: what a container
sees of its pod (namespaces, etc files, volumes, limits), and that remove leaves nothing."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from minikube13.runtime import cgroups, netns
from minikube13.runtime.gc import reset_data_dir
from minikube13.runtime.poddir import PodDir
from minikube13.runtime.pods import PodRuntime

from .stage0_support import (  # noqa: F401  (fixtures)
    busybox_store_fixture,
    data_dir_fixture,
    inputs,
    leftovers,
    needs_root,
    pod_object,
    real_runtime_fixture,
    running,
    wait_for,
)

pytestmark = needs_root


def finished(pod: object) -> bool:
    stage1 = getattr(pod, "stage1", None)
    alive = getattr(pod, "alive", True)
    return stage1 is not None and stage1.phase in ("Succeeded", "Failed") and not alive


def log_text(data_dir: Path, uid: str, name: str) -> str:
    lines = PodDir.of(data_dir, uid).log_path(name, 0).read_text().splitlines()
    return "\n".join(line.split(" ", 3)[3] for line in lines)


async def test_hello_pod_runs_and_logs(real_runtime: PodRuntime, data_dir: Path) -> None:
    """`echo hi` in busybox runs to Succeeded and its log says hi (done-when 1 shape)."""
    pod = pod_object(restartPolicy="Never", containers=[
        {"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
         "command": ["echo", "hi"]}])
    uid = pod["metadata"]["uid"]
    await real_runtime.start(pod, inputs())
    done = await wait_for(real_runtime, uid, finished)
    assert done.stage1.phase == "Succeeded" and not done.alive
    assert done.containers["c"].terminated.exit_code == 0
    assert log_text(data_dir, uid, "c") == "hi"
    await real_runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


async def test_container_sees_pod_files_volumes_and_env(real_runtime: PodRuntime,
                                                        data_dir: Path) -> None:
    """Inside: hostname, /etc/hosts, secret and downward files, env from a config map,
    uid from runAsUser, cwd, a read-only volume; the termination message is recorded."""
    script = ("hostname; tail -1 /etc/hosts; cat /s/key; echo; cat /info/name; echo;"
              " echo $FROM_CM; id -u; pwd; touch /s/x 2>/dev/null || echo ro;"
              " echo bye > /dev/termination-log; exit 3")
    pod = pod_object(
        name="files", restartPolicy="Never",
        volumes=[{"name": "sec", "secret": {"secretName": "s"}},
                 {"name": "info", "downwardAPI": {"items": [
                     {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}],
        containers=[{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                     "command": ["sh", "-c", script], "workingDir": "/tmp",
                     "securityContext": {"runAsUser": 1234},
                     "env": [{"name": "FROM_CM", "valueFrom": {"configMapKeyRef": {
                         "name": "cm", "key": "k"}}}],
                     "volumeMounts": [{"name": "sec", "mountPath": "/s", "readOnly": True},
                                      {"name": "info", "mountPath": "/info"}]}])
    uid = pod["metadata"]["uid"]
    secrets = {"s": {"key": base64.b64encode(b"pw").decode()}}
    await real_runtime.start(pod, inputs(secrets=secrets, config_maps={"cm": {"k": "v1"}}))
    done = await wait_for(real_runtime, uid, finished)
    assert log_text(data_dir, uid, "c").splitlines() == [
        "files", "127.0.1.1\tfiles", "pw", "files", "v1", "1234", "/tmp", "ro"]
    term = done.containers["c"].terminated
    assert term.exit_code == 3 and term.message.strip() == "bye"
    await real_runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


async def test_running_pod_namespaces_cgroups_then_nothing_left(real_runtime: PodRuntime,
                                                                data_dir: Path) -> None:
    """Two containers share the pod netns (lo only) and stage1's ipc/uts/pid namespaces,
    sit in the pod cgroup with their limits, have separate roots; remove cleans all."""
    sleeper = {"image": "busybox", "imagePullPolicy": "Never", "command": ["sleep", "1000"]}
    pod = pod_object(containers=[
        {"name": "a", **sleeper, "resources": {"limits": {"memory": "32Mi", "cpu": "250m"}}},
        {"name": "b", **sleeper}])
    uid = pod["metadata"]["uid"]
    await real_runtime.start(pod, inputs())
    up = await wait_for(real_runtime, uid, lambda p: running("a")(p) and running("b")(p))
    pids = {n: up.containers[n].pid for n in ("a", "b")}
    assert all(pids.values())
    net = os.stat(netns.netns_path(uid)).st_ino
    stage1_pid = up.stage1.stage1_pid
    for name, pid in pids.items():
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == net
        for ns in ("ipc", "uts", "pid"):
            assert os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(
                f"/proc/{stage1_pid}/ns/{ns}"), (name, ns)
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink(f"/proc/{stage1_pid}/ns/mnt")
        assert pid in cgroups.procs_in(uid)
    memory = Path("/sys/fs/cgroup/memory") / cgroups.pod_cgroup(uid) / "a"
    if memory.is_dir():  # cgroup v1 (this machine)
        assert int((memory / "memory.limit_in_bytes").read_text()) == 32 * 1024 * 1024
        cpu = Path("/sys/fs/cgroup/cpu") / cgroups.pod_cgroup(uid) / "a"
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 25000
    await real_runtime.stop(uid, 2.0)
    await real_runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0
    assert not any((data_dir / "runc").glob(f"{uid}-*"))
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists()


async def test_remove_of_a_running_pod_without_stop(real_runtime: PodRuntime,
                                                    data_dir: Path) -> None:
    """remove on a live pod stops it first and still leaves nothing."""
    pod = pod_object(containers=[{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                  "command": ["sleep", "1000"]}])
    uid = pod["metadata"]["uid"]
    await real_runtime.start(pod, inputs())
    await wait_for(real_runtime, uid, running("c"))
    await real_runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


async def test_twenty_pods_at_once(real_runtime: PodRuntime, data_dir: Path) -> None:
    """Starting and removing 20 pods concurrently works and leaves nothing."""
    pods = [pod_object(containers=[{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                    "command": ["sleep", "1000"]}]) for _ in range(20)]
    uids = [p["metadata"]["uid"] for p in pods]
    await asyncio.gather(*(real_runtime.start(p, inputs()) for p in pods))
    await asyncio.gather(*(wait_for(real_runtime, u, running("c"), 30) for u in uids))
    assert sorted(p.uid for p in real_runtime.pods()) == sorted(uids)
    await asyncio.gather(*(real_runtime.remove(u) for u in uids))
    assert sum(leftovers(data_dir, u).total for u in uids) == 0


async def test_reset_kills_running_pods_like_after_a_daemon_crash(
        real_runtime: PodRuntime, data_dir: Path) -> None:
    """reset (no stop first, as after kill -9 of the daemon) kills stage1 and containers
    and removes runc state, mounts, cgroups, netns and dirs."""
    pod = pod_object(containers=[{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                  "command": ["sleep", "1000"]}])
    uid = pod["metadata"]["uid"]
    await real_runtime.start(pod, inputs())
    up = await wait_for(real_runtime, uid, running("c"))
    assert reset_data_dir(data_dir) == [uid]
    assert leftovers(data_dir, uid).total == 0
    assert not any((data_dir / "runc").glob(f"{uid}-*"))
    assert not Path(f"/proc/{up.containers['c'].pid}").exists()
