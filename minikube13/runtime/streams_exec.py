"""A command run inside a running container with `runc exec`, its stdio as async streams.

Without a TTY the command's stdin/stdout/stderr are pipes. With a TTY, runc must own the
terminal: `runc exec --tty --console-socket` is refused unless runc also detaches, and a
detached exec's exit status is lost to us (the process is re-parented away unless the caller
is a child subreaper, which would change the whole daemon). So runc runs attached with a pty
of ours as its stdio (in raw mode, so our side adds no echo or line editing): runc makes the
container's terminal, copies between the two and exits with the command's status. A resize
sets our pty's size (TIOCSWINSZ) and sends runc SIGWINCH, on which runc copies the size to
the container's terminal.

runc runs through runc.py's `Runc`: for a pod whose stage1 is alive that means under
`nsenter` into stage1's pid and mount namespaces (where runc sees its containers), so runc is
a grandchild of ours and the pid in its pid file is a pod-namespace pid. Hence signals go to
the whole process group we started (runc forwards them to the command) and a kill after a
client went away translates the pid first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import signal
import struct
import termios
import tty
from collections.abc import Sequence
from pathlib import Path

from minikube13.runtime.runc import Runc

log = logging.getLogger(__name__)

STDOUT = 1
STDERR = 2
_READ_SIZE = 64 * 1024
_KILL_WAIT_S = 5.0
_DRAIN_AFTER_EXIT_S = 2.0  # a background child may hold the pipes open after the command

Output = tuple[int, bytes]  # (1 stdout | 2 stderr, data)


def runc_exec_argv(runc: Runc, runc_id: str, command: Sequence[str], *, tty: bool,
                   pid_file: Path) -> list[str]:
    """`[nsenter ...] runc --root R exec --pid-file P [--tty] <id> cmd...` (runc waits)."""
    return runc.argv("exec", "--pid-file", str(pid_file), *(["--tty"] if tty else []),
                     runc_id, *command)


def exit_code(returncode: int) -> int:
    """A shell-style exit code: 128+N when runc itself died of signal N."""
    return 128 - returncode if returncode < 0 else returncode


class ExecSession:
    """One `runc exec`: feed stdin, read output until it ends, then `wait()` for the code."""

    def __init__(self, proc: asyncio.subprocess.Process, work_dir: str, tty: bool,
                 enter_pid: int | None):
        self.proc = proc
        self.tty = tty
        self._work_dir = work_dir
        self._enter_pid = enter_pid
        self._output: asyncio.Queue[Output | None] = asyncio.Queue(maxsize=64)

    async def read(self) -> Output | None:
        """The next piece of output; None once all output has ended."""
        return await self._output.get()

    async def write_stdin(self, data: bytes) -> None:
        raise NotImplementedError

    def close_stdin(self) -> None:
        """The client has no more input (kubectl's CLOSE on stdin)."""

    def resize(self, width: int, height: int) -> None:
        """The client's terminal changed size (TTY sessions only)."""

    async def wait(self) -> int:
        """The command's exit code (after its output ended)."""
        code = exit_code(await self.proc.wait())
        self._cleanup()
        return code

    def signal_group(self, sig: int) -> None:
        """Signal runc (and nsenter): runc passes the signal on to the command."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def terminate(self) -> None:
        """The client went away: hang up on the command, then kill it and runc."""
        if self.proc.returncode is None:
            pid = _read_pid(Path(self._work_dir) / "pid")
            host_pid = None if pid is None else host_pid_of(pid, self._enter_pid)
            self.signal_group(signal.SIGHUP)
            try:
                await asyncio.wait_for(self.proc.wait(), _KILL_WAIT_S)
            except TimeoutError:
                if host_pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(host_pid, signal.SIGKILL)
                self.signal_group(signal.SIGKILL)
                await self.proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self._work_dir, ignore_errors=True)


class PipeExec(ExecSession):
    """stdin/stdout/stderr as pipes."""

    def __init__(self, proc: asyncio.subprocess.Process, work_dir: str,
                 enter_pid: int | None):
        super().__init__(proc, work_dir, False, enter_pid)
        readers = [(STDOUT, proc.stdout), (STDERR, proc.stderr)]
        self._pumps = [asyncio.ensure_future(self._pump(ch, r)) for ch, r in readers
                       if r is not None]
        self._ender = asyncio.ensure_future(self._end_when_drained())

    async def _pump(self, channel: int, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(_READ_SIZE):
            await self._output.put((channel, data))

    async def _end_when_drained(self) -> None:
        await self.proc.wait()
        if self._pumps:
            _, pending = await asyncio.wait(self._pumps, timeout=_DRAIN_AFTER_EXIT_S)
            for task in pending:
                task.cancel()
        await self._output.put(None)

    async def write_stdin(self, data: bytes) -> None:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError):
            stdin.write(data)
            await stdin.drain()

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def terminate(self) -> None:
        await super().terminate()
        for task in [*self._pumps, self._ender]:
            task.cancel()


class PtyExec(ExecSession):
    """runc attached to a pty of ours; everything the command writes comes as stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, work_dir: str,
                 enter_pid: int | None, master: int):
        super().__init__(proc, work_dir, True, enter_pid)
        self._master = master
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master, self._readable)
        self._open = True

    def _readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: runc closed the last slave fd, the session is over
            data = b""
        if not data:
            self._close_master()
            self._output.put_nowait(None)
            return
        self._output.put_nowait((STDOUT, data))
        if self._output.full():  # back-pressure: resume once the reader caught up
            self._loop.remove_reader(self._master)
            asyncio.ensure_future(self._resume_reading())

    async def _resume_reading(self) -> None:
        while self._output.qsize() > self._output.maxsize // 2:
            await asyncio.sleep(0.01)
        if self._open:
            self._loop.add_reader(self._master, self._readable)

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._open:
            try:
                view = view[os.write(self._master, view):]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError:
                return

    def resize(self, width: int, height: int) -> None:
        if not self._open:
            return
        set_window_size(self._master, width, height)
        if self.proc.returncode is None:
            self.signal_group(signal.SIGWINCH)

    def _close_master(self) -> None:
        if self._open:
            self._open = False
            self._loop.remove_reader(self._master)
            os.close(self._master)

    async def terminate(self) -> None:
        await super().terminate()
        self._close_master()

    async def wait(self) -> int:
        code = await super().wait()
        self._close_master()
        return code


