"""stage1's small parts: logs, OOM counters, messages, mounts to drop, runc argv, probes."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube13.runtime import crilog
from minikube13.runtime.runc import Runc, _tail
from minikube13.runtime.stage1 import exits, probes
from minikube13.runtime.stage1.logs import LogSink, RunPipes
from minikube13.runtime.stage1.nsenv import foreign_mounts
from minikube13.runtime.stage1.probing import ProbeTrack
from minikube13.runtime.stage1.shell import _runc_error


def _records(path: Path) -> list[crilog.LogRecord]:
    return [crilog.decode(line) for line in path.read_bytes().split(b"\n")[:-1]]


def test_log_sink_writes_cri_records_per_line(tmp_path: Path) -> None:
    """Output becomes one F record per line; an unterminated tail is flushed at close."""
    sink = LogSink(tmp_path / "c" / "0.log", "c")
    sink.feed("stdout", b"one\ntw")
    sink.feed("stderr", b"err\n")
    sink.feed("stdout", b"o\nthree")
    sink.close()
    got = [(r.stream, r.partial, r.content) for r in _records(tmp_path / "c" / "0.log")]
    assert got == [("stdout", False, b"one"), ("stderr", False, b"err"),
                   ("stdout", False, b"two"), ("stdout", False, b"three")]


@given(st.lists(st.binary(max_size=40000), max_size=5))
def test_log_sink_round_trips_any_output(chunks: list[bytes]) -> None:
    """Whatever a container writes, joining the records gives it back (lines intact)."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "0.log"
        sink = LogSink(path, "c")
        for chunk in chunks:
            sink.feed("stdout", chunk)
        sink.close()
        out = b""
        for r in _records(path):
            out += r.content + (b"" if r.partial else b"\n")
    data = b"".join(chunks)
    assert out == (data if data.endswith(b"\n") or not data else data + b"\n")


def test_run_pipes_feed_the_sink(tmp_path: Path) -> None:
    """What is written to the pipes' write ends lands in the log, split by stream."""
    pipes = RunPipes(LogSink(tmp_path / "0.log", "c"))
    os.write(pipes.out_w, b"hello\n")
    os.write(pipes.err_w, b"oops\n")
    pipes.close_write_ends()
    for fd in list(pipes.readers):
        while pipes.read(fd):
            pass
        pipes.drop(fd)
    pipes.close()
    assert [(r.stream, r.content) for r in _records(tmp_path / "0.log")] == [
        ("stdout", b"hello"), ("stderr", b"oops")]


def test_oom_counters_v1_and_v2(tmp_path: Path) -> None:
    """OOM kills are read from v1 memory.oom_control and v2 memory.events."""
    v1 = tmp_path / "memory" / "m13" / "pod1" / "c"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert exits.oom_kills("/m13/pod1/c", tmp_path) == 1
    v2 = tmp_path / "m13" / "pod2" / "c"
    v2.mkdir(parents=True)
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert exits.oom_kills("/m13/pod2/c", tmp_path) == 2
    assert exits.oom_kills("/m13/none", tmp_path) == 0


def test_termination_message_is_capped(tmp_path: Path) -> None:
    """Only the first 4096 bytes of the termination log are kept; clearing keeps the file."""
    path = tmp_path / "termination-log"
    path.write_bytes(b"x" * 5000)
    assert len(exits.termination_message(str(path))) == 4096
    inode = path.stat().st_ino
    exits.clear_termination_message(str(path))
    assert path.stat().st_ino == inode and path.read_bytes() == b""
    assert exits.termination_message(str(tmp_path / "missing")) == ""


