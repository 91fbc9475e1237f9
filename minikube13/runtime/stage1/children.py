"""stage1's children: spawn with posix_spawn, reap everything (stage1 is the pid ns init).

Every child stage1 cares about is registered as a Job under its pid; anything else that
dies in the pod (orphans reparented to PID 1) is reaped and forgotten. A wait status that
arrives before its pid is registered (a container that exits before `runc run --detach`
has told us its pid) is kept until claimed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

RUNC_RUN = "runc-run"     # `runc run --detach`: exits once the container runs
CONTAINER = "container"   # the container's init process (reparented to stage1)
PROBE = "probe"           # `runc exec` for an exec probe
HOOK = "hook"             # `runc exec` for an exec lifecycle hook


@dataclass
class Job:
    kind: str
    name: str                 # container name
    run: int                  # its restart count
    detail: str = ""          # probe kind or hook name
    deadline: float | None = None
    timed_out: bool = False


class Reaped(NamedTuple):
    pid: int
    job: Job
    exit_code: int            # 128 + signal when killed by a signal (the kubelet's way)
    signal: int | None


class Children:
    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.unclaimed: dict[int, int] = {}
        self.devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)

    def spawn(self, argv: Sequence[str], job: Job, stdout: int | None = None,
              stderr: int | None = None) -> int:
        actions = [(os.POSIX_SPAWN_DUP2, self.devnull, 0),
                   (os.POSIX_SPAWN_DUP2, self.devnull if stdout is None else stdout, 1),
                   (os.POSIX_SPAWN_DUP2, self.devnull if stderr is None else stderr, 2)]
        pid = os.posix_spawnp(argv[0], list(argv), os.environ, file_actions=actions)
        self.jobs[pid] = job
        return pid

    def claim(self, pid: int, job: Job) -> Reaped | None:
        """Register a pid we did not spawn (a container); its status if it already died."""
        status = self.unclaimed.pop(pid, None)
        if status is None:
            self.jobs[pid] = job
            return None
        return _reaped(pid, job, status)

    def reap(self) -> list[Reaped]:
        """Collect every dead child without blocking."""
        out = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job = self.jobs.pop(pid, None)
            if job is None:
                self.unclaimed[pid] = status
                if len(self.unclaimed) > 4096:   # orphans nobody claims: keep it bounded
                    self.unclaimed.pop(next(iter(self.unclaimed)))
            else:
                out.append(_reaped(pid, job, status))
        return out

    def overdue(self, now: float) -> list[int]:
        """Probe/hook children past their deadline (marked timed out)."""
        late = []
        for pid, job in self.jobs.items():
            if job.deadline is not None and now >= job.deadline and not job.timed_out:
                job.timed_out = True
                late.append(pid)
        return late

    def next_deadline(self) -> float | None:
        times = [j.deadline for j in self.jobs.values()
                 if j.deadline is not None and not j.timed_out]
        return min(times) if times else None


def _reaped(pid: int, job: Job, status: int) -> Reaped:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return Reaped(pid, job, 128 + sig, sig)
    return Reaped(pid, job, os.WEXITSTATUS(status), None)