def set_window_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


async def start_exec(runc: Runc, runc_id: str, command: Sequence[str], *, work_dir: Path,
                     tty: bool, stdin: bool, stderr: bool = True) -> ExecSession:
    """Start `runc exec` (pid file under `work_dir`, a fresh directory the session removes
    when it ends); the session ends when the command does."""
    argv = runc_exec_argv(runc, runc_id, command, tty=tty, pid_file=work_dir / "pid")
    log.debug("exec start container=%s tty=%s", runc_id, tty)
    try:
        if tty:
            return await _start_pty(argv, str(work_dir), runc.enter_pid)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stderr else asyncio.subprocess.DEVNULL,
            start_new_session=True)
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    return PipeExec(proc, str(work_dir), runc.enter_pid)


async def _start_pty(argv: list[str], work_dir: str, enter_pid: int | None) -> PtyExec:
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        set_window_size(master, 80, 24)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    return PtyExec(proc, work_dir, enter_pid, master)


def host_pid_of(pid: int, enter_pid: int | None) -> int | None:
    """The host pid of `pid` as runc saw it: itself, or, when runc ran in the pid namespace
    of `enter_pid`, the process of that namespace whose innermost pid it is."""
    if enter_pid is None:
        return pid
    try:
        target = os.readlink(f"/proc/{enter_pid}/ns/pid")
    except OSError:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry.name}/ns/pid") != target:
                continue
            with open(f"/proc/{entry.name}/status") as f:
                nspid = next((ln.split()[1:] for ln in f if ln.startswith("NSpid:")), [])
        except OSError:
            continue
        if nspid and int(nspid[-1]) == pid:
            return int(entry.name)
    return None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
