"""What `kubectl logs` shows of a CRI log file (pure): tail, since, limitBytes, timestamps.

Works on records in file order, as the kubelet's log reader does: `sinceTime` drops older
records, `tailLines` starts at the N-th last line (a line is a run of P records ended by an
F record), `limitBytes` stops after that many bytes of output, `timestamps` puts the
record's time (Go's RFC3339Nano: trailing zeros of the fraction trimmed) before each line.
Lines that are not CRI records are skipped, like the kubelet does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from minikube13.runtime import crilog
from minikube13.runtime.crilog import LogRecord

if TYPE_CHECKING:  # only a type here: the pod dir module does file I/O
    from minikube13.runtime.poddir import ContainerState


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since_ns: int | None = None       # absolute: the caller turns sinceSeconds into a time
    tail_lines: int | None = None
    limit_bytes: int | None = None


def go_rfc3339_nano(time_ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: `2024-05-01T10:00:00.12Z`, no fraction when whole."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def split_lines(data: bytes) -> list[bytes]:
    """Lines ending in b"\\n" (the last one may lack it); a CR inside a record stays."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


class LineSplitter:
    """Cuts a byte stream into complete newline-terminated lines; keeps the rest."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._rest + data
        cut = buf.rfind(b"\n") + 1
        self._rest = buf[cut:]
        return split_lines(buf[:cut])

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back."""
        return len(self._rest)


def decode_lines(lines: list[bytes]) -> list[LogRecord]:
    records = []
    for line in lines:
        try:
            records.append(crilog.decode(line))
        except crilog.LogFormatError:
            continue
    return records


class TailFinder:
    """The file offset where the last `n` lines start, fed (offset, record) in order."""

    def __init__(self, n: int):
        self._starts: deque[int] = deque(maxlen=max(n, 0) or None)
        self._n = n
        self._line_open = False
        self._end = 0

    def feed(self, offset: int, record: LogRecord, size: int) -> None:
        if not self._line_open and self._n > 0:
            self._starts.append(offset)
        self._line_open = record.partial
        self._end = offset + size

    def offset(self) -> int:
        if self._n <= 0:
            return self._end
        return self._starts[0] if self._starts else self._end


class LogRenderer:
    """Turns records into the bytes `kubectl logs` prints, honouring since/limit/timestamps."""

    def __init__(self, options: LogOptions):
        self.options = options
        self._remaining = options.limit_bytes
        self._line_start = True

    @property
    def exhausted(self) -> bool:
        """True once limitBytes has been written: nothing more will be rendered."""
        return self._remaining is not None and self._remaining <= 0

    def render(self, records: list[LogRecord]) -> bytes:
        out = bytearray()
        for record in records:
            if self.exhausted:
                break
            out += self._one(record)
        return bytes(out)

    def _one(self, record: LogRecord) -> bytes:
        since = self.options.since_ns
        if since is not None and record.time_ns < since:
            self._line_start = not record.partial
            return b""
        piece = record.content if record.partial else record.content + b"\n"
        if self.options.timestamps and self._line_start:
            piece = go_rfc3339_nano(record.time_ns).encode() + b" " + piece
        self._line_start = not record.partial
        if self._remaining is not None:
            piece = piece[:self._remaining]
            self._remaining -= len(piece)
        return piece


def render_all(data: bytes, options: LogOptions) -> bytes:
    """The whole output for one complete file's bytes (no follow): a reference for tests and
    for small reads."""
    lines = split_lines(data)
    if options.tail_lines is not None:
        finder = TailFinder(options.tail_lines)
        offset = 0
        for line in lines:
            try:
                finder.feed(offset, crilog.decode(line), len(line))
            except crilog.LogFormatError:
                pass
            offset += len(line)
        lines = split_lines(data[finder.offset():])
    return LogRenderer(options).render(decode_lines(lines))


# -- which run of a container a log request means ------------------------------------------

class StreamsError(Exception):
    """The root of the streams errors; `message` is what the user sees."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LogsUnavailable(StreamsError):
    """No log to show (yet): the kubelet answers 400 with this message."""


class ContainerNotRunning(StreamsError):
    """exec/attach into a container that is not running."""


_WAITING_TEXT = {"ErrImagePull": "image can't be pulled",
                 "ImagePullBackOff": "trying and failing to pull image"}


def waiting_message(pod: str, container: str, reason: str) -> str:
    """The kubelet's answer for logs of a container that has not started."""
    text = _WAITING_TEXT.get(reason, reason or "ContainerCreating")
    return f'container "{container}" in pod "{pod}" is waiting to start: {text}'


def select_run(state: ContainerState | None, runs: Sequence[int], *, previous: bool,
               pod: str, container: str, waiting_reason: str = "ContainerCreating") -> int:
    """The run (log file number) to show: the current one, or the one before it; raises
    LogsUnavailable with the kubelet's words when there is none."""
    if previous:
        return _previous_run(state, runs, pod, container)
    if state is None:
        raise LogsUnavailable(waiting_message(pod, container, waiting_reason))
    if state.state in ("running", "terminated"):
        return state.restart_count
    if state.last_terminated is not None and runs:
        return max(runs)  # back-off: the kubelet shows the run that just ended
    raise LogsUnavailable(waiting_message(pod, container, state.reason or waiting_reason))


def _previous_run(state: ContainerState | None, runs: Sequence[int], pod: str,
                  container: str) -> int:
    missing = LogsUnavailable(f'previous terminated container "{container}" in pod "{pod}" '
                              f"not found")
    if state is None or state.last_terminated is None:
        raise missing
    if state.state == "waiting":
        if not runs:
            raise missing
        return max(runs)
    earlier = [r for r in runs if r < state.restart_count]
    if not earlier:
        raise missing
    return max(earlier)
