"""logs and exec against a pod run by the real stage1 (runc inside the pod's pid namespace,
so exec goes through nsenter), with the real kubectl and daemon."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from minikube13.runtime.poddir import PodDir

from .stage1_support import CGROUP_PARENT, NETNS_DIR, PodRig, build_rootfs
from .streams_support import (  # noqa: F401  (fixtures)
    KUBECTL,
    NODE,
    StreamsDaemon,
    drive_interactive_shell,
    streams_daemon_fixture,
    uid_tag,
)

TICKER = "echo started; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


def _rig_for(daemon: StreamsDaemon, rootfs: Path, name: str) -> PodRig:
    """A stage1 pod dir keyed by the uid the API gave the Pod object `name`."""
    manifest = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": NODE, "tolerations": [{"operator": "Exists"}],
                         "containers": [{"name": "ticker", "image": "busybox"}]}}
    daemon.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    uid = daemon.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").stdout.strip()
    rig = PodRig(daemon.root, rootfs, restart_policy="Always")
    shutil.rmtree(rig.pd.root)
    rig.uid, rig.pd = uid, PodDir.of(rig.data_dir, uid)
    rig.shared = rig.pd.root / "shared"
    rig.shared.mkdir(parents=True)
    rig.netns = str(NETNS_DIR / f"m13t-{uid[:12]}")
    rig.plan = replace(rig.plan, uid=uid, name=name, netns=rig.netns,
                       cgroup_parent=f"{CGROUP_PARENT}/pod{uid}")
    plan = rig.add("ticker", TICKER)
    config_path = Path(plan.bundle) / "config.json"
    config = json.loads(config_path.read_text())
    config["mounts"].append({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                         "mode=0620"]})  # as stage0's bundles: exec -t
    config_path.write_text(json.dumps(config))
    return rig


@pytest.fixture(scope="module")
def stage1_pod(streams_daemon: StreamsDaemon, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[PodRig]:
    rootfs = build_rootfs(tmp_path_factory.mktemp("s1rootfs") / "rootfs")
    rig = _rig_for(streams_daemon, rootfs, f"stage1-{uid_tag()}")
    try:
        rig.launch()
        rig.wait_for(lambda: (s := rig.state("ticker")) is not None and s.state == "running",
                     what_s="ticker running")
        yield rig
    finally:
        rig.destroy()


def test_logs_and_follow_of_a_stage1_pod(stage1_pod: PodRig,
                                         streams_daemon: StreamsDaemon) -> None:
    """kubectl logs reads what stage1 wrote; -f keeps printing new lines."""
    name = stage1_pod.plan.name
    stage1_pod.wait_for(lambda: "tick 1" in streams_daemon.kubectl("logs", name).stdout,
                        what_s="two ticks in the log")
    assert streams_daemon.kubectl("logs", name).stdout.startswith("started\ntick 0\n")
    cmd = [KUBECTL, "--kubeconfig", str(streams_daemon.kubeconfig), "logs", "-f", "--tail=1",
           name]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as follow:
        try:
            assert follow.stdout is not None
            first = int(follow.stdout.readline().split()[1])
            later = int(follow.stdout.readline().split()[1])
            assert later == first + 1
        finally:
            follow.kill()


def test_exec_enters_the_pod_namespaces(stage1_pod: PodRig,
                                        streams_daemon: StreamsDaemon) -> None:
    """exec runs in the pod: its hostname, stage1 as PID 1; exit codes and stdin work."""
    name = stage1_pod.plan.name
    kc = streams_daemon.kubectl
    assert kc("exec", name, "--", "hostname").stdout.strip() == stage1_pod.plan.hostname
    assert "stage1" in kc("exec", name, "--", "cat", "/proc/1/cmdline").stdout
    assert kc("exec", name, "--", "sh", "-c", "exit 4", check=False).returncode == 4
    assert kc("exec", "-i", name, "--", "cat", input="via stdin\n").stdout == "via stdin\n"


def test_exec_it_through_stage1(stage1_pod: PodRig, streams_daemon: StreamsDaemon) -> None:
    """exec -it into a stage1 pod: runc under nsenter still gets the terminal's resizes."""
    assert drive_interactive_shell(streams_daemon, stage1_pod.plan.name) == 7


def test_a_client_that_goes_away_ends_the_command(stage1_pod: PodRig,
                                                  streams_daemon: StreamsDaemon) -> None:
    """Killing kubectl mid-exec ends the command in the container too."""
    name = stage1_pod.plan.name
    kc = streams_daemon.kubectl
    cmd = [KUBECTL, "--kubeconfig", str(streams_daemon.kubeconfig), "exec", name, "--",
           "sh", "-c", "echo up; exec sleep 321"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as client:
        assert client.stdout is not None
        assert client.stdout.readline() == b"up\n"
        assert "sleep 321" in kc("exec", name, "--", "ps").stdout
        client.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 15
    while "sleep 321" in kc("exec", name, "--", "ps").stdout:
        assert time.monotonic() < deadline, "the exec'd command outlived its client"
        time.sleep(0.2)
