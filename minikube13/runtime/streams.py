"""Logs, exec and attach for the containers of the pods on this node (`PodStreams`).

Reads only the pod directory (`poddir`): the container state files say which run is current
and which runc container runs it; `logs/<name>/<run>.log` hold each run's output in the CRI
format. Logs are read from those files (follow polls for growth until the run ends); exec
is `runc exec` (see streams_exec); attach follows the current run's log from its end and
writes stdin into the container's stdin FIFO when stage1 made one
(`containers/<name>/stdin`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path

from minikube13.runtime.crilog import LogRecord
from minikube13.runtime.poddir import ContainerState, PodDir
from minikube13.runtime.procfs import stage1_alive
from minikube13.runtime.runc import RUNC, Runc
from minikube13.runtime.streams_exec import ExecSession, Output, start_exec
from minikube13.runtime.streams_logs import (
    ContainerNotRunning,
    LineSplitter,
    LogOptions,
    LogRenderer,
    LogsUnavailable,
    StreamsError,
    TailFinder,
    decode_lines,
    select_run,
)

log = logging.getLogger(__name__)

__all__ = ["PodStreams", "LogOptions", "StreamsError", "LogsUnavailable",
           "ContainerNotRunning", "ExecSession", "AttachSession"]

_CHUNK = 64 * 1024
STDIN_FIFO = "stdin"  # containers/<name>/stdin: a FIFO stage1 feeds to the container


class PodStreams:
    """The streams of the pods under `<data_dir>/pods`."""

    def __init__(self, data_dir: Path, *, runc: str = RUNC, poll_s: float = 0.2):
        self.data_dir = data_dir
        self.runc = runc
        self.poll_s = poll_s

    def has_pod(self, uid: str) -> bool:
        return PodDir.of(self.data_dir, uid).root.is_dir()

    # -- logs -----------------------------------------------------------------------------

    def log_path(self, uid: str, pod: str, container: str, *, previous: bool = False,
                 waiting_reason: str = "ContainerCreating") -> tuple[Path, int]:
        """The log file a request means and its run number; LogsUnavailable if none."""
        pod_dir = PodDir.of(self.data_dir, uid)
        state = pod_dir.read_container_state(container)
        run = select_run(state, _runs(pod_dir, container), previous=previous, pod=pod,
                         container=container, waiting_reason=waiting_reason)
        return pod_dir.log_path(container, run), run

    async def logs(self, uid: str, pod: str, container: str, options: LogOptions,
                   *, waiting_reason: str = "ContainerCreating") -> AsyncGenerator[bytes, None]:
        """What `kubectl logs` prints, in chunks. Raises LogsUnavailable before the first
        chunk. When following, an empty chunk comes every poll interval while nothing
        happens, so the caller can notice a client that went away."""
        path, run = self.log_path(uid, pod, container, previous=options.previous,
                                  waiting_reason=waiting_reason)
        follow = options.follow and not options.previous
        start = _tail_offset(path, options.tail_lines) if options.tail_lines is not None else 0
        renderer = LogRenderer(options)
        async for records in self.records(path, start, uid, container, run, follow):
            if not records:
                yield b""
                continue
            out = renderer.render(records)
            if out:
                yield out
            if renderer.exhausted:
                return

    async def records(self, path: Path, start: int, uid: str, container: str, run: int,
                       follow: bool) -> AsyncIterator[list[LogRecord]]:
        """Records from `start`; when following, [] on each idle poll until the run ends."""
        splitter = LineSplitter()
        offset = start
        while True:
            chunk = _read_at(path, offset)
            if chunk:
                offset += len(chunk)
                records = decode_lines(splitter.feed(chunk))
                if records:
                    yield records
                continue
            if not follow:
                return
            if not self.run_is_live(uid, container, run):
                follow = False  # read once more: the last lines may have come meanwhile
                continue
            yield []
            await asyncio.sleep(self.poll_s)

    def run_is_live(self, uid: str, container: str, run: int) -> bool:
        """Whether run `run` of the container may still write to its log."""
        pod_dir = PodDir.of(self.data_dir, uid)
        state = pod_dir.read_container_state(container)
        if state is None or state.state != "running" or state.restart_count != run:
            return False
        stage1 = pod_dir.read_pod_state()
        return stage1 is None or stage1_alive(stage1)

    # -- exec and attach ------------------------------------------------------------------

    def running_state(self, uid: str, container: str) -> ContainerState:
        """The container's state if it runs; ContainerNotRunning (the kubelet's
        `container not found ("name")`) otherwise."""
        state = PodDir.of(self.data_dir, uid).read_container_state(container)
        if state is None or state.state != "running" or not state.runc_id:
            raise ContainerNotRunning(f'container not found ("{container}")')
        return state

    async def exec(self, uid: str, container: str, command: Sequence[str], *,
                   stdin: bool, tty: bool, stderr: bool = True) -> ExecSession:
        """Start `command` in the running container (through stage1's namespaces when it
        runs: see runc.Runc.for_pod)."""
        state = self.running_state(uid, container)
        pod_dir = PodDir.of(self.data_dir, uid)
        runc = Runc.for_pod(pod_dir)
        if self.runc != RUNC:
            runc = Runc(runc.root, binary=self.runc, enter_pid=runc.enter_pid)
        log.info("exec uid=%s container=%s tty=%s enter_pid=%s", uid, container, tty,
                 runc.enter_pid)
        work_dir = Path(tempfile.mkdtemp(prefix=".exec-", dir=pod_dir.root))
        return await start_exec(runc, state.runc_id, command, work_dir=work_dir, tty=tty,
                                stdin=stdin, stderr=stderr)

    def attach(self, uid: str, container: str, *, stdin: bool) -> AttachSession:
        """Follow the running container's output from now; stdin into its FIFO, if any."""
        state = self.running_state(uid, container)
        pod_dir = PodDir.of(self.data_dir, uid)
        path = pod_dir.log_path(container, state.restart_count)
        fifo = pod_dir.container_dir(container) / STDIN_FIFO if stdin else None
        return AttachSession(self, uid, container, state.restart_count, path, fifo)


