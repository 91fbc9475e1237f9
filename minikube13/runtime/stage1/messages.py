"""What the stage1 shell tells the supervisor (events) and what it is told to do (actions).

Pure data: the supervisor turns (events, now) into actions; the shell performs them.
NamedTuples rather than dataclasses: stage1 imports these on every pod start and a
NamedTuple class costs a tenth of a frozen dataclass to create.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from minikube13.runtime.poddir import ContainerState, PodRunPhase

# -- events ------------------------------------------------------------------------------


class Spawned(NamedTuple):
    """`runc run` started the container; pid is its init process on the host."""
    name: str
    pid: int | None = None


class CannotRun(NamedTuple):
    """`runc run` failed: the container never ran."""
    name: str
    message: str


class Exited(NamedTuple):
    """The container's init process ended (the shell already read OOM and message)."""
    name: str
    exit_code: int
    signal: int | None = None
    oom: bool = False
    message: str = ""


class ProbeDone(NamedTuple):
    name: str
    kind: str          # liveness | readiness
    run: int           # the restart count of the run that was probed
    ok: bool
    message: str = ""


class HookDone(NamedTuple):
    name: str
    hook: str          # postStart | preStop
    run: int
    ok: bool
    message: str = ""


class Stop(NamedTuple):
    """Stop the pod. final: the agent asked (stop file) and the pod ends; otherwise (a plain
    SIGTERM, e.g. the machine shutting down) the phase stays non-terminal so the pod runs
    again after a reboot."""
    grace_s: float
    final: bool = True


Event = Spawned | CannotRun | Exited | ProbeDone | HookDone | Stop

# -- actions -----------------------------------------------------------------------------


class StartContainer(NamedTuple):
    name: str
    run: int           # restart count: the log file is logs/<name>/<run>.log


class SignalContainer(NamedTuple):
    name: str
    signal: str        # TERM | KILL
    all_processes: bool = False


class RunProbe(NamedTuple):
    name: str
    kind: str
    run: int
    probe: dict[str, Any]
    timeout_s: float


class RunHook(NamedTuple):
    name: str
    hook: str
    run: int
    handler: dict[str, Any]
    timeout_s: float


class WriteContainer(NamedTuple):
    state: ContainerState


class WritePod(NamedTuple):
    phase: PodRunPhase
    message: str = ""


class Finish(NamedTuple):
    """Everything is terminated and nothing will restart: stage1 exits."""
    exit_code: int = 0


Action = StartContainer | SignalContainer | RunProbe | RunHook | WriteContainer | WritePod | Finish


class Step(NamedTuple):
    actions: list[Action]
    wake_at: float | None   # call step again by then (None: only on the next event)
