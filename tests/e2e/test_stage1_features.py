"""stage1 for real: OOM, termination messages, probes, hooks, exec from the host, restarts
of stage1 itself (root)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

from minikube13.runtime.poddir import ContainerState
from minikube13.runtime.runc import Runc

from .stage1_support import (  # noqa: F401  (fixtures)
    PodRig,
    busybox_rootfs_fixture,
    pod_rig_fixture,
    processes_in_pid_ns,
    read_lines,
)

Rig = Callable[..., PodRig]


def _terminal(rig: PodRig) -> Callable[[], bool]:
    return lambda: (s := rig.pod_state()) is not None and s.phase in ("Succeeded", "Failed")


def _running(rig: PodRig, name: str) -> Callable[[], ContainerState | None]:
    return lambda: s if (s := rig.state(name)) and s.state == "running" else None


def test_memory_limit_is_reported_as_oomkilled(pod_rig: Rig) -> None:
    """A container over its memory limit is killed and its reason is OOMKilled."""
    rig = pod_rig(restart_policy="Never")
    rig.add("hog", "tail /dev/zero", memory_limit=16 * 1024 * 1024)
    rig.launch()
    rig.wait_for(_terminal(rig), 20, "pod finished")
    cs = rig.state("hog")
    assert cs is not None and cs.terminated is not None
    assert (cs.terminated.reason, cs.terminated.exit_code) == ("OOMKilled", 137)


def test_termination_message_and_exit_code(pod_rig: Rig) -> None:
    """What a container writes to its termination log becomes the terminated message."""
    rig = pod_rig(restart_policy="Never")
    rig.add("c", "echo 'it broke' > /dev/termination-log; exit 4")
    rig.launch()
    rig.wait_for(_terminal(rig), 15, "pod finished")
    cs = rig.state("c")
    assert cs is not None and cs.terminated is not None
    assert cs.terminated == cs.terminated.__class__(
        exit_code=4, reason="Error", message="it broke\n", signal=None,
        started_at=cs.terminated.started_at, finished_at=cs.terminated.finished_at)
    state = rig.pod_state()
    assert state is not None and state.phase == "Failed"


def test_liveness_exec_probe_restarts_the_container(pod_rig: Rig) -> None:
    """An exec liveness probe that starts failing kills the container; it restarts."""
    rig = pod_rig(restart_policy="Always", backoff=(0.1, 1.0), grace_s=1.0)
    probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 0.2,
             "failureThreshold": 2}
    rig.add("c", "touch /tmp/alive; sleep 0.5; rm /tmp/alive; exec sleep 100",
            liveness_probe=probe)
    rig.launch()
    cs = rig.wait_for(lambda: (s := rig.state("c")) and s.restart_count >= 1 and s, 15,
                      "a restart")
    assert cs.last_terminated is not None
    assert cs.last_terminated.signal in (signal.SIGTERM, signal.SIGKILL)


def test_readiness_http_and_tcp_probes(pod_rig: Rig) -> None:
    """httpGet readiness turns ready once the server answers; tcpSocket liveness passes."""
    rig = pod_rig(restart_policy="Always")
    ready = {"httpGet": {"path": "/index.html", "port": 8080}, "periodSeconds": 0.2}
    alive = {"tcpSocket": {"port": 8080}, "periodSeconds": 0.2, "initialDelaySeconds": 1}
    rig.add("web", "mkdir -p /tmp/www; echo ok > /tmp/www/index.html; sleep 0.5; "
                   "exec httpd -f -p 8080 -h /tmp/www", readiness_probe=ready,
            liveness_probe=alive)
    rig.launch()
    first = rig.wait_for(_running(rig, "web"), 10, "running")
    assert first.ready is False
    rig.wait_for(lambda: (s := rig.state("web")) and s.ready, 10, "ready")
    cs = rig.state("web")
    assert cs is not None and cs.restart_count == 0


def test_post_start_and_pre_stop_hooks(pod_rig: Rig) -> None:
    """postStart runs after the start; preStop runs before the container gets TERM."""
    rig = pod_rig(restart_policy="Always")
    up = "$(cut -d' ' -f1 /proc/uptime)"
    lifecycle = {"postStart": {"exec": {"command": ["sh", "-c", "echo post > /shared/post"]}},
                 "preStop": {"exec": {"command": ["sh", "-c",
                                                  f"echo prestop {up} >> /shared/order"]}}}
    rig.add("c", "trap 'read u r < /proc/uptime; echo term $u >> /shared/order; exit 0' TERM; "
                 "while true; do sleep 0.1; done", lifecycle=lifecycle)
    rig.launch()
    rig.wait_for(lambda: (rig.shared / "post").exists(), 10, "postStart ran")
    rig.stop(grace_s=5.0)
    rig.wait_for(lambda: not rig.alive(), 10, "stage1 exited")
    order = read_lines(rig.shared / "order")
    assert [r[0] for r in order] == ["prestop", "term"]
    assert float(order[0][1]) <= float(order[1][1])


def test_exec_from_the_host_enters_the_pod(pod_rig: Rig) -> None:
    """Runc.for_pod execs in a running container from the host (as the API's exec will)."""
    rig = pod_rig(restart_policy="Always")
    plan = rig.add("c", "exec sleep 100")
    rig.launch()
    rig.wait_for(_running(rig, "c"), 10, "running")
    runc = Runc.for_pod(rig.pd)
    assert runc.enter_pid is not None
    result = runc.exec(plan.runc_id, ["sh", "-c", "hostname; cat /proc/1/cmdline"])
    assert result.exit_code == 0, result.stderr
    host, cmdline = result.stdout.split(b"\n", 1)
    assert host.decode() == rig.plan.hostname and b"stage1" in cmdline
    state = runc.state(plan.runc_id)
    assert state is not None and state.status == "running"
    assert runc.kill(plan.runc_id, "KILL")
    rig.wait_for(lambda: (s := rig.state("c")) and s.restart_count == 1, 10, "restarted")


def test_plain_sigterm_keeps_the_pod_restartable(pod_rig: Rig) -> None:
    """SIGTERM without a stop request (machine shutdown): containers stop, phase Stopping."""
    rig = pod_rig(restart_policy="Always", grace_s=1.0)
    rig.add("c", "exec sleep 100")
    rig.launch()
    rig.wait_for(_running(rig, "c"), 10, "running")
    state = rig.pod_state()
    assert state is not None
    os.kill(state.stage1_pid, signal.SIGTERM)
    rig.wait_for(lambda: not rig.alive(), 10, "stage1 exited")
    after = rig.pod_state()
    assert after is not None and after.phase == "Stopping"


def test_stage1_restart_continues_restart_counts(pod_rig: Rig) -> None:
    """stage1 killed (a reboot) and started again: the container runs again, count + 1."""
    rig = pod_rig(restart_policy="Always")
    rig.add("c", "echo run >> /shared/runs; exec sleep 100")
    rig.launch()
    rig.wait_for(_running(rig, "c"), 10, "running")
    state = rig.pod_state()
    assert state is not None
    ns = rig.pod_pid_ns()
    assert ns is not None
    os.kill(state.stage1_pid, signal.SIGKILL)
    rig.wait_for(lambda: not rig.alive() and not processes_in_pid_ns(ns), 10, "pod gone")
    subprocess.run(["ip", "netns", "del", os.path.basename(rig.netns)], check=True)
    rig.launch()
    cs = rig.wait_for(lambda: (s := rig.state("c")) and s.state == "running"
                      and s.restart_count == 1 and s, 10, "running again")
    assert cs.last_terminated is not None
    assert len(read_lines(rig.shared / "runs")) == 2
    assert rig.pd.log_path("c", 1).exists()


def test_missing_command_is_container_cannot_run(pod_rig: Rig) -> None:
    """A command that does not exist: ContainerCannotRun with runc's message; pod Failed."""
    rig = pod_rig(restart_policy="Never")
    rig.add("c", "", args=["/no/such/binary"])
    rig.launch()
    rig.wait_for(_terminal(rig), 15, "pod finished")
    cs = rig.state("c")
    assert cs is not None and cs.terminated is not None
    assert cs.terminated.reason == "ContainerCannotRun"
    assert "no such file" in cs.terminated.message.lower()


def _zombies(ns: str) -> list[int]:
    out = []
    for pid in processes_in_pid_ns(ns):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    out.append(pid)
        except OSError:
            pass
    return out


def test_orphans_are_reaped_by_stage1(pod_rig: Rig) -> None:
    """Processes orphaned inside the pod are reparented to stage1 and reaped: no zombies."""
    rig = pod_rig(restart_policy="Always")
    rig.add("c", "for i in 1 2 3 4 5; do (sleep 0.1 &); done; touch /shared/forked; "
                 "exec sleep 100")
    rig.launch()
    rig.wait_for(lambda: (rig.shared / "forked").exists(), 10, "orphans made")
    ns = rig.pod_pid_ns()
    assert ns is not None
    rig.wait_for(lambda: len(processes_in_pid_ns(ns)) == 2, 5, "orphans gone")
    assert _zombies(ns) == []


def test_chatty_containers_lose_no_log_lines(pod_rig: Rig) -> None:
    """Two containers writing 20,000 lines each: every line lands in order in its CRI log."""
    rig = pod_rig(restart_policy="Never")
    rig.add("a", "seq 1 20000")
    rig.add("b", "seq 1 20000 >&2; head -c 40000 /dev/zero | tr '\\0' x")
    rig.launch()
    rig.wait_for(_terminal(rig), 20, "pod finished")
    a = rig.pd.log_path("a", 0).read_bytes().split(b"\n")[:-1]
    assert [line.split(b" ", 3)[3] for line in a] == [str(i).encode() for i in range(1, 20001)]
    b = [line.split(b" ", 3) for line in rig.pd.log_path("b", 0).read_bytes().split(b"\n")[:-1]]
    errs = [rest for _, stream, _, rest in b if stream == b"stderr"]
    assert errs == [str(i).encode() for i in range(1, 20001)]
    outs = [(tag, rest) for _, stream, tag, rest in b if stream == b"stdout"]
    assert [t for t, _ in outs] == [b"P", b"P", b"F"]
    assert b"".join(r for _, r in outs) == b"x" * 40000
