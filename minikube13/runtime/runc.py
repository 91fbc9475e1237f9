"""A thin wrapper over the `runc` command line (`runc --root <data-dir>/runc ...`).

Used by stage1 (run/kill/delete/exec of its containers), stage0's cleanup and the API's exec.

Namespaces: stage1 runs runc inside the pod's pid namespace with a procfs of that namespace
mounted on /proc (see `minikube13.runtime.stage1`), so the pids runc records in its state
are pod-namespace pids. A runc started in the HOST pid namespace reads them against the
host's /proc: it sees such a container as "stopped" (exec and kill refuse; `delete --force`
still kills its cgroup's processes and cleans up, which is what stage0's cleanup wants).
To exec into or signal a container of a live pod from the host, build the wrapper with
`enter_pid=<stage1 host pid>` (`Runc.for_pod`): every command then runs under
`nsenter --target <pid> --pid --mount --`, i.e. in the pod's pid namespace and stage1's
mount namespace, exactly where stage1 runs runc.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from minikube13.runtime.errors import CREATE_ERROR, PodRuntimeError
from minikube13.runtime.poddir import PODS_SUBDIR, RUNC_SUBDIR, PodDir
from minikube13.runtime.procfs import stage1_alive

if TYPE_CHECKING:
    from subprocess import CompletedProcess

log = logging.getLogger(__name__)

RUNC = "runc"
NSENTER = "nsenter"
DEFAULT_TIMEOUT_S = 30.0


class RuncError(PodRuntimeError):
    """A runc command failed; `message` holds what runc printed."""

    def __init__(self, message: str, *, returncode: int = 1):
        super().__init__(CREATE_ERROR, message)
        self.returncode = returncode


@dataclass(frozen=True)
class RuncState:
    """`runc state` / `runc list` for one container (pid in runc's pid namespace)."""
    id: str
    pid: int
    status: str          # created | running | paused | stopped
    bundle: str
    created: str


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class Runc:
    """runc commands against one state root (`--root`)."""

    def __init__(self, root: Path, *, binary: str = RUNC, enter_pid: int | None = None):
        self.root = root
        self.binary = binary
        self.enter_pid = enter_pid

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, enter_pid: int | None = None) -> Runc:
        return cls(data_dir / RUNC_SUBDIR, enter_pid=enter_pid)

    @classmethod
    def for_pod(cls, pod: PodDir) -> Runc:
        """The wrapper for a pod's containers: enters its stage1's namespaces when alive."""
        if pod.root.parent.name != PODS_SUBDIR:
            raise RuncError(f"{pod.root} is not a pod directory (<data-dir>/pods/<uid>)")
        data_dir = pod.root.parent.parent
        state = pod.read_pod_state()
        pid = state.stage1_pid if state is not None and stage1_alive(state) else None
        return cls.for_data_dir(data_dir, enter_pid=pid)

    # -- argv builders (for callers that spawn runc themselves, with their own pipes) -----

    def argv(self, *args: str) -> list[str]:
        base = [self.binary, "--root", str(self.root), *args]
        if self.enter_pid is None:
            return base
        return [NSENTER, f"--target={self.enter_pid}", "--pid", "--mount", "--", *base]

    def run_argv(self, container_id: str, bundle: Path | str, *, detach: bool = True,
                 pid_file: Path | str | None = None, log_file: Path | str | None = None
                 ) -> list[str]:
        """`runc run`; with a log file runc's own errors go there, not to the container's
        stderr."""
        args = [] if log_file is None else ["--log", str(log_file)]
        args += ["run", "--bundle", str(bundle)]
        if detach:
            args.append("--detach")
        if pid_file is not None:
            args += ["--pid-file", str(pid_file)]
        return self.argv(*args, container_id)

    def exec_argv(self, container_id: str, command: Sequence[str], *, tty: bool = False,
                  console_socket: Path | str | None = None, env: Mapping[str, str] = {},
                  cwd: str | None = None) -> list[str]:
        args = ["exec"]
        if tty:
            args.append("--tty")
        if console_socket is not None:
            args += ["--console-socket", str(console_socket)]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        if cwd is not None:
            args += ["--cwd", cwd]
        return self.argv(*args, container_id, *command)

    # -- commands -------------------------------------------------------------------------

    def kill(self, container_id: str, signal: str = "TERM", *, all_processes: bool = False
             ) -> bool:
        """Signal a container; False when it is not running (or not there)."""
        args = ["kill", *(["--all"] if all_processes else []), container_id, signal]
        return self._call(args, check=False).returncode == 0

    def exists(self, container_id: str) -> bool:
        """runc keeps a state directory per container under its root."""
        return (self.root / container_id).is_dir()

    def delete(self, container_id: str, *, force: bool = True) -> None:
        """Remove a container (killing what is left in its cgroup); absent is fine."""
        if not self.exists(container_id):
            return
        proc = self._call(["delete", *(["--force"] if force else []), container_id],
                          check=False)
        if proc.returncode != 0 and b"does not exist" not in proc.stderr:
            raise RuncError(_tail(proc.stderr), returncode=proc.returncode)

    def state(self, container_id: str) -> RuncState | None:
        proc = self._call(["state", container_id], check=False)
        if proc.returncode != 0:
            if b"does not exist" in proc.stderr:
                return None
            raise RuncError(_tail(proc.stderr), returncode=proc.returncode)
        return _state(json.loads(proc.stdout))

    def containers(self) -> list[RuncState]:
        proc = self._call(["list", "--format", "json"], check=True)
        raw = json.loads(proc.stdout or b"null") or []
        return [_state(item) for item in raw]

    def exec(self, container_id: str, command: Sequence[str], *,
             timeout_s: float = DEFAULT_TIMEOUT_S, env: Mapping[str, str] = {}) -> ExecResult:
        """Run a command in a container and wait for it (no tty, no stdin)."""
        import subprocess  # not at import: stage1 starts without it (start-up time)
        argv = self.exec_argv(container_id, command, env=env)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as e:
            raise RuncError(f"exec timed out after {timeout_s:g}s") from e
        return ExecResult(proc.returncode, proc.stdout, proc.stderr)

    def _call(self, args: list[str], *, check: bool) -> CompletedProcess[bytes]:
        import subprocess
        argv = self.argv(*args)
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=DEFAULT_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuncError(f"{args[0]}: {e}") from e
        if check and proc.returncode != 0:
            raise RuncError(_tail(proc.stderr), returncode=proc.returncode)
        if proc.returncode != 0:
            log.debug("runc failed cmd=%s rc=%d", args[0], proc.returncode)
        return proc


def _state(raw: dict[str, object]) -> RuncState:
    return RuncState(id=str(raw["id"]), pid=int(raw.get("pid") or 0),  # type: ignore[call-overload]
                     status=str(raw.get("status", "")), bundle=str(raw.get("bundle", "")),
                     created=str(raw.get("created", "")))


def _tail(stderr: bytes) -> str:
    """runc's last message, without logrus decoration where it is JSON or key=value."""
    lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    if not lines:
        return "runc failed"
    last = lines[-1]
    marker = 'msg="'
    if marker in last:
        return last.split(marker, 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    return last
