"""The pod supervisor: init order, restarts, back-off, terminal phases, stop (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from minikube13.runtime.poddir import ContainerPlan, ContainerState, PodPlan, TerminatedState
from minikube13.runtime.stage1.messages import (
    Action,
    CannotRun,
    Event,
    Exited,
    Finish,
    HookDone,
    ProbeDone,
    RunHook,
    RunProbe,
    SignalContainer,
    Spawned,
    StartContainer,
    Stop,
    WriteContainer,
    WritePod,
)
from minikube13.runtime.stage1.supervisor import Supervisor


def container(name: str, init: bool = False, **extra: Any) -> ContainerPlan:
    return ContainerPlan(name=name, init=init, runc_id=f"uid-{name}", bundle=f"/b/{name}",
                         termination_log=f"/t/{name}", **extra)


def pod(policy: str = "Always", inits: tuple[str, ...] = (), apps: tuple[str, ...] = ("a",),
        **extra: Any) -> PodPlan:
    return PodPlan(uid="uid", namespace="ns", name="p", restart_policy=policy, hostname="p",
                   netns="/run/netns/m13-uid", cgroup_parent="minikube13/poduid",
                   backoff_initial_s=10.0, backoff_max_s=300.0,
                   init_containers=[container(n, True) for n in inits],
                   containers=[container(n) for n in apps], **extra)


class Driver:
    """Feeds events at given times and keeps what the supervisor asked for."""

    def __init__(self, plan: PodPlan, now: float = 1000.0,
                 previous: dict[str, ContainerState] | None = None):
        self.sup = Supervisor(plan, now, previous)
        self.now = now
        self.actions: list[Action] = []
        self.wake_at: float | None = None
        self.step()

    def step(self, *events: Event, at: float | None = None) -> list[Action]:
        if at is not None:
            self.now = at
        result = self.sup.step(self.now, list(events))
        self.actions.extend(result.actions)
        self.wake_at = result.wake_at
        return result.actions

    def starts(self, actions: list[Action] | None = None) -> list[str]:
        return [a.name for a in (self.actions if actions is None else actions)
                if isinstance(a, StartContainer)]

    def state(self, name: str) -> ContainerState:
        return self.sup.slots[name].status

    def phases(self) -> list[str]:
        return [a.phase for a in self.actions if isinstance(a, WritePod)]

    def finished(self) -> bool:
        return any(isinstance(a, Finish) for a in self.actions)


def test_init_containers_run_one_at_a_time_then_apps_together() -> None:
    """Init containers start in order, each after the previous exited 0; then all apps."""
    d = Driver(pod(inits=("i1", "i2"), apps=("a", "b")))
    assert d.starts() == ["i1"]
    assert d.phases() == ["Initializing"]
    assert d.starts(d.step(Spawned("i1", 11))) == []
    assert d.starts(d.step(Exited("i1", 0), at=1001)) == ["i2"]
    assert d.starts(d.step(Spawned("i2", 12))) == []
    assert d.starts(d.step(Exited("i2", 0), at=1002)) == ["a", "b"]
    assert d.phases() == ["Initializing", "Running"]
    assert d.state("i1").terminated == TerminatedState(0, "Completed", started_at=1000,
                                                       finished_at=1001)
    assert d.state("a").reason == "ContainerCreating"


def test_apps_wait_with_pod_initializing() -> None:
    """Before the init containers finish, app containers wait with PodInitializing."""
    d = Driver(pod(inits=("i1",)))
    assert d.state("a").state == "waiting" and d.state("a").reason == "PodInitializing"


def test_failing_init_with_never_fails_the_pod() -> None:
    """restartPolicy Never: a failing init container fails the pod; no app ever starts."""
    d = Driver(pod("Never", inits=("i1", "i2")))
    d.step(Spawned("i1"))
    d.step(Exited("i1", 3), at=1001)
    assert d.starts() == ["i1"]
    assert d.phases()[-1] == "Failed"
    assert d.finished()
    assert d.state("i1").terminated is not None
    assert d.state("i1").terminated.reason == "Error"
    assert d.state("a").state == "waiting"


def test_failing_init_restarts_with_backoff_under_always() -> None:
    """Always (and OnFailure): a failing init container is retried after the back-off."""
    d = Driver(pod("Always", inits=("i1",)))
    d.step(Spawned("i1"))
    d.step(Exited("i1", 1), at=1001)
    assert d.state("i1").reason == "CrashLoopBackOff"
    assert d.state("i1").restart_count == 0  # counted when the restart happens (kubelet)
    assert d.wake_at == 1011
    assert d.starts(d.step(at=1010.9)) == []
    assert d.starts(d.step(at=1011)) == ["i1"]
    assert d.state("i1").restart_count == 1
    d.step(Spawned("i1"))
    assert d.starts(d.step(Exited("i1", 0), at=1012)) == ["a"]


def test_backoff_doubles_up_to_max() -> None:
    """Each crash doubles the wait: 10, 20, 40, ... capped at 300 s."""
    d = Driver(pod("Always"))
    waits = []
    for _ in range(8):
        d.step(Spawned("a"))
        d.step(Exited("a", 1), at=d.now + 1)
        assert d.wake_at is not None
        waits.append(d.wake_at - d.now)
        d.step(at=d.wake_at)
    assert waits == [10, 20, 40, 80, 160, 300, 300, 300]
    assert d.state("a").restart_count == 8


def test_backoff_resets_after_a_long_good_run() -> None:
    """A run of 10 minutes (2 x max back-off) forgets the back-off."""
    d = Driver(pod("Always"))
    for _ in range(3):
        d.step(Spawned("a"))
        d.step(Exited("a", 1), at=d.now + 1)
        d.step(at=d.wake_at)
    d.step(Spawned("a"))
    d.step(Exited("a", 1), at=d.now + 600)
    assert d.wake_at == d.now + 10


def test_never_policy_success_and_failure() -> None:
    """Never: the pod is Succeeded when all apps exit 0, Failed when one does not."""
    d = Driver(pod("Never", apps=("a", "b")))
    d.step(Spawned("a"), Spawned("b"))
    d.step(Exited("a", 0))
    assert not d.finished()
    d.step(Exited("b", 0))
    assert d.phases()[-1] == "Succeeded" and d.finished()
    d = Driver(pod("Never", apps=("a", "b")))
    d.step(Spawned("a"), Spawned("b"))
    d.step(Exited("a", 0), Exited("b", 2))
    assert d.phases()[-1] == "Failed" and d.finished()


def test_onfailure_restarts_only_failures() -> None:
    """OnFailure: a zero exit stays terminated, a non-zero exit restarts."""
    d = Driver(pod("OnFailure", apps=("a", "b")))
    d.step(Spawned("a"), Spawned("b"))
    d.step(Exited("a", 0), Exited("b", 1))
    assert d.state("a").state == "terminated"
    assert d.state("b").state == "waiting" and d.state("b").restart_count == 0
    d.step(at=d.now + 10)
    assert d.starts()[-1] == "b" and d.state("b").restart_count == 1
    d.step(Spawned("b"))
    d.step(Exited("b", 0))
    assert d.phases()[-1] == "Succeeded" and d.finished()


def test_always_never_finishes_on_exit() -> None:
    """Always: a zero exit restarts too and the pod never ends by itself."""
    d = Driver(pod("Always"))
    d.step(Spawned("a"))
    d.step(Exited("a", 0))
    assert not d.finished()
    assert d.state("a").last_terminated is not None
    assert d.state("a").last_terminated.reason == "Completed"


def test_oom_and_cannot_run_reasons() -> None:
    """OOM kills say OOMKilled; a runc failure says ContainerCannotRun with its message."""
    d = Driver(pod("Never", apps=("a", "b")))
    d.step(Spawned("a"))
    d.step(Exited("a", 137, 9, oom=True), CannotRun("b", "no such file"))
    assert d.state("a").terminated is not None
    assert d.state("a").terminated.reason == "OOMKilled"
    assert d.state("b").terminated is not None
    assert d.state("b").terminated.reason == "ContainerCannotRun"
    assert d.state("b").terminated.message == "no such file"
    assert d.finished()


def test_stop_terms_then_kills_at_grace_and_finishes() -> None:
    """Stop: TERM to running containers, KILL when the grace period ends, then finish."""
    d = Driver(pod("Always", apps=("a", "b")))
    d.step(Spawned("a"), Spawned("b"))
    acts = d.step(Stop(5.0), at=1001)
    assert [a for a in acts if isinstance(a, SignalContainer)] == [
        SignalContainer("a", "TERM"), SignalContainer("b", "TERM")]
    assert d.phases()[-1] == "Stopping"
    assert d.wake_at == 1006
    d.step(Exited("a", 143, 15), at=1002)
    acts = d.step(at=1006)
    assert SignalContainer("b", "KILL", all_processes=True) in acts
    assert not d.finished()
    d.step(Exited("b", 137, 9), at=1006.1)
    assert d.finished()
    assert d.phases()[-1] == "Failed"
    assert d.starts() == ["a", "b"]


def test_stop_without_stop_file_keeps_phase_non_terminal() -> None:
    """A plain SIGTERM (machine shutdown) leaves phase Stopping so a reboot restarts it."""
    d = Driver(pod("Always"))
    d.step(Spawned("a"))
    d.step(Stop(1.0, final=False))
    d.step(Exited("a", 143, 15))
    assert d.finished() and d.phases()[-1] == "Stopping"


def test_stop_cancels_pending_restarts_and_kills_starting_ones() -> None:
    """During stop nothing (re)starts; a container that was starting gets TERM at once."""
    d = Driver(pod("Always", apps=("a", "b")))
    d.step(Spawned("a"))
    d.step(Exited("a", 1))
    d.step(Stop(3.0))
    assert SignalContainer("b", "TERM") in d.step(Spawned("b"))
    d.step(at=d.now + 100)
    assert d.starts() == ["a", "b"]
    d.step(Exited("b", 143, 15))
    assert d.finished()


def test_prestop_hook_runs_before_term() -> None:
    """A preStop hook runs first; TERM follows when it is done."""
    plan = pod("Always")
    hook = {"exec": {"command": ["true"]}}
    plan = replace(plan, containers=[container("a", lifecycle={"preStop": hook})])
    d = Driver(plan)
    d.step(Spawned("a"))
    acts = d.step(Stop(10.0))
    assert [a for a in acts if isinstance(a, RunHook)][0].hook == "preStop"
    assert not any(isinstance(a, SignalContainer) for a in acts)
    assert SignalContainer("a", "TERM") in d.step(HookDone("a", "preStop", 0, True))


def test_post_start_failure_kills_the_container() -> None:
    """A failed postStart hook kills the container (then it restarts by policy)."""
    plan = replace(pod("Always"), containers=[container(
        "a", lifecycle={"postStart": {"exec": {"command": ["false"]}}})])
    d = Driver(plan)
    acts = d.step(Spawned("a"))
    assert any(isinstance(a, RunHook) and a.hook == "postStart" for a in acts)
    assert SignalContainer("a", "TERM") in d.step(HookDone("a", "postStart", 0, False, "x"))


def test_liveness_failures_kill_and_readiness_toggles_ready() -> None:
    """Liveness: failureThreshold failures kill; readiness: ready follows the probe."""
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1, "failureThreshold": 2}
    plan = replace(pod("Always"), containers=[container(
        "a", liveness_probe=probe, readiness_probe=probe)])
    d = Driver(plan)
    acts = d.step(Spawned("a"))
    assert not d.state("a").ready
    kinds = {a.kind for a in acts if isinstance(a, RunProbe)}
    assert kinds == {"liveness", "readiness"}
    d.step(ProbeDone("a", "readiness", 0, True))
    assert d.state("a").ready
    d.step(ProbeDone("a", "liveness", 0, False, "boom"))
    d.step(ProbeDone("a", "liveness", 0, False, "boom"), at=d.now + 1)
    assert SignalContainer("a", "TERM") in d.actions
    assert "Liveness probe failed" in d.state("a").message


def test_stale_probe_results_are_ignored() -> None:
    """A result for an earlier run of the container changes nothing."""
    probe = {"exec": {"command": ["true"]}, "failureThreshold": 1}
    plan = replace(pod("Always"), containers=[container("a", liveness_probe=probe)])
    d = Driver(plan)
    d.step(Spawned("a"))
    assert not any(isinstance(a, SignalContainer)
                   for a in d.step(ProbeDone("a", "liveness", 7, False)))


def test_states_are_written_only_when_they_change() -> None:
    """Every change of a container's record is written once, and only then."""
    d = Driver(pod("Always"))
    first = [a for a in d.actions if isinstance(a, WriteContainer)]
    assert len(first) == 1
    assert not [a for a in d.step() if isinstance(a, WriteContainer)]
    writes = [a for a in d.step(Spawned("a", 42)) if isinstance(a, WriteContainer)]
    assert [w.state.state for w in writes] == ["running"] and writes[0].state.pid == 42


def test_restart_of_stage1_continues_counts() -> None:
    """After a stage1 restart (reboot) the restart count goes on and logs do not clash."""
    before = ContainerState(name="a", init=False, runc_id="uid-a", state="running",
                            restart_count=2, started_at=5.0)
    d = Driver(pod("Always"), previous={"a": before})
    assert [a.run for a in d.actions if isinstance(a, StartContainer)] == [3]
    assert d.state("a").last_terminated is not None
