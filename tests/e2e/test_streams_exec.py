"""`kubectl exec`, `exec -it`, `attach` and `cp` into a container that really runs under runc."""

from __future__ import annotations

import hashlib
import os
import select
import subprocess
from pathlib import Path

from .streams_support import (  # noqa: F401  (fixtures)
    KUBECTL,
    RuncPod,
    StreamsDaemon,
    drive_interactive_shell,
    read_until,
    running_pod_fixture,
    streams_daemon_fixture,
    uid_tag,
)


def test_exec_prints_output_and_uses_websocket(running_pod: RuncPod,
                                               streams_daemon: StreamsDaemon) -> None:
    """kubectl exec pod -- cat /etc/hostname prints the container's file, over v5 WebSocket."""
    out = streams_daemon.kubectl("exec", running_pod.name, "--", "cat", "/etc/hostname")
    assert out.stdout == f"{running_pod.name}\n"
    assert "protocol=v5.channel.k8s.io" in streams_daemon.log()


def test_exit_codes_and_stderr_propagate(running_pod: RuncPod,
                                         streams_daemon: StreamsDaemon) -> None:
    """A command's exit code becomes kubectl's; its stderr stays stderr."""
    res = streams_daemon.kubectl("exec", running_pod.name, "--", "sh", "-c",
                                 "echo out; echo err >&2; exit 3", check=False)
    assert (res.returncode, res.stdout) == (3, "out\n")
    assert res.stderr == "err\ncommand terminated with exit code 3\n"
    res = streams_daemon.kubectl("exec", running_pod.name, "--", "no-such-command",
                                 check=False)
    assert res.returncode == 255
    assert "executable file not found" in res.stderr


def test_exec_stdin_is_passed_and_closed(running_pod: RuncPod,
                                         streams_daemon: StreamsDaemon) -> None:
    """exec -i streams all of stdin to the command, then closes it (v5 CLOSE)."""
    data = os.urandom(3 * 1024 * 1024).hex()[: 3 * 1024 * 1024]
    res = streams_daemon.kubectl("exec", "-i", running_pod.name, "--", "md5sum", input=data)
    assert res.stdout.split()[0] == hashlib.md5(data.encode()).hexdigest()


def test_exec_it_drives_a_shell_through_a_pty(running_pod: RuncPod,
                                              streams_daemon: StreamsDaemon) -> None:
    """kubectl exec -it pod -- sh: an interactive shell with the user's terminal size."""
    assert drive_interactive_shell(streams_daemon, running_pod.name) == 7


def test_cp_both_ways(running_pod: RuncPod, streams_daemon: StreamsDaemon,
                      tmp_path: Path) -> None:
    """kubectl cp copies a directory into the container and back (tar over exec)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello from the host\n")
    blob = os.urandom(300_000)
    (src / "sub" / "b.bin").write_bytes(blob)
    kc = streams_daemon.kubectl
    kc("cp", str(src), f"{running_pod.name}:/data/copy", "-c", "main")
    assert kc("exec", running_pod.name, "--", "cat", "/data/copy/a.txt").stdout == \
        "hello from the host\n"
    back = tmp_path / "back"
    kc("cp", f"{running_pod.name}:/data/copy", str(back), "-c", "main")
    assert (back / "a.txt").read_text() == "hello from the host\n"
    assert (back / "sub" / "b.bin").read_bytes() == blob


def test_exec_into_a_stopped_container_fails_like_the_kubelet(
        streams_daemon: StreamsDaemon, tmp_path: Path) -> None:
    """exec into a container that does not run: the kubelet's `container not found`."""
    pod = RuncPod(streams_daemon, tmp_path, f"stopped-{uid_tag()}")
    pod.set_state("terminated")
    res = streams_daemon.kubectl("exec", pod.name, "--", "true", check=False)
    assert res.returncode == 1
    assert res.stderr.strip() == 'error: unable to upgrade connection: container not found ' \
                                 '("main")'


def test_attach_follows_output_until_the_container_stops(
        running_pod: RuncPod, streams_daemon: StreamsDaemon, tmp_path: Path) -> None:
    """kubectl attach prints what the container writes from now on, and ends with it."""
    pod = RuncPod(streams_daemon, tmp_path, f"attach-{uid_tag()}")
    pod.set_state("running")
    pod.runc_id = running_pod.runc_id  # attach reads the log; any running container will do
    pod.set_state("running")
    pod.log("written before attach")
    cmd = [KUBECTL, "--kubeconfig", str(streams_daemon.kubeconfig), "attach", pod.name]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as attach:
        try:
            assert attach.stdout is not None
            fd = attach.stdout.fileno()
            for n in range(50):  # until the session is open, lines may pass unseen
                pod.log(f"tick {n}")
                if select.select([fd], [], [], 0.2)[0]:
                    break
            read_until(fd, b"tick")
            pod.log("hello attach")
            read_until(fd, b"hello attach\n")
            pod.set_state("terminated")
            assert attach.wait(timeout=10) == 0
            assert b"written before attach" not in (attach.stdout.read() or b"")
        finally:
            attach.kill()
