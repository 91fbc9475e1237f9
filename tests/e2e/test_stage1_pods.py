"""stage1 for real: PID 1 of the pod, runc containers, init order, restarts, stop (root)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

from minikube13.runtime import crilog
from minikube13.runtime.poddir import ContainerState

from .stage1_support import (  # noqa: F401  (fixtures)
    PodRig,
    busybox_rootfs_fixture,
    cgroup_dirs,
    pod_rig_fixture,
    processes_in_pid_ns,
    read_lines,
)

Rig = Callable[..., PodRig]
UPTIME = "$(cut -d' ' -f1 /proc/uptime)"


def _terminal(rig: PodRig) -> Callable[[], bool]:
    return lambda: (s := rig.pod_state()) is not None and s.phase in ("Succeeded", "Failed")


def _gone(rig: PodRig) -> Callable[[], bool]:
    return lambda: not rig.alive()


def test_init_containers_in_order_before_apps(pod_rig: Rig) -> None:
    """Two init containers run one at a time in order; apps start after the last exits 0."""
    rig = pod_rig(restart_policy="Never")
    for name in ("init1", "init2"):
        rig.add(name, f"echo start {name} {UPTIME} >> /shared/t; sleep 0.3; "
                      f"echo end {name} {UPTIME} >> /shared/t", init=True)
    for name in ("app1", "app2"):
        rig.add(name, f"echo start {name} {UPTIME} >> /shared/t; echo hi from {name}")
    rig.launch()
    rig.wait_for(_terminal(rig), 20, "pod finished")
    rows = read_lines(rig.shared / "t")
    times = {(kind, name): float(t) for kind, name, t in rows}
    assert times[("start", "init1")] < times[("end", "init1")] <= times[("start", "init2")]
    assert times[("end", "init2")] <= min(times[("start", "app1")], times[("start", "app2")])
    assert [r[1] for r in rows[:4]] == ["init1", "init1", "init2", "init2"]
    state = rig.pod_state()
    assert state is not None and state.phase == "Succeeded"
    for name in ("init1", "init2", "app1", "app2"):
        cs = rig.state(name)
        assert cs is not None and cs.terminated is not None
        assert (cs.terminated.exit_code, cs.terminated.reason) == (0, "Completed")
    init2 = rig.state("init2")
    app1 = rig.state("app1")
    assert init2 is not None and init2.terminated is not None and app1 is not None
    assert init2.terminated.finished_at is not None and app1.started_at is not None
    assert init2.terminated.finished_at <= app1.started_at
    record = crilog.decode(rig.pd.log_path("app1", 0).read_bytes().splitlines()[0])
    assert (record.stream, record.content) == ("stdout", b"hi from app1")
    rig.wait_for(_gone(rig), 5, "stage1 exited")


def test_failing_init_with_never_fails_pod(pod_rig: Rig) -> None:
    """restartPolicy Never + a failing init container: pod Failed, apps never start."""
    rig = pod_rig(restart_policy="Never")
    rig.add("init1", "echo nope >&2; exit 3", init=True)
    rig.add("app", "touch /shared/app-ran")
    rig.launch()
    rig.wait_for(_terminal(rig), 15, "pod finished")
    state = rig.pod_state()
    assert state is not None and state.phase == "Failed"
    cs = rig.state("init1")
    assert cs is not None and cs.terminated is not None
    assert (cs.terminated.exit_code, cs.terminated.reason) == (3, "Error")
    app = rig.state("app")
    assert app is not None and app.state == "waiting"
    assert not (rig.shared / "app-ran").exists()
    assert not rig.pd.log_path("app", 0).exists()
    assert b"stderr F nope" in rig.pd.log_path("init1", 0).read_bytes()
    rig.wait_for(_gone(rig), 5, "stage1 exited")


def test_pid1_is_stage1_and_namespaces_are_shared(pod_rig: Rig) -> None:
    """PID 1 in the pod is stage1; containers share net/ipc/uts/pid namespaces, not mnt."""
    rig = pod_rig(restart_policy="Always")
    for name in ("a", "b"):
        rig.add(name, f"tr '\\0' ' ' < /proc/1/cmdline > /shared/{name}-pid1; "
                      f"hostname > /shared/{name}-host; exec sleep 60")
    rig.launch()
    def both() -> list[ContainerState]:
        found = [s for n in ("a", "b") if (s := rig.state(n)) and s.state == "running"]
        return found if len(found) == 2 and all(s.pid for s in found) else []

    states = rig.wait_for(both, 10, "both running")
    stage1 = rig.pod_state()
    assert stage1 is not None
    rig.wait_for(lambda: (rig.shared / "b-host").exists() and (rig.shared / "a-host").exists())
    for name in ("a", "b"):
        assert "minikube13 stage1" in (rig.shared / f"{name}-pid1").read_text()
        assert (rig.shared / f"{name}-host").read_text().strip() == rig.plan.hostname
    pids = [stage1.stage1_pid, *(s.pid for s in states)]
    for ns in ("net", "ipc", "uts", "pid"):
        assert len({os.readlink(f"/proc/{p}/ns/{ns}") for p in pids}) == 1, ns
    assert os.readlink(f"/proc/{stage1.stage1_pid}/ns/net") == \
        f"net:[{os.stat(rig.netns).st_ino}]"
    mnts = {os.readlink(f"/proc/{p}/ns/mnt") for p in pids}
    assert len(mnts) == 3, "each container has its own mount namespace"
    assert os.readlink(f"/proc/{stage1.stage1_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")


def test_restart_backoff_grows_and_counts(pod_rig: Rig) -> None:
    """A crashing container restarts with growing waits and restartCount counts."""
    rig = pod_rig(restart_policy="Always", backoff=(0.2, 5.0))
    rig.add("crash", f"echo {UPTIME} >> /shared/starts; exit 1")
    rig.launch()
    rig.wait_for(lambda: len(read_lines(rig.shared / "starts")) >= 5, 15, "5 starts")
    starts = [float(r[0]) for r in read_lines(rig.shared / "starts")]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # each gap = back-off (0.2, 0.4, 0.8, 1.6 s) + a run of `exit 1` + a runc start
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[0] >= 0.18 and gaps[-1] >= 1.6 and gaps[-1] > 2.5 * gaps[0], gaps
    cs = rig.wait_for(lambda: (s := rig.state("crash")) and s.restart_count >= 4 and s, 5)
    assert cs.last_terminated is not None and cs.last_terminated.exit_code == 1
    assert rig.pd.log_path("crash", 3).exists()


def test_stop_within_grace_leaves_nothing(pod_rig: Rig) -> None:
    """SIGTERM + stop: TERM, KILL at the end of the grace period; no process stays."""
    rig = pod_rig(restart_policy="Always")
    rig.add("polite", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done")
    rig.add("stubborn", "trap '' TERM; sleep 1000 & while true; do sleep 0.1; done")
    rig.launch()
    rig.wait_for(lambda: all((s := rig.state(n)) and s.state == "running"
                             for n in ("polite", "stubborn")), 10, "running")
    ns = rig.pod_pid_ns()
    assert ns is not None and len(processes_in_pid_ns(ns)) >= 5
    t0 = time.time()
    rig.stop(grace_s=1.0)
    rig.wait_for(_gone(rig), 5, "stage1 exited")
    took = time.time() - t0
    assert 0.9 <= took < 3.0, took
    assert processes_in_pid_ns(ns) == []
    polite, stubborn = rig.state("polite"), rig.state("stubborn")
    assert polite is not None and polite.terminated is not None
    assert polite.terminated.exit_code == 0
    assert stubborn is not None and stubborn.terminated is not None
    assert (stubborn.terminated.exit_code, stubborn.terminated.signal) == (137, 9)
    state = rig.pod_state()
    assert state is not None and state.phase == "Failed" and state.message == "stopped"
    runc = subprocess.run(["runc", "--root", str(rig.data_dir / "runc"), "list", "-q"],
                          capture_output=True, text=True, check=True)
    assert runc.stdout.split() == []
    leftover = [d for d in cgroup_dirs(rig.plan.cgroup_parent)
                if any(p.is_dir() for p in d.iterdir())]
    assert leftover == []
