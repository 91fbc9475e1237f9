"""The pod supervisor (pure): plan + events + now -> actions.

Init containers run one at a time in order, each to exit 0; then all app containers start
together. Exits restart by the pod's restartPolicy (for init containers Always counts as
OnFailure; Never fails the pod) after a kubelet-style back-off. When every app container is
terminated and none will restart the pod is Succeeded (all exit 0) or Failed, and stage1
finishes. Stop: preStop hooks, TERM, KILL when the grace period ends, finish when all exited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from minikube13.runtime.poddir import (
    ContainerPlan,
    ContainerState,
    PodPlan,
    PodRunPhase,
    TerminatedState,
)
from minikube13.runtime.stage1 import backoff
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
    Step,
    Stop,
    WriteContainer,
    WritePod,
)
from minikube13.runtime.stage1.probing import LIVENESS, READINESS, ProbeTrack

HOOK_TIMEOUT_S = 30.0
# Slot phases: pending (waits for its turn or its back-off), starting (runc run sent),
# running, killing (TERM sent), done (terminated and will not run again).
PENDING, STARTING, RUNNING, KILLING, DONE = "pending", "starting", "running", "killing", "done"


@dataclass
class Slot:
    plan: ContainerPlan
    status: ContainerState
    phase: str = PENDING
    start_at: float = 0.0           # pending: not before this time
    delay_s: float = 0.0            # the back-off wait before the last start
    kill_at: float | None = None    # killing: KILL at this time
    probes: tuple[ProbeTrack, ...] = ()
    written: ContainerState | None = None
    restart_due: bool = False       # pending after an exit: the next start is a restart


class Supervisor:
    """One pod's containers; `step` is the only entry point."""

    def __init__(self, plan: PodPlan, now: float,
                 previous: dict[str, ContainerState] | None = None):
        self.plan = plan
        self.phase: PodRunPhase = "Initializing" if plan.init_containers else "Running"
        self.init_index = 0
        self.stop_deadline: float | None = None
        self.stop_final = True
        self.finished = False
        self.ending = False
        self.slots = {c.name: _new_slot(c, (previous or {}).get(c.name))
                      for c in [*plan.init_containers, *plan.containers]}
        self._pod_written: tuple[str, str] | None = None
        self._message = ""

    # -- the step -------------------------------------------------------------------------

    def step(self, now: float, events: Sequence[Event] = ()) -> Step:
        """Apply `events` (in order) at time `now`; what to do, and when to call again."""
        out: list[Action] = []
        for event in events:
            self._apply(event, now, out)
        if not self.finished:
            self._advance(now, out)
        self._flush(out)
        return Step(out, None if self.finished else self._wake_at())

    def _apply(self, event: Event, now: float, out: list[Action]) -> None:
        if isinstance(event, Stop):
            self._stop(event, now, out)
            return
        slot = self.slots.get(event.name)
        if slot is None:
            return
        if isinstance(event, Spawned):
            self._spawned(slot, event, now, out)
        elif isinstance(event, CannotRun):
            self._exited(slot, TerminatedState(128, "ContainerCannotRun", event.message,
                                               started_at=now, finished_at=now), now, out)
        elif isinstance(event, Exited):
            self._exited(slot, _terminated(slot, event, now), now, out)
        elif isinstance(event, ProbeDone):
            self._probe_done(slot, event, now, out)
        elif isinstance(event, HookDone):
            self._hook_done(slot, event, now, out)

    # -- container lifecycle --------------------------------------------------------------

    def _start(self, slot: Slot, out: list[Action]) -> None:
        # like the kubelet's, restartCount counts restarts done, not one waiting in back-off
        restarts = slot.status.restart_count + (1 if slot.restart_due else 0)
        slot.phase, slot.restart_due = STARTING, False
        slot.status = replace(slot.status, state="waiting", reason="ContainerCreating",
                              message="", terminated=None, ready=False, pid=None,
                              restart_count=restarts)
        out.append(StartContainer(slot.plan.name, slot.status.restart_count))

    def _spawned(self, slot: Slot, event: Spawned, now: float, out: list[Action]) -> None:
        if slot.phase != STARTING:
            return
        slot.phase = RUNNING
        probes = [] if slot.plan.init else [
            ProbeTrack.start(kind, spec, now)
            for kind, spec in ((LIVENESS, slot.plan.liveness_probe),
                               (READINESS, slot.plan.readiness_probe)) if spec]
        slot.probes = tuple(probes)
        ready = not slot.plan.init and slot.plan.readiness_probe is None
        slot.status = replace(slot.status, state="running", reason="", message="",
                              started_at=now, ready=ready, pid=event.pid)
        handler = _hook(slot.plan, "postStart")
        if handler is not None:
            out.append(RunHook(slot.plan.name, "postStart", slot.status.restart_count,
                               handler, HOOK_TIMEOUT_S))
        if self.stop_deadline is not None:
            self._kill(slot, now, out)

    def _exited(self, slot: Slot, term: TerminatedState, now: float, out: list[Action]) -> None:
        if slot.phase not in (STARTING, RUNNING, KILLING):
            return
        slot.probes = ()
        slot.kill_at = None
        slot.status = replace(slot.status, state="terminated", reason="", message="",
                              terminated=term, ready=False, pid=None)
        if self.stop_deadline is not None:
            slot.phase = DONE
        elif slot.plan.init and term.exit_code == 0:
            slot.phase = DONE
            self.init_index += 1
        elif not self._will_restart(slot, term.exit_code):
            slot.phase = DONE
            if slot.plan.init:
                self._end("Failed", f"init container {slot.plan.name} failed")
        else:
            self._schedule_restart(slot, term, now)

    def _will_restart(self, slot: Slot, exit_code: int) -> bool:
        policy = self.plan.restart_policy
        if slot.plan.init:
            return exit_code != 0 and policy != "Never"
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    def _schedule_restart(self, slot: Slot, term: TerminatedState, now: float) -> None:
        ran = (term.finished_at or now) - (term.started_at or now)
        delay = backoff.next_delay(slot.delay_s, ran, initial_s=self.plan.backoff_initial_s,
                                   maximum_s=self.plan.backoff_max_s)
        slot.delay_s = delay
        slot.start_at = now + delay
        slot.phase, slot.restart_due = PENDING, True
        pod = f"{self.plan.name}_{self.plan.namespace}({self.plan.uid})"
        slot.status = replace(
            slot.status, state="waiting", reason="CrashLoopBackOff",
            message=f"Back-off {delay:g}s restarting failed container={slot.plan.name} pod={pod}",
            terminated=None, last_terminated=term)

    def _kill(self, slot: Slot, now: float, out: list[Action]) -> None:
        """TERM now, KILL when the pod's grace period (or the stop deadline) ends."""
        if slot.phase not in (RUNNING, KILLING):
            return
        if slot.phase == RUNNING:
            out.append(SignalContainer(slot.plan.name, "TERM"))
        slot.phase = KILLING
        deadline = now + self.plan.termination_grace_s
        if self.stop_deadline is not None:
            deadline = self.stop_deadline
        slot.kill_at = deadline if slot.kill_at is None else min(slot.kill_at, deadline)

    # -- probes and hooks -----------------------------------------------------------------

    def _probe_done(self, slot: Slot, event: ProbeDone, now: float, out: list[Action]) -> None:
        if slot.phase != RUNNING or event.run != slot.status.restart_count:
            return
        for track in slot.probes:
            if track.kind != event.kind:
                continue
            verdict = track.record(event.ok, now, event.message)
            if verdict is None:
                continue
            if track.kind == READINESS:
                slot.status = replace(slot.status, ready=verdict)
            elif not verdict:
                slot.status = replace(slot.status, message=f"Liveness probe failed: "
                                      f"{event.message}".strip())
                self._kill(slot, now, out)

    def _hook_done(self, slot: Slot, event: HookDone, now: float, out: list[Action]) -> None:
        if event.run != slot.status.restart_count:
            return
        if event.hook == "postStart" and not event.ok and slot.phase == RUNNING:
            slot.status = replace(slot.status, message=f"FailedPostStartHook: {event.message}")
            self._kill(slot, now, out)
        elif event.hook == "preStop" and slot.phase == KILLING \
                and self.stop_deadline is not None:
            out.append(SignalContainer(slot.plan.name, "TERM"))

    # -- the pod --------------------------------------------------------------------------

    def _stop(self, event: Stop, now: float, out: list[Action]) -> None:
        if self.stop_deadline is not None or self.finished:
            return
        self.stop_deadline = now + max(event.grace_s, 0.0)
        self.stop_final = event.final
        self.phase = "Stopping"
        for slot in self.slots.values():
            if slot.phase == PENDING:
                slot.phase = DONE
            elif slot.phase == RUNNING:
                self._stop_running(slot, now, out)
            if slot.phase == KILLING:
                slot.kill_at = min(slot.kill_at or self.stop_deadline, self.stop_deadline)

    def _stop_running(self, slot: Slot, now: float, out: list[Action]) -> None:
        handler = _hook(slot.plan, "preStop")
        if handler is None or slot.plan.init:
            self._kill(slot, now, out)
            return
        slot.phase = KILLING   # TERM follows when the hook is done (or at the deadline)
        left = (self.stop_deadline or now) - now
        out.append(RunHook(slot.plan.name, "preStop", slot.status.restart_count, handler,
                           max(min(left, HOOK_TIMEOUT_S), 0.1)))

    def _advance(self, now: float, out: list[Action]) -> None:
        for slot in self.slots.values():
            if slot.phase == KILLING and slot.kill_at is not None and now >= slot.kill_at:
                out.append(SignalContainer(slot.plan.name, "KILL", all_processes=True))
                slot.kill_at = None
            for track in slot.probes if slot.phase == RUNNING else ():
                if track.due(now):
                    track.launched()
                    out.append(RunProbe(slot.plan.name, track.kind, slot.status.restart_count,
                                        track.spec, track.timeout_s))
        if self.stop_deadline is not None and not self.ending:
            if all(s.phase in (PENDING, DONE) for s in self.slots.values()):
                self._end(self._stopped_phase(), "stopped")
        if self.phase == "Initializing" and not self.ending:
            self._advance_init(now, out)
        if self.phase == "Running" and not self.ending:
            self._advance_apps(now)
            self._start_apps(now, out)
        self._finish_if_done(out)

    def _advance_init(self, now: float, out: list[Action]) -> None:
        inits = self.plan.init_containers
        if self.init_index >= len(inits):
            self.phase = "Running"
            return
        slot = self.slots[inits[self.init_index].name]
        if slot.phase == PENDING and now >= slot.start_at:
            self._start(slot, out)

    def _advance_apps(self, now: float) -> None:
        apps = [self.slots[c.name] for c in self.plan.containers]
        if all(s.phase == DONE for s in apps):
            failed = any(s.status.terminated is None or s.status.terminated.exit_code != 0
                         for s in apps)
            self._end("Failed" if failed else "Succeeded", "")

    def _start_apps(self, now: float, out: list[Action]) -> None:
        for c in self.plan.containers if not self.ending else ():
            slot = self.slots[c.name]
            if slot.phase == PENDING and now >= slot.start_at:
                self._start(slot, out)

    def _stopped_phase(self) -> PodRunPhase:
        if not self.stop_final:
            return "Stopping"
        codes = [s.status.terminated.exit_code if s.status.terminated else 1
                 for s in self.slots.values() if not s.plan.init]
        return "Succeeded" if codes and not any(codes) else "Failed"

    def _end(self, phase: PodRunPhase, message: str) -> None:
        """Terminal: nothing starts any more; stage1 finishes once nothing runs."""
        self.phase, self._message, self.ending = phase, message, True
        for slot in self.slots.values():
            if slot.phase == PENDING:
                slot.phase = DONE

    def _finish_if_done(self, out: list[Action]) -> None:
        if self.ending and all(s.phase == DONE for s in self.slots.values()):
            self._flush(out)
            out.append(Finish(0))
            self.finished = True

    def _flush(self, out: list[Action]) -> None:
        """WriteContainer for each changed record; WritePod when the phase changed."""
        for slot in self.slots.values():
            if slot.status != slot.written:
                slot.written = slot.status
                out.append(WriteContainer(slot.status))
        if self._pod_written != (self.phase, self._message) and not self.finished:
            self._pod_written = (self.phase, self._message)
            out.append(WritePod(self.phase, self._message))

    def _wake_at(self) -> float | None:
        times: list[float] = []
        for slot in self.slots.values():
            if slot.phase == PENDING and slot.start_at > 0:
                times.append(slot.start_at)
            if slot.phase == KILLING and slot.kill_at is not None:
                times.append(slot.kill_at)
            if slot.phase == RUNNING:
                times.extend(t for p in slot.probes if (t := p.wake_at()) is not None)
        return min(times) if times else None

    def states(self) -> list[ContainerState]:
        return [s.status for s in self.slots.values()]


def _new_slot(plan: ContainerPlan, previous: ContainerState | None) -> Slot:
    """A container before its first start; after a stage1 restart its count goes on."""
    status = ContainerState(name=plan.name, init=plan.init, runc_id=plan.runc_id,
                            state="waiting", reason="PodInitializing")
    if previous is not None and (previous.started_at or previous.terminated):
        last = previous.terminated or TerminatedState(
            exit_code=255, reason="Error", message="stage1 restarted",
            started_at=previous.started_at)
        status = replace(status, restart_count=previous.restart_count + 1,
                         last_terminated=last)
    return Slot(plan=plan, status=status)


def _terminated(slot: Slot, event: Exited, now: float) -> TerminatedState:
    reason = "OOMKilled" if event.oom else ("Completed" if event.exit_code == 0 else "Error")
    return TerminatedState(exit_code=event.exit_code, reason=reason, message=event.message,
                           signal=event.signal, started_at=slot.status.started_at,
                           finished_at=now)


def _hook(plan: ContainerPlan, name: str) -> dict[str, Any] | None:
    handler = (plan.lifecycle or {}).get(name)
    return handler if isinstance(handler, dict) and handler else None
