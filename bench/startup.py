"""Daemon start-up time to READY and idle memory: the venv install against the frozen
programs that `make package` builds.

    .venv/bin/python bench/startup.py [--runs 5] [--idle 5]

Programs (each skipped with a note when missing; `make package` builds the frozen ones):
  venv     .venv/bin/minikube13d                      what `make up` runs
  onefile  dist/minikube13 daemon                     the single self-contained executable
  onedir   build/pyinstaller/frozen/onedir/...        what the .deb installs in /usr/lib

Method: each run starts the daemon as systemd would see it: $NOTIFY_SOCKET names a Unix
datagram socket this script owns, and start->READY is the time from spawning the process to
the READY=1 datagram (the daemon sends it after /readyz answers and the node is
registered). The daemon runs in a new network namespace (`unshare --net`, loopback only)
with temporary data and config directories, the API on 127.0.0.1, log level WARNING, pods
on (so the node registers, as in production). Run 1 of each program is a first start (it
creates the certificates and the store); the others restart on that data. Programs take
turns run by run, so drift on a noisy machine hits them alike. Idle memory is read `--idle`
seconds after READY over the whole process tree (the onefile bootloader is a parent
process of its Python): RSS summed, and USS (memory only that tree uses, from
/proc/<pid>/smaps); "unpacked" is what a onefile copied into its _MEI* directory under
$TMPDIR (/tmp) for its own run: on a tmpfs /tmp that is memory too, outside RSS. Medians;
the machine is shared, so compare programs within one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


@dataclass
class Program:
    name: str
    argv: list[str]
    starts_s: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    uss: list[int] = field(default_factory=list)
    processes: int = 0
    unpacked: int = 0


def programs(snapshot: Path) -> tuple[list[Program], list[str]]:
    """The programs found here, and a note for each one missing. The frozen ones are copied
    into `snapshot` first: a `make package` meanwhile must not swap them mid-run."""
    onedir = REPO / "build/pyinstaller/frozen/onedir"
    candidates = [
        ("venv", REPO / ".venv/bin/minikube13d", None, []),
        ("onefile", REPO / "dist/minikube13", snapshot / "minikube13", ["daemon"]),
        ("onedir", onedir / "minikube13-onedir", snapshot / "onedir/minikube13-onedir",
         ["daemon"]),
    ]
    found, missing = [], []
    for name, path, copy, args in candidates:
        if not os.access(path, os.X_OK):
            missing.append(f"{name}: {path} missing (make deps / make package)")
            continue
        if copy is not None and name == "onedir":
            shutil.copytree(onedir, copy.parent, symlinks=True)
        elif copy is not None:
            shutil.copy2(path, copy)
        found.append(Program(name, [str(copy or path), *args]))
    return found, missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_to_ready(program: Program, top: Path, notify_path: Path) -> tuple[psutil.Process,
                                                                           float]:
    """Spawn the daemon; return it and the seconds until its READY=1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIKUBE13_", "PYTHON"))}
    env.update(NOTIFY_SOCKET=str(notify_path), MINIKUBE13_ENV_FILE=str(top / "no-env-file"))
    daemon = [*program.argv, "--no-pod-network", "--data-dir", str(top / "data"), "--config-dir",
              str(top / "config"), "--socket", str(top / "api.sock"), "--bind-address",
              "127.0.0.1", "--secure-port", str(free_port()), "--log-level", "WARNING",
              "--node-name", f"startup-{program.name}", "--registry-allow", "127.0.0.1:*"]
    # `unshare --net` execs sh, which execs the daemon: one pid from spawn to exit
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *daemon]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        notify_path.unlink(missing_ok=True)
        sock.bind(str(notify_path))
        sock.settimeout(0.5)
        log = open(top / f"{program.name}.log", "ab")  # noqa: SIM115 - the child owns it
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env)
        log.close()
        while time.monotonic() - started < READY_TIMEOUT_S:
            try:
                message = sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                message = ""
            if "READY=1" in message.splitlines():
                return psutil.Process(proc.pid), time.monotonic() - started
            if proc.poll() is not None:
                break
        proc.kill()
        tail = (top / f"{program.name}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{program.name}: no READY=1 (exit {proc.poll()}); its log:\n{tail}")


def unpacked_bytes(proc: psutil.Process) -> int:
    """Bytes a onefile unpacked for itself (its _MEI* dir, deleted at exit); 0 otherwise."""
    dirs = set()
    for p in [proc, *proc.children(recursive=True)]:
        try:
            maps = p.memory_maps(grouped=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for m in maps:
            head, sep, tail = m.path.partition("/_MEI")
            if sep:
                dirs.add(Path(f"{head}/_MEI{tail.split('/')[0]}"))
    return sum(f.stat().st_size for d in dirs for f in d.rglob("*") if f.is_file())


def tree_memory(proc: psutil.Process) -> tuple[int, int, int]:
    """(RSS summed, USS summed, process count) over the process and its descendants."""
    rss = uss = count = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        uss += info.uss
        count += 1
    return rss, uss, count


def stop(proc: psutil.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except psutil.TimeoutExpired:
        for p in [proc, *proc.children(recursive=True)]:
            p.kill()
        proc.wait(STOP_TIMEOUT_S)


def run_once(program: Program, top: Path, idle_s: float) -> None:
    proc, ready_s = start_to_ready(program, top, top / "notify.sock")
    try:
        time.sleep(idle_s)
        rss, uss, count = tree_memory(proc)
        program.unpacked = unpacked_bytes(proc)
    finally:
        stop(proc)
    program.starts_s.append(ready_s)
    program.rss.append(rss)
    program.uss.append(uss)
    program.processes = count


def report(found: list[Program], runs: int, idle_s: float) -> None:
    print(f"start->READY (s) and idle memory (MiB) {idle_s:g} s after READY; {runs} runs each")
    print(f"{'program':8} {'first start':>11} {'restart p50':>11} {'min':>6} {'max':>6} "
          f"{'RSS p50':>8} {'USS p50':>8} {'procs':>5} {'unpacked':>8}")
    mib = 2**20
    for p in found:
        restarts = p.starts_s[1:] or p.starts_s
        print(f"{p.name:8} {p.starts_s[0]:11.2f} {statistics.median(restarts):11.2f} "
              f"{min(restarts):6.2f} {max(restarts):6.2f} "
              f"{statistics.median(p.rss) / mib:8.1f} {statistics.median(p.uss) / mib:8.1f} "
              f"{p.processes:5d} {p.unpacked / mib:8.1f}")
    by_name = {p.name: p for p in found}
    if "venv" in by_name:
        base = statistics.median(by_name["venv"].starts_s[1:] or by_name["venv"].starts_s)
        for p in found:
            if p.name != "venv":
                ratio = statistics.median(p.starts_s[1:] or p.starts_s) / base
                print(f"{p.name} restart->READY is {ratio:.2f}x the venv's")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=5.0,
                        help="seconds after READY before memory is read")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/startup.py needs root (the daemon runs pods; unshare --net)")
        return 1
    print(__doc__.split("\n\n", 2)[2].strip())
    print()
    top = Path(tempfile.mkdtemp(prefix="m13-startup-"))
    try:
        found, missing = programs(top)
        for note in missing:
            print(f"skipped {note}")
        for _ in range(args.runs):
            for program in found:
                (top / program.name).mkdir(exist_ok=True)
                run_once(program, top / program.name, args.idle)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    report(found, args.runs, args.idle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
