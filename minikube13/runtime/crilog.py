"""The CRI container log format, as the kubelet writes it (pure codec).

One line per chunk: `<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n`. `F` ends a line
the container wrote; `P` is a piece of a longer line that continues in the next record.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RECORD = 16 * 1024  # longer lines are split into P records, like the kubelet


@dataclass(frozen=True)
class LogRecord:
    time_ns: int     # nanoseconds since the epoch
    stream: str      # stdout | stderr
    partial: bool    # True for a P record
    content: bytes   # without the trailing newline


class LogFormatError(ValueError):
    """A line that is not a CRI log record."""


# datetime is imported where used: stage1 starts without it (its first log line comes after
# its containers started; start-up time counts toward every pod's start).

def rfc3339_nano(time_ns: int) -> str:
    from datetime import UTC, datetime
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_rfc3339_nano(text: str) -> int:
    """Nanoseconds since the epoch from an RFC 3339 time with up to 9 fraction digits."""
    from datetime import UTC, datetime
    if not text.endswith("Z"):
        raise LogFormatError(f"time without Z: {text!r}")
    whole, _, frac = text[:-1].partition(".")
    try:
        at = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        nanos = int((frac + "000000000")[:9]) if frac else 0
    except ValueError as e:
        raise LogFormatError(f"bad time {text!r}") from e
    return int(at.timestamp()) * 1_000_000_000 + nanos


def encode(time_ns: int, stream: str, line: bytes, *, complete: bool = True) -> bytes:
    """Records for one line of output (without its newline); long lines become P records."""
    stamp = rfc3339_nano(time_ns).encode()
    head = stamp + b" " + stream.encode() + b" "
    pieces = [line[i:i + MAX_RECORD] for i in range(0, len(line), MAX_RECORD)] or [b""]
    out = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        tag = b"F" if (last and complete) else b"P"
        out.append(head + tag + b" " + piece + b"\n")
    return b"".join(out)


def decode(record: bytes) -> LogRecord:
    """One record (with or without its newline)."""
    body = record[:-1] if record.endswith(b"\n") else record
    parts = body.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        raise LogFormatError(f"not a CRI log record: {record[:80]!r}")
    content = parts[3] if len(parts) == 4 else b""
    return LogRecord(parse_rfc3339_nano(parts[0].decode()), parts[1].decode(),
                     parts[2] == b"P", content)
