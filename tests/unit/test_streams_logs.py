"""What `kubectl logs` shows of CRI log records: tail, since, limitBytes, timestamps,
previous — the pure selection, then PodStreams over a pod dir on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.runtime import crilog
from minikube13.runtime.poddir import ContainerState, PodDir, TerminatedState
from minikube13.runtime.streams import PodStreams
from minikube13.runtime.streams_logs import (
    LineSplitter,
    LogOptions,
    LogsUnavailable,
    go_rfc3339_nano,
    render_all,
    select_run,
)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def rec(t: int, text: bytes, stream: str = "stdout", complete: bool = True) -> bytes:
    return crilog.encode(T0 + t, stream, text, complete=complete)


def test_go_rfc3339_nano_trims_the_fraction() -> None:
    """Like Go's time.RFC3339Nano: no trailing zeros, no fraction when whole."""
    assert go_rfc3339_nano(T0) == "2023-11-14T22:13:20Z"
    assert go_rfc3339_nano(T0 + 500_000_000) == "2023-11-14T22:13:20.5Z"
    assert go_rfc3339_nano(T0 + 123) == "2023-11-14T22:13:20.000000123Z"


def test_partial_records_join_into_one_line() -> None:
    """P records continue a line; timestamps prefix only where a line starts."""
    data = rec(0, b"par", complete=False) + rec(1, b"tial") + rec(2, b"next")
    assert render_all(data, LogOptions()) == b"partial\nnext\n"
    assert render_all(data, LogOptions(timestamps=True)) == (
        b"2023-11-14T22:13:20Z partial\n2023-11-14T22:13:20.000000002Z next\n")
    assert render_all(data, LogOptions(tail_lines=1)) == b"next\n"
    assert render_all(data, LogOptions(tail_lines=2)) == b"partial\nnext\n"


def test_since_limit_and_garbage() -> None:
    """sinceTime drops older records; limitBytes cuts mid-line; bad lines are skipped."""
    data = rec(0, b"a") + b"not a record\n" + rec(10, b"bb") + rec(20, b"ccc")
    assert render_all(data, LogOptions()) == b"a\nbb\nccc\n"
    assert render_all(data, LogOptions(since_ns=T0 + 10)) == b"bb\nccc\n"
    assert render_all(data, LogOptions(limit_bytes=4)) == b"a\nbb"
    assert render_all(data, LogOptions(tail_lines=0)) == b""
    assert render_all(data, LogOptions(tail_lines=99)) == b"a\nbb\nccc\n"


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"\r")), max_size=20),
       st.integers(0, 25))
def test_tail_is_the_last_lines(lines: list[bytes], n: int) -> None:
    """--tail=N prints exactly the last N lines of the full output."""
    data = b"".join(rec(i, line, "stderr" if i % 3 else "stdout") for i, line in
                    enumerate(lines))
    full = [line + b"\n" for line in lines]
    assert render_all(data, LogOptions()) == b"".join(full)
    assert render_all(data, LogOptions(tail_lines=n)) == b"".join(full[max(len(full) - n, 0):]
                                                                  if n else [])


def test_line_splitter_holds_back_unfinished_lines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == [b"one\n"]
    assert splitter.pending == 2
    assert splitter.feed(b"o\n") == [b"two\n"]


def state(phase: str, count: int = 0, last: bool = False, reason: str = "") -> ContainerState:
    return ContainerState("c", False, "u-c", phase, count, reason=reason,  # type: ignore[arg-type]
                          last_terminated=TerminatedState(1, "Error") if last else None)


def test_select_run_current_and_previous() -> None:
    """Current = this run's file; previous = the run before; a crash loop shows the last."""
    pick = select_run
    assert pick(state("running", 2, True), [0, 1, 2], previous=False, pod="p",
                container="c") == 2
    assert pick(state("running", 2, True), [0, 1, 2], previous=True, pod="p",
                container="c") == 1
    assert pick(state("waiting", 2, True, "CrashLoopBackOff"), [0, 1], previous=False,
                pod="p", container="c") == 1
    assert pick(state("waiting", 2, True), [0, 1], previous=True, pod="p", container="c") == 1
    assert pick(state("terminated", 0), [0], previous=False, pod="p", container="c") == 0


@pytest.mark.parametrize(("st_", "previous", "message"), [
    (None, False, 'container "c" in pod "p" is waiting to start: ContainerCreating'),
    (state("waiting", reason="PodInitializing"), False,
     'container "c" in pod "p" is waiting to start: PodInitializing'),
    (state("waiting", reason="ErrImagePull"), False,
     'container "c" in pod "p" is waiting to start: image can\'t be pulled'),
    (state("running"), True, 'previous terminated container "c" in pod "p" not found'),
    (None, True, 'previous terminated container "c" in pod "p" not found'),
])
def test_select_run_errors(st_: ContainerState | None, previous: bool, message: str) -> None:
    """No log to show is the kubelet's 400 message."""
    with pytest.raises(LogsUnavailable) as e:
        select_run(st_, [0], previous=previous, pod="p", container="c")
    assert e.value.message == message


# -- PodStreams over files ------------------------------------------------------------------

def _pod_dir(tmp_path: Path) -> PodDir:
    pod_dir = PodDir.of(tmp_path, "uid1")
    pod_dir.write_container_state(state("running", 1, True))
    for run, text in ((0, b"zero"), (1, b"one")):
        path = pod_dir.log_path("c", run)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rec(run, text))
    return pod_dir


async def _collect(streams: PodStreams, options: LogOptions) -> bytes:
    return b"".join([c async for c in streams.logs("uid1", "p", "c", options)])


async def test_pod_streams_reads_current_and_previous(tmp_path: Path) -> None:
    """The current run's file, or with previous the one before."""
    _pod_dir(tmp_path)
    streams = PodStreams(tmp_path)
    assert await _collect(streams, LogOptions()) == b"one\n"
    assert await _collect(streams, LogOptions(previous=True)) == b"zero\n"


async def test_follow_ends_when_the_run_ends(tmp_path: Path) -> None:
    """follow picks up lines appended later, also the last ones, and ends with the run."""
    pod_dir = _pod_dir(tmp_path)
    streams = PodStreams(tmp_path, poll_s=0.01)
    chunks = streams.logs("uid1", "p", "c", LogOptions(follow=True))
    assert await anext(chunks) == b"one\n"
    assert await anext(chunks) == b""  # idle: nothing new yet
    with open(pod_dir.log_path("c", 1), "ab") as f:
        f.write(rec(5, b"more"))
        f.write(rec(6, b"half", complete=False)[:-3])  # a record still being written
    assert await anext(chunks) == b"more\n"
    with open(pod_dir.log_path("c", 1), "ab") as f:
        f.write(rec(6, b"half", complete=False)[-3:] + rec(7, b"done"))
    pod_dir.write_container_state(state("terminated", 1, True))
    rest = b"".join([c async for c in chunks])
    assert rest == b"halfdone\n"
    await asyncio.sleep(0)
