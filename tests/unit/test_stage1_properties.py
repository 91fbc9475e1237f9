"""Properties of back-off and of the supervisor under random exits (Hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from minikube13.runtime.poddir import ContainerPlan, PodPlan
from minikube13.runtime.stage1 import backoff
from minikube13.runtime.stage1.messages import (
    Exited,
    Finish,
    SignalContainer,
    Spawned,
    StartContainer,
    Stop,
)
from minikube13.runtime.stage1.supervisor import Supervisor


@given(initial=st.floats(0.01, 100), maximum=st.floats(0.01, 1000),
       runs=st.lists(st.floats(0, 3000), min_size=1, max_size=20))
def test_backoff_is_initial_doubling_capped(initial: float, maximum: float,
                                            runs: list[float]) -> None:
    """Initial, then doubling, capped; a long run starts over (against a dumb reference)."""
    delay, k = 0.0, 0
    for ran in runs:
        k = 0 if delay == 0 or ran >= backoff.reset_after(maximum) else k + 1
        delay = backoff.next_delay(delay, ran, initial_s=initial, maximum_s=maximum)
        assert delay == min(initial * 2 ** k, maximum)


def _plan(policy: str, inits: int, apps: int) -> PodPlan:
    def c(name: str, init: bool) -> ContainerPlan:
        return ContainerPlan(name=name, init=init, runc_id=name, bundle="/b", termination_log="")
    return PodPlan(uid="u", namespace="n", name="p", restart_policy=policy, hostname="p",
                   netns="/n", cgroup_parent="c", backoff_initial_s=1.0, backoff_max_s=8.0,
                   init_containers=[c(f"i{k}", True) for k in range(inits)],
                   containers=[c(f"a{k}", False) for k in range(apps)])


@settings(max_examples=200, deadline=None)
@given(policy=st.sampled_from(["Always", "OnFailure", "Never"]),
       inits=st.integers(0, 3), apps=st.integers(1, 3),
       codes=st.lists(st.integers(0, 2), min_size=1, max_size=40),
       stop_at=st.one_of(st.none(), st.integers(0, 40)))
def test_supervisor_invariants(policy: str, inits: int, apps: int, codes: list[int],
                               stop_at: int | None) -> None:
    """Init containers run alone and in order, apps only after all inits exited 0; restart
    counts count; nothing happens after Finish; a stopped pod finishes."""
    plan = _plan(policy, inits, apps)
    sup = Supervisor(plan, 0.0)
    now = 0.0
    running: set[str] = set()
    inits_done: list[str] = []
    starts: dict[str, int] = {}
    finished = False
    pending = list(codes)
    events: list = []
    for tick in range(200):
        if stop_at is not None and tick == stop_at:
            events.append(Stop(5.0))
        step = sup.step(now, events)
        events = []
        assert not finished or not step.actions, "actions after Finish"
        for action in step.actions:
            if isinstance(action, StartContainer):
                name = action.name
                assert name not in running
                if name.startswith("i"):
                    assert not running, "an init container ran beside another container"
                    assert inits_done == [f"i{k}" for k in range(int(name[1:]))]
                else:
                    assert len(inits_done) == inits, "app started before inits finished"
                assert action.run == starts.get(name, 0)
                starts[name] = starts.get(name, 0) + 1
                running.add(name)
                events.append(Spawned(name))
            elif isinstance(action, SignalContainer):
                if action.name in running:
                    running.discard(action.name)
                    events.append(Exited(action.name, 137 if action.signal == "KILL" else 143))
            elif isinstance(action, Finish):
                finished = True
        if finished:
            break
        if events:
            continue
        if running and pending:
            name = sorted(running)[0]
            code = pending.pop(0)
            running.discard(name)
            if name.startswith("i") and code == 0:
                inits_done.append(name)
            events.append(Exited(name, code))
        elif running:   # out of scripted codes: everyone exits 0
            for name in sorted(running):
                if name.startswith("i"):
                    inits_done.append(name)
                events.append(Exited(name, 0))
            running.clear()
        elif step.wake_at is not None:
            now = max(now, step.wake_at)
        elif stop_at is None or tick > stop_at:
            break
        now += 0.5
    for state in sup.states():
        runs = starts.get(state.name, 0)
        # the kubelet's count: restarts done (runs - 1), also while one waits in back-off
        assert state.restart_count == max(runs - 1, 0)
    if stop_at is not None and not finished:
        raise AssertionError("a stopped pod did not finish")
