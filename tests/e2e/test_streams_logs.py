"""`kubectl logs` against the real daemon over CRI log files a test writes like stage1 would."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from .streams_support import (  # noqa: F401  (fixtures)
    KUBECTL,
    RuncPod,
    StreamsDaemon,
    streams_daemon_fixture,
    uid_tag,
)


@pytest.fixture
def pod(streams_daemon: StreamsDaemon, tmp_path: Path) -> RuncPod:
    """A pod whose container is recorded as running (logs need no real process)."""
    p = RuncPod(streams_daemon, tmp_path, f"logs-{uid_tag()}")
    p.set_state("running")
    return p


def test_logs_prints_stdout_and_stderr_in_order(pod: RuncPod,
                                                streams_daemon: StreamsDaemon) -> None:
    """kubectl logs shows every line the container wrote, both streams interleaved."""
    pod.log("one\ntwo")
    pod.log("err", "stderr")
    pod.log("three")
    out = streams_daemon.kubectl("logs", pod.name).stdout
    assert out == "one\ntwo\nerr\nthree\n"


def test_tail_timestamps_limit_and_since(pod: RuncPod, streams_daemon: StreamsDaemon) -> None:
    """--tail, --timestamps, --limit-bytes and --since select like the kubelet."""
    hour_ago = time.time_ns() - 3600 * 10**9
    pod.log("old", at_ns=hour_ago - 10**9)
    pod.log("a\nb\nc", at_ns=1_700_000_000_500_000_000)
    pod.log("new")
    kc = streams_daemon.kubectl
    assert kc("logs", pod.name, "--tail=2").stdout == "c\nnew\n"
    assert kc("logs", pod.name, "--tail=0").stdout == ""
    stamped = kc("logs", pod.name, "--tail=2", "--timestamps").stdout.splitlines()
    assert stamped[0] == "2023-11-14T22:13:20.5Z c"
    assert stamped[1].endswith("Z new")
    assert kc("logs", pod.name, "--limit-bytes=6").stdout == "old\na\n"
    assert kc("logs", pod.name, "--since=30m").stdout == "new\n"
    # sinceTime filters record by record, in file order (the 2023 lines came after "old")
    assert kc("logs", pod.name, "--since-time=2023-11-14T22:13:20Z").stdout == \
        "old\na\nb\nc\nnew\n"
    assert kc("logs", pod.name, "--since-time=2023-11-14T22:13:21Z").stdout == "old\nnew\n"


def test_follow_sees_new_lines_and_ends_with_the_container(
        pod: RuncPod, streams_daemon: StreamsDaemon) -> None:
    """kubectl logs -f prints lines written later and exits when the container stops."""
    pod.log("before")
    cmd = [KUBECTL, "--kubeconfig", str(streams_daemon.kubeconfig), "logs", "-f", pod.name]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as follow:
        try:
            assert follow.stdout is not None
            assert follow.stdout.readline() == b"before\n"
            pod.log("after")
            assert follow.stdout.readline() == b"after\n"
            pod.log("last words", "stderr")
            pod.set_state("terminated")
            assert follow.wait(timeout=10) == 0
            assert follow.stdout.read() == b"last words\n"
        finally:
            follow.kill()


def test_previous_shows_the_run_before(pod: RuncPod, streams_daemon: StreamsDaemon) -> None:
    """--previous reads the last terminated run; without it, the current one."""
    kc = streams_daemon.kubectl
    res = kc("logs", pod.name, "--previous", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == (f'Error from server (BadRequest): previous terminated '
                                  f'container "main" in pod "{pod.name}" not found')
    pod.log("first run")
    pod.restart()
    pod.log("second run")
    assert kc("logs", pod.name, "--previous").stdout == "first run\n"
    assert kc("logs", pod.name).stdout == "second run\n"
    assert kc("logs", pod.name, "-p", "--timestamps").stdout.endswith("Z first run\n")


def test_logs_errors_read_like_kubernetes(streams_daemon: StreamsDaemon, tmp_path: Path) -> None:
    """A container not started yet, or not in the pod, is a 400 with the usual words."""
    pod = RuncPod(streams_daemon, tmp_path, f"wait-{uid_tag()}", extra_containers=("side",))
    kc = streams_daemon.kubectl
    res = kc("logs", pod.name, "-c", "main", check=False)
    assert res.stderr.strip() == (f'Error from server (BadRequest): container "main" in pod '
                                  f'"{pod.name}" is waiting to start: ContainerCreating')
    path = f"/api/v1/namespaces/default/pods/{pod.name}/log"
    res = kc("get", "--raw", f"{path}?container=nope", check=False)  # kubectl logs checks first
    assert res.stderr.strip() == (f"Error from server (BadRequest): container nope is not "
                                  f"valid for pod {pod.name}")
    res = kc("get", "--raw", path, check=False)
    assert "a container name must be specified for pod" in res.stderr
    assert "choose one of: [main side]" in res.stderr
    res = kc("logs", "no-such-pod", check=False)
    assert 'pods "no-such-pod" not found' in res.stderr
