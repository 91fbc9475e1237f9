"""stage1's process loop: performs the supervisor's actions and feeds it events.

One thread (plus short-lived probe threads): select() over a signal wake-up pipe and the
containers' stdout/stderr pipes, with the supervisor's next deadline as timeout. Each
container runs as `runc run --detach` with its stdio on pipes; its init process is then
reparented to stage1 (the pod's PID 1), which reaps it and so learns its exact exit status.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from minikube13.runtime.notify import Notifier
from minikube13.runtime.poddir import (
    STAGE1_TOKEN,
    ContainerPlan,
    ContainerState,
    PodDir,
    PodPlan,
    Stage1State,
)
from minikube13.runtime.runc import Runc, RuncError
from minikube13.runtime.stage1 import exits
from minikube13.runtime.stage1.children import (
    CONTAINER,
    HOOK,
    PROBE,
    RUNC_RUN,
    Children,
    Job,
    Reaped,
)
from minikube13.runtime.stage1.logs import Journal, LogSink, RunPipes
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

log = logging.getLogger(__name__)

POD_PROC = "/proc/1/"   # stage1 as seen through the pod procfs it mounted on /proc
WAKE_RESULTS = b"\0"    # not a signal number: a probe thread has a result
RUNC_RUN_TIMEOUT_S = 60.0  # a `runc run --detach` that hangs this long is killed


@dataclass
class Run:
    """One run of one container."""
    plan: ContainerPlan
    run: int
    pipes: RunPipes
    pid_file: Path
    runc_log: Path
    cgroups_path: str
    pod_pid: int | None = None


class Shell:
    def __init__(self, pd: PodDir, plan: PodPlan, runc: Runc, identity: tuple[int, int],
                 host_proc: int | None, started_at: float):
        self.pd, self.plan, self.runc = pd, plan, runc
        self.host_pid, self.start_ticks = identity
        self.host_proc = host_proc
        self.started_at = started_at
        self.plans = {c.name: c for c in [*plan.init_containers, *plan.containers]}
        self.children = Children()
        self.runs: dict[str, Run] = {}
        self.cgroups: dict[str, str] = {}
        self.events: list[Event] = []
        self.results: list[Event] = []
        self.lock = threading.Lock()
        self.finished = False
        self.term_pending = False
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.sel.register(self.wake_r, selectors.EVENT_READ, None)
        self.notifier = Notifier(pd.root.parent.parent, plan.uid)
        self.journal = Journal({"POD_NAME": plan.name, "POD_NAMESPACE": plan.namespace,
                                "POD_UID": plan.uid})

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _ignore)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        sup = Supervisor(self.plan, time.time(), self._previous_states())
        while not self.finished:
            events, self.events = self.events, []
            step = sup.step(time.time(), events)
            for action in step.actions:
                try:
                    self._perform(action)
                except Exception:   # one failed action must not take the pod down with it
                    log.exception("action failed uid=%s action=%s", self.plan.uid,
                                  type(action).__name__)
            if any(isinstance(a, WriteContainer | WritePod) for a in step.actions):
                self.notifier.send()
            if self.finished or self.events:
                continue
            self._wait(step.wake_at)
        return 0

    def _previous_states(self) -> dict[str, ContainerState]:
        """What an earlier stage1 on this pod dir recorded (after a reboot)."""
        out = {}
        for name in self.plans:
            try:
                state = self.pd.read_container_state(name)
            except (OSError, ValueError, TypeError):
                log.warning("unreadable container state container=%s", name)
                continue
            if state is not None:
                out[name] = state
        return out

    def _wait(self, wake_at: float | None) -> None:
        deadlines = [t for t in (wake_at, self.children.next_deadline()) if t is not None]
        timeout = max(min(deadlines) - time.time(), 0.0) if deadlines else None
        for key, _ in self.sel.select(timeout):
            if key.data is None:
                self._on_wake()
            else:
                self._on_output(key.fd, key.data)
        for reaped in self.children.reap():
            self._on_reaped(reaped)
        for pid in self.children.overdue(time.time()):
            _kill(pid, signal.SIGKILL)

    def _on_wake(self) -> None:
        try:
            data = os.read(self.wake_r, 512)
        except BlockingIOError:
            return
        if self.term_pending:   # set by the handler too: a full wake-up pipe drops bytes
            self.term_pending = False
            self.events.append(self._stop_event())
        if WAKE_RESULTS[0] in data:
            with self.lock:
                self.events.extend(self.results)
                self.results.clear()

    def _on_term(self, signum: int, frame: object) -> None:
        self.term_pending = True

    def _stop_event(self) -> Event:
        request = self.pd.read_stop()
        log.info("stop requested uid=%s final=%s", self.plan.uid, request is not None)
        if request is None:
            return Stop(self.plan.termination_grace_s, final=False)
        return Stop(request.grace_s, final=True)

    def _on_output(self, fd: int, run: Run) -> None:
        if not run.pipes.read(fd):
            self.sel.unregister(fd)
            run.pipes.drop(fd)

    # -- actions --------------------------------------------------------------------------

    def _perform(self, action: Action) -> None:
        if isinstance(action, WriteContainer):
            self.pd.write_container_state(action.state)
        elif isinstance(action, WritePod):
            self.pd.write_pod_state(Stage1State(self.host_pid, self.start_ticks,
                                                self.started_at, action.phase, action.message))
        elif isinstance(action, StartContainer):
            self._start(action.name, action.run)
        elif isinstance(action, SignalContainer):
            self.runc.kill(self.plans[action.name].runc_id, action.signal,
                           all_processes=action.all_processes)
        elif isinstance(action, RunProbe | RunHook):
            self._handler(action)
        elif isinstance(action, Finish):
            self.finished = True

    def _start(self, name: str, run: int) -> None:
        plan = self.plans[name]
        try:
            self.runc.delete(plan.runc_id)
            cgroups_path = self._prepare_bundle(plan)
        except (OSError, ValueError, RuncError) as e:
            log.warning("cannot start container=%s error=%s", name, e)
            self.events.append(CannotRun(name, str(e)))
            return
        exits.clear_termination_message(plan.termination_log)
        state_dir = self.pd.state_path(name).parent
        state_dir.mkdir(parents=True, exist_ok=True)
        pid_file, runc_log = state_dir / f"{name}.pid", state_dir / f"{name}.runc.log"
        for stale in (pid_file, runc_log):
            stale.unlink(missing_ok=True)
        pipes = RunPipes(LogSink(self.pd.log_path(name, run), name, self.journal))
        argv = self.runc.run_argv(plan.runc_id, plan.bundle, pid_file=pid_file,
                                  log_file=runc_log)
        try:
            job = Job(RUNC_RUN, name, run, deadline=time.time() + RUNC_RUN_TIMEOUT_S)
            self.children.spawn(argv, job, pipes.out_w, pipes.err_w)
        except OSError as e:
            pipes.close()
            self.events.append(CannotRun(name, f"spawning runc: {e}"))
            return
        finally:
            pipes.close_write_ends()
        r = Run(plan, run, pipes, pid_file, runc_log, cgroups_path)
        self.runs[name] = r
        for fd in pipes.readers:
            self.sel.register(fd, selectors.EVENT_READ, r)
        log.info("starting container=%s run=%d", name, run)

    def _prepare_bundle(self, plan: ContainerPlan) -> str:
        """Put stage1 into the bundle's namespace paths; the container's cgroups path."""
        path = Path(plan.bundle) / "config.json"
        text = path.read_text()
        if STAGE1_TOKEN in text:
            text = text.replace(STAGE1_TOKEN, POD_PROC)
            tmp = path.with_name(".config.json.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
        if plan.name not in self.cgroups:
            config: dict[str, Any] = json.loads(text)
            self.cgroups[plan.name] = str(config.get("linux", {}).get("cgroupsPath", ""))
        return self.cgroups[plan.name]

    # -- children -------------------------------------------------------------------------

    def _on_reaped(self, reaped: Reaped) -> None:
        job = reaped.job
        if job.kind == RUNC_RUN:
            self._runc_run_done(job, reaped.exit_code)
        elif job.kind == CONTAINER:
            self._container_exited(job, reaped)
        elif job.kind == PROBE:
            self.events.append(ProbeDone(job.name, job.detail, job.run, reaped.exit_code == 0,
                                         _exec_message(reaped)))
        elif job.kind == HOOK:
            self.events.append(HookDone(job.name, job.detail, job.run, reaped.exit_code == 0,
                                        _exec_message(reaped)))

    def _runc_run_done(self, job: Job, exit_code: int) -> None:
        run = self.runs.get(job.name)
        if run is None:
            return
        pod_pid = _read_pid(run.pid_file) if exit_code == 0 else None
        if pod_pid is None:
            message = _runc_error(run.runc_log) or f"runc run exited {exit_code}"
            log.warning("container cannot run container=%s error=%s", job.name, message)
            self._end_run(run)
            self.events.append(CannotRun(job.name, message))
            return
        run.pod_pid = pod_pid
        host_pid = None
        if self.host_proc is not None:
            from minikube13.runtime.stage1.nsenv import host_pid_of
            host_pid = host_pid_of(self.host_proc, self.host_pid, pod_pid)
        self.events.append(Spawned(job.name, host_pid))
        early = self.children.claim(pod_pid, Job(CONTAINER, job.name, job.run))
        if early is not None:
            self._container_exited(early.job, early)

    def _container_exited(self, job: Job, reaped: Reaped) -> None:
        run = self.runs.get(job.name)
        if run is None or run.run != job.run:
            return
        oom = exits.oom_kills(run.cgroups_path) > 0 or (
            reaped.signal == signal.SIGKILL and exits.under_oom(run.cgroups_path))
        message = exits.termination_message(run.plan.termination_log)
        self._end_run(run)
        log.info("container exited container=%s code=%d oom=%s", job.name, reaped.exit_code, oom)
        self.events.append(Exited(job.name, reaped.exit_code, reaped.signal, oom, message))

    def _end_run(self, run: Run) -> None:
        """Kill what is left of the run (runc delete --force), then flush its logs."""
        try:
            self.runc.delete(run.plan.runc_id)
        except RuncError as e:
            log.warning("runc delete failed container=%s error=%s", run.plan.name, e)
        for fd in list(run.pipes.readers):
            self.sel.unregister(fd)
        run.pipes.close()
        self.runs.pop(run.plan.name, None)

    # -- probes and hooks -----------------------------------------------------------------

    def _handler(self, action: RunProbe | RunHook) -> None:
        from minikube13.runtime.stage1 import probes
        handler = action.probe if isinstance(action, RunProbe) else action.handler
        detail = action.kind if isinstance(action, RunProbe) else action.hook
        kind = probes.handler_kind(handler)
        if kind == "exec":
            argv = self.runc.exec_argv(self.plans[action.name].runc_id,
                                       probes.exec_command(handler))
            job = Job(PROBE if isinstance(action, RunProbe) else HOOK, action.name, action.run,
                      detail, deadline=time.time() + action.timeout_s)
            try:
                self.children.spawn(argv, job)
            except OSError as e:
                self._result(action, (False, str(e)))
            return
        if kind:
            probes.in_thread(handler, action.timeout_s, lambda r: self._result(action, r))
        else:
            self._result(action, (False, "no handler: exec, httpGet or tcpSocket"))

    def _result(self, action: RunProbe | RunHook, result: tuple[bool, str]) -> None:
        ok, message = result
        event: Event
        if isinstance(action, RunProbe):
            event = ProbeDone(action.name, action.kind, action.run, ok, message)
        else:
            event = HookDone(action.name, action.hook, action.run, ok, message)
        with self.lock:
            self.results.append(event)
        try:
            os.write(self.wake_w, WAKE_RESULTS)
        except BlockingIOError:
            pass


def _ignore(signum: int, frame: object) -> None:
    """Signals only wake the loop (through the wake-up fd)."""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _runc_error(path: Path) -> str:
    """The last error runc logged (its --log file: logrus key=value lines)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "level=error" in line or "level=fatal" in line:
            if 'msg="' in line:
                return line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
            return line
    return ""


def _exec_message(reaped: Reaped) -> str:
    if reaped.job.timed_out:
        return "timed out"
    return "" if reaped.exit_code == 0 else f"command exited {reaped.exit_code}"