def test_foreign_mounts_are_other_pods_only() -> None:
    """stage1 drops copies of other pods' mounts and netns files, deepest first."""
    pod = Path("/var/lib/m/pods/aaa")
    points = ["/", "/proc", "/var/lib/m/pods/aaa/containers/c/rootfs",
              "/var/lib/m/pods/bbb/containers/c/rootfs", "/var/lib/m/pods/bbb/volumes/v",
              "/var/lib/m/pods/bbb/volumes/v/sub", "/run/netns/m13-aaa", "/run/netns/m13-bbb",
              "/run/netns/other"]
    got = foreign_mounts(points, pod, "/run/netns/m13-aaa")
    assert set(got) == {"/var/lib/m/pods/bbb/volumes/v/sub", "/run/netns/m13-bbb",
                        "/var/lib/m/pods/bbb/containers/c/rootfs", "/var/lib/m/pods/bbb/volumes/v"}
    depths = [p.count("/") for p in got]
    assert depths == sorted(depths, reverse=True)


def test_runc_argv_with_and_without_entering_the_pod() -> None:
    """Commands use --root; for a live pod they run inside its pid and mount namespaces."""
    plain = Runc(Path("/d/runc"))
    assert plain.run_argv("id", "/b", pid_file="/p", log_file="/l") == [
        "runc", "--root", "/d/runc", "--log", "/l", "run", "--bundle", "/b", "--detach",
        "--pid-file", "/p", "id"]
    entered = Runc(Path("/d/runc"), enter_pid=42)
    assert entered.exec_argv("id", ["cat", "/x"], tty=True, env={"A": "1"})[:6] == [
        "nsenter", "--target=42", "--pid", "--mount", "--", "runc"]
    assert entered.exec_argv("id", ["cat", "/x"])[-3:] == ["id", "cat", "/x"]


def test_runc_messages_are_unwrapped(tmp_path: Path) -> None:
    """runc's logrus lines are reduced to their message."""
    line = b'time="2026" level=error msg="container \\"x\\" does not exist"\n'
    assert _tail(line) == 'container "x" does not exist'
    log = tmp_path / "runc.log"
    log.write_text('time="t" level=info msg="ok"\ntime="t" level=error msg="exec: \\"nope\\""\n')
    assert _runc_error(log) == 'exec: "nope"'


def test_probe_track_thresholds() -> None:
    """failureThreshold failures in a row flip the verdict; successThreshold flips it back."""
    track = ProbeTrack.start("readiness", {"periodSeconds": 2, "failureThreshold": 2,
                                           "successThreshold": 2, "initialDelaySeconds": 5}, 0)
    assert not track.due(4.9) and track.due(5)
    assert track.record(True, 5) is None
    assert track.record(True, 7) is True
    assert track.record(False, 9) is None
    assert track.record(False, 11) is False
    assert track.next_at == 13


@pytest.fixture
def web() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == "/ok" else 500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_and_tcp_handlers(web: int) -> None:
    """httpGet succeeds on 2xx/3xx only; tcpSocket on a successful connect (loopback)."""
    assert probes.http_get({"httpGet": {"path": "/ok", "port": web}}, 2)[0]
    ok, message = probes.http_get({"httpGet": {"path": "/bad", "port": web}}, 2)
    assert not ok and "500" in message
    assert probes.tcp_socket({"tcpSocket": {"port": web}}, 2)[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert not probes.tcp_socket({"tcpSocket": {"port": closed}}, 2)[0]
    assert not probes.http_get({"httpGet": {"port": "http"}}, 2)[0]
    assert probes.handler_kind({"exec": {"command": ["x"]}}) == "exec"


def test_stage1_fast_path_imports_no_cli_or_api() -> None:
    """`python -m minikube13 stage1` starts without click, aiohttp or the API (start time)."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "minikube13", "stage1",
                           "--help"], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0 and "usage: minikube13 stage1" in proc.stdout
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    assert "minikube13.runtime.stage1.shell" in modules
    banned = {m for m in modules if m.split(".")[0] in ("click", "aiohttp", "asyncio")
              or m.startswith(("minikube13.api", "minikube13.cli", "minikube13.registry"))}
    assert banned == set()
