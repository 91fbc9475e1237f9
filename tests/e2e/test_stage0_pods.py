"""PodRuntime on a real host (root): pod dir contents, netns, volumes, restart after a
"reboot", failures that leave nothing behind, garbage collection and `minikube13 reset`."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minikube13.runtime import gc, mounts, netns
from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.poddir import PodDir, Stage1State
from minikube13.runtime.pods import PodRuntime
from minikube13.runtime.procfs import stage1_alive, start_ticks

from .stage0_support import (  # noqa: F401  (fixtures)
    data_dir_fixture,
    inputs,
    layer_fixture,
    leftovers,
    needs_root,
    pod_object,
    runtime_fixture,
)

pytestmark = needs_root


async def test_pod_dir_holds_etc_files_volumes_and_bundles(runtime: PodRuntime,
                                                            data_dir: Path) -> None:
    """etc files, secret/configMap/downwardAPI files with modes, tmpfs emptyDir, subPath."""
    pod = pod_object(
        name="web", hostname="h1", subdomain="svc",
        volumes=[{"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
                 {"name": "cm", "configMap": {"name": "c"}},
                 {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}},
                 {"name": "disk", "emptyDir": {}},
                 {"name": "info", "downwardAPI": {"items": [
                     {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}],
        containers=[{"name": "main", "image": "busybox", "command": ["sleep", "9"],
                     "volumeMounts": [{"name": "disk", "mountPath": "/d", "subPath": "a/b"},
                                      {"name": "sec", "mountPath": "/s", "readOnly": True}]}])
    uid = pod["metadata"]["uid"]
    secret = {"key": base64.b64encode(b"pw").decode()}
    await runtime.start(pod, inputs(secrets={"s": secret}, config_maps={"c": {"k": "v"}},
                                    pod_ip="10.1.0.7"))
    pd = PodDir.of(data_dir, uid)
    assert (pd.etc_dir / "hostname").read_text() == "h1\n"
    assert "10.1.0.7\th1.svc.default.svc.cluster.local\th1" in (pd.etc_dir / "hosts").read_text()
    assert (pd.etc_dir / "resolv.conf").read_text() == Path("/etc/resolv.conf").read_text()
    key = pd.volume_dir("sec") / "key"
    assert key.read_bytes() == b"pw" and (key.stat().st_mode & 0o777) == 0o400
    assert (pd.volume_dir("cm") / "k").read_text() == "v"
    assert (pd.volume_dir("info") / "name").read_text() == "web"
    assert (pd.volume_dir("disk") / "a" / "b").is_dir()
    assert mounts.is_mounted(pd.volume_dir("mem"))
    plan = pd.read_plan()
    assert plan is not None and plan.hostname == "h1" and plan.netns == str(netns.netns_path(uid))
    assert plan.cgroup_parent == f"minikube13/pod{uid}"
    assert plan.containers[0].runc_id == f"{uid}-main"
    rp = runtime.pod(uid)
    assert rp is not None and rp.pod_ip == "10.1.0.7" and rp.name == "web"
    assert runtime.images_in_use() == {"sha256:" + "c" * 64, "sha256:" + "d" * 64}
    await runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


async def test_netns_has_only_loopback_up(runtime: PodRuntime, data_dir: Path) -> None:
    """The pod netns holds lo, up, and nothing else (nothing routes out)."""
    pod = pod_object()
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    links = subprocess.run(["ip", "-n", netns.netns_name(uid), "-o", "link"], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()
    assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0]
    routes = subprocess.run(["ip", "-n", netns.netns_name(uid), "route"], check=True,
                            capture_output=True, text=True).stdout.strip()
    assert routes == ""
    await runtime.remove(uid)


async def test_start_is_idempotent(runtime: PodRuntime, data_dir: Path) -> None:
    """A second start of a running pod keeps the same stage1."""
    pod = pod_object()
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    first = runtime.pod(uid)
    await runtime.start(pod, inputs())
    again = runtime.pod(uid)
    assert first is not None and again is not None and first.stage1 == again.stage1
    await runtime.remove(uid)


async def test_reboot_restarts_stage1_on_the_same_dir(runtime: PodRuntime,
                                                      data_dir: Path) -> None:
    """All host state gone (stage1 killed, mounts, netns, cgroups): start redoes it."""
    pod = pod_object(volumes=[{"name": "m", "emptyDir": {"medium": "Memory"}}])
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    before = runtime.pod(uid)
    assert before is not None and before.stage1 is not None
    pd = PodDir.of(data_dir, uid)
    gc.kill_stage1(pd)
    mounts.umount_under(pd.root)
    netns.delete_netns(uid)
    assert not stage1_alive(before.stage1)
    await runtime.start(pod, inputs())
    after = runtime.pod(uid)
    assert after is not None and after.alive and after.stage1 != before.stage1
    assert mounts.is_mounted(pd.rootfs_dir("main")) and mounts.is_mounted(pd.volume_dir("m"))
    assert netns.netns_path(uid).exists()
    await runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


async def test_finished_pod_is_not_started_again(runtime: PodRuntime, data_dir: Path) -> None:
    """stage1 exited with phase Succeeded: start leaves it so."""
    pod = pod_object()
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    await runtime.stop(uid, 1.0)   # the stand-in writes Succeeded on SIGTERM
    pd = PodDir.of(data_dir, uid)
    pd.stop_path.unlink()
    state = pd.read_pod_state()
    assert state is not None and state.phase == "Succeeded"
    await runtime.start(pod, inputs())
    assert pd.read_pod_state() == state
    await runtime.remove(uid)


async def test_stop_kills_a_stage1_that_ignores_sigterm(runtime: PodRuntime,
                                                        data_dir: Path) -> None:
    """stop: SIGKILL when stage1 outlives grace + 5 s (here a process that ignores TERM)."""
    pod = pod_object()
    uid = pod["metadata"]["uid"]
    pd = PodDir.of(data_dir, uid)
    await runtime.start(pod, inputs())
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal,time;"
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                                 "time.sleep(60)"])
    try:
        time.sleep(0.2)
        ticks = start_ticks(stubborn.pid)
        assert ticks is not None
        pd.write_pod_state(Stage1State(stubborn.pid, ticks, time.time(), "Running"))
        began = time.monotonic()
        await runtime.stop(uid, 0.0)
        assert 4.5 < time.monotonic() - began < 8
        assert stubborn.wait(5) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.wait()
    await runtime.remove(uid)
    assert leftovers(data_dir, uid).total == 0


@pytest.mark.parametrize("kw, reason", [
    ({"secrets": {}}, "CreateContainerConfigError"),
])
async def test_failed_prepare_leaves_nothing(runtime: PodRuntime, data_dir: Path,
                                             kw: dict[str, object], reason: str) -> None:
    """A missing secret fails start with the kubelet reason and leaves no host state."""
    pod = pod_object(volumes=[{"name": "s", "secret": {"secretName": "absent"}}])
    uid = pod["metadata"]["uid"]
    with pytest.raises(PodRuntimeError) as e:
        await runtime.start(pod, inputs(**kw))
    assert e.value.reason == reason
    assert leftovers(data_dir, uid).total == 0


async def test_image_policies_and_pull_events(runtime: PodRuntime, data_dir: Path) -> None:
    """Never + absent: ErrImageNeverPull; a failed pull: ErrImagePull with Pulling/Failed
    events, then ImagePullBackOff without another try."""
    seen: list[tuple[str, str, str]] = []
    never = pod_object(containers=[{"name": "c", "image": "missing:1",
                                    "imagePullPolicy": "Never"}])
    with pytest.raises(PodRuntimeError) as e:
        await runtime.start(never, inputs(), lambda *a: seen.append(a))
    assert e.value.reason == "ErrImageNeverPull"
    pull = pod_object(containers=[{"name": "c", "image": "127.0.0.1:1/missing:1"}])
    with pytest.raises(PodRuntimeError) as e:
        await runtime.start(pull, inputs(), lambda *a: seen.append(a))
    assert e.value.reason == "ErrImagePull"
    with pytest.raises(PodRuntimeError) as e:
        await runtime.start(pull, inputs(), lambda *a: seen.append(a))
    assert e.value.reason == "ImagePullBackOff"
    assert [r for _, r, _ in seen] == ["ErrImageNeverPull", "Pulling", "Failed", "BackOff"]
    assert not (data_dir / "pods").exists() or runtime.pods() == []


async def test_collect_garbage_removes_unknown_pods_and_orphans(runtime: PodRuntime,
                                                                data_dir: Path) -> None:
    """Pods the agent does not know go; an orphaned old netns without processes goes."""
    keep, drop = pod_object(), pod_object()
    await runtime.start(keep, inputs())
    await runtime.start(drop, inputs())
    orphan = "0rphan-" + keep["metadata"]["uid"][:8]
    netns.ensure_netns(orphan)
    try:
        await runtime.collect_garbage({keep["metadata"]["uid"]})
        assert [p.uid for p in runtime.pods()] == [keep["metadata"]["uid"]]
        assert leftovers(data_dir, drop["metadata"]["uid"]).total == 0
        assert netns.netns_path(orphan).exists()   # too young to be sure it is an orphan
        removed = gc.collect_orphans(data_dir, now=time.time() + 3600)
        assert f"netns:m13-{orphan}" in removed
        assert netns.netns_path(keep["metadata"]["uid"]).exists()  # a live pod's stays
    finally:
        netns.delete_netns(orphan)
    await runtime.remove(keep["metadata"]["uid"])


async def test_reset_cli_tears_down_every_pod(runtime: PodRuntime, data_dir: Path) -> None:
    """`minikube13 reset --data-dir D` removes every pod of D and all its host state."""
    pods = [pod_object(), pod_object()]
    for pod in pods:
        await runtime.start(pod, inputs())
    result = subprocess.run([sys.executable, "-m", "minikube13", "reset", "--data-dir",
                             str(data_dir)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert result.returncode == 0, result.stderr
    assert "removed 2 pod(s)" in result.stdout
    for pod in pods:
        assert leftovers(data_dir, pod["metadata"]["uid"]).total == 0


async def test_init_containers_from_the_13_annotation(runtime: PodRuntime,
                                                      data_dir: Path) -> None:
    """The 1.3 init-containers annotation becomes init containers of the plan, in order."""
    init = [{"name": "i1", "image": "busybox", "command": ["true"]},
            {"name": "i2", "image": "busybox", "command": ["true"]}]
    pod = pod_object()
    pod["metadata"]["annotations"] = {
        "pod.alpha.kubernetes.io/init-containers": json.dumps(init)}
    uid = pod["metadata"]["uid"]
    await runtime.start(pod, inputs())
    plan = PodDir.of(data_dir, uid).read_plan()
    assert plan is not None
    assert [(c.name, c.init) for c in plan.init_containers] == [("i1", True), ("i2", True)]
    assert [c.name for c in plan.containers] == ["main"]
    assert PodDir.of(data_dir, uid).bundle_dir("i2").joinpath("config.json").exists()
    await runtime.remove(uid)