class AttachSession:
    """The output of one run of a container from now on, by stream, until the run ends."""

    tty = False

    def __init__(self, streams: PodStreams, uid: str, container: str, run: int, path: Path,
                 fifo: Path | None):
        self._output: asyncio.Queue[Output | None] = asyncio.Queue(maxsize=64)
        self._fifo_fd: int | None = None
        self._fifo = fifo
        start = _size(path)
        self._task = asyncio.ensure_future(self._follow(streams, uid, container, run, path,
                                                        start))

    async def _follow(self, streams: PodStreams, uid: str, container: str, run: int,
                      path: Path, start: int) -> None:
        try:
            async for records in streams.records(path, start, uid, container, run, True):
                for record in records:
                    data = record.content if record.partial else record.content + b"\n"
                    await self._output.put((2 if record.stream == "stderr" else 1, data))
        finally:
            await self._output.put(None)

    async def read(self) -> Output | None:
        return await self._output.get()

    async def write_stdin(self, data: bytes) -> None:
        fd = self._stdin_fd()
        if fd is None:
            return
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError:
                return

    def _stdin_fd(self) -> int | None:
        if self._fifo_fd is None and self._fifo is not None:
            try:
                self._fifo_fd = os.open(self._fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:  # no FIFO, or nobody reads it (ENXIO): drop the input
                log.debug("attach stdin unavailable errno=%s", errno.errorcode.get(e.errno or 0))
                self._fifo = None
        return self._fifo_fd

    def close_stdin(self) -> None:
        if self._fifo_fd is not None:
            os.close(self._fifo_fd)
        self._fifo_fd, self._fifo = None, None

    def resize(self, width: int, height: int) -> None:
        """Containers run without a terminal: nothing to resize."""

    async def wait(self) -> int:
        self.close_stdin()
        return 0

    async def terminate(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        self.close_stdin()


def _runs(pod_dir: PodDir, container: str) -> list[int]:
    try:
        names = os.listdir(pod_dir.root / "logs" / container)
    except OSError:
        return []
    return sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())


def _read_at(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(_CHUNK)
    except FileNotFoundError:
        return b""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _tail_offset(path: Path, lines: int) -> int:
    """Where the last `lines` lines of the file start (one pass, O(lines) memory)."""
    finder = TailFinder(lines)
    splitter = LineSplitter()
    offset = 0
    while chunk := _read_at(path, offset + splitter.pending):
        for line in splitter.feed(chunk):
            for record in decode_lines([line]):
                finder.feed(offset, record, len(line))
            offset += len(line)
    return finder.offset()
