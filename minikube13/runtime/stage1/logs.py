"""A container run's stdout/stderr pipes -> its CRI log file (and journald where present)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from minikube13.runtime import crilog

JOURNAL_SOCKET = "/run/systemd/journal/socket"
READ_CHUNK = 65536
READS_PER_WAKE = 16   # then let the loop serve the other containers


class Journal:
    """journald with the kubelet's fields, when both the socket and systemd-python exist.

    systemd-python is looked up at the first line, not at start-up: stage1 runs without
    site (`python -S`, stage0.stage1_python), so finding it may first take `site.main()`.
    """

    def __init__(self, fields: dict[str, str], send: Any = None):
        self.fields = fields
        self._send: Any = send  # a test's fake journal; else systemd-python's, if usable
        self._looked_up = send is not None

    def send(self, container: str, stream: str, line: bytes) -> None:
        if not self._looked_up:
            self._looked_up = True
            self._send = _journal_send()
        if self._send is None:
            return
        try:
            self._send(line.decode(errors="replace"), CONTAINER_NAME=container,
                       PRIORITY="3" if stream == "stderr" else "6", **self.fields)
        except OSError:
            self._send = None


def _journal_send() -> Any:
    """systemd.journal.send, or None without journald or systemd-python."""
    if not os.path.exists(JOURNAL_SOCKET):
        return None
    for attempt in range(2):
        try:
            from systemd import journal  # type: ignore[attr-defined,unused-ignore]
            return journal.send
        except ImportError:
            if attempt or not sys.flags.no_site:
                return None
            import site
            site.main()  # the site-packages a plain `python` would have seen
    return None


class LogSink:
    """One run's log file; lines split by stream, long lines cut into P records."""

    def __init__(self, path: Path, container: str, journal: Journal | None = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.container = container
        self.journal = journal
        self.pending: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.pending[stream] + data
        *lines, rest = buf.split(b"\n")
        out = []
        now = time.time_ns()
        for line in lines:
            out.append(crilog.encode(now, stream, line))
            if self.journal is not None:
                self.journal.send(self.container, stream, line)
        while len(rest) >= crilog.MAX_RECORD:
            out.append(crilog.encode(now, stream, rest[:crilog.MAX_RECORD], complete=False))
            rest = rest[crilog.MAX_RECORD:]
        self.pending[stream] = rest
        if out:
            self._write(b"".join(out))

    def close(self) -> None:
        """Flush unterminated output as complete lines and close the file."""
        now = time.time_ns()
        for stream, rest in self.pending.items():
            if rest:
                self._write(crilog.encode(now, stream, rest))
        self.pending = {"stdout": b"", "stderr": b""}
        os.close(self.fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]


class RunPipes:
    """The read ends of one run's stdout and stderr pipes, feeding a LogSink."""

    def __init__(self, sink: LogSink):
        self.sink = sink
        out_r, self.out_w = os.pipe2(os.O_CLOEXEC)
        err_r, self.err_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(out_r, False)
        os.set_blocking(err_r, False)
        self.readers = {out_r: "stdout", err_r: "stderr"}

    def close_write_ends(self) -> None:
        """After the spawn: the container holds the write ends now."""
        for fd in (self.out_w, self.err_w):
            if fd >= 0:
                os.close(fd)
        self.out_w = self.err_w = -1

    def read(self, fd: int) -> bool:
        """Drain what is there; False at end of file (then unregister it and `drop` it)."""
        stream = self.readers[fd]
        for _ in range(READS_PER_WAKE):
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return True
            if not data:
                return False
            self.sink.feed(stream, data)
        return True

    def drop(self, fd: int) -> None:
        if self.readers.pop(fd, None) is not None:
            os.close(fd)

    def close(self) -> None:
        """Read what is left and close everything (leftover writers were killed)."""
        for fd in list(self.readers):
            self.read(fd)
            self.drop(fd)
        self.close_write_ends()
        self.sink.close()
