"""API benchmark: latency, watch fan-out and memory of one minikube13 daemon.

Starts its own daemon (temporary directories, 127.0.0.1, a free port), loads 1,000 pods,
then measures over HTTPS with the admin client certificate, from the same machine:

  * GET / CREATE / UPDATE latency under an open-loop mixed load (default 200 requests/s);
  * LIST latency of the 1,000 pods (open loop, 5 requests/s);
  * watch events delivered per second to 100 concurrent watchers;
  * daemon RSS (psutil) idle after start, idle with the pods loaded, and peak under load.

Targets of issue 2 (2-core machine): single-object p99 <= 20 ms at 200 req/s; >= 2,000
watch events/s delivered; idle RSS <= 60 MB. It prints numbers; it asserts nothing.

    .venv/bin/python bench/api.py [--rate 200] [--duration 15] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from benchdaemon import Daemon, admin_ssl

NS = "bench"
WATCH_NS = "bench-watch"


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench", **labels}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.35",
                                     "command": ["sleep", "3600"],
                                     "resources": {"requests": {"cpu": "10m"}}}]}}


def pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def ensure_ns(s: aiohttp.ClientSession, base: str, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    async with s.post(f"{base}/api/v1/namespaces", json=body) as r:
        await r.read()


async def load_pods(s: aiohttp.ClientSession, base: str, count: int) -> float:
    sem = asyncio.Semaphore(50)
    url = f"{base}/api/v1/namespaces/{NS}/pods"

    async def one(i: int) -> None:
        async with sem, s.post(url, json=pod(f"load-{i:05d}")) as r:
            await r.read()
            if r.status != 201:
                raise SystemExit(f"create pod failed: {r.status} {await r.text()}")

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - began


Request = Callable[[int], Awaitable[int]]


async def open_loop(rate: float, duration: float, pick: Callable[[int], tuple[str, Request]],
                    results: dict[str, list[float]], errors: dict[str, int]) -> float:
    """Send request i at t0 + i/rate whatever the earlier ones are doing; latency is
    measured from the intended send time, so a slow server cannot hide queueing delay."""
    t0 = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []

    async def fire(i: int, due: float) -> None:
        op, request = pick(i)
        status = await request(i)
        elapsed = time.perf_counter() - due
        results.setdefault(op, []).append(elapsed * 1000)
        results.setdefault("_timeline", []).append(due - t0)  # when it was due, s
        results.setdefault("_latency", []).append(elapsed * 1000)
        if status >= 400:
            errors[op] = errors.get(op, 0) + 1

    total = int(rate * duration)
    for i in range(total):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(i, due)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


async def single_object_load(s: aiohttp.ClientSession, base: str, pods: int, rate: float,
                             duration: float) -> tuple[dict[str, list[float]], dict[str, int], float]:
    url = f"{base}/api/v1/namespaces/{NS}/pods"

    async def get(i: int) -> int:
        async with s.get(f"{url}/load-{i % pods:05d}") as r:
            await r.read()
            return r.status

    async def create(i: int) -> int:
        async with s.post(url, json=pod(f"extra-{i:06d}")) as r:
            await r.read()
            return r.status

    async def update(i: int) -> int:
        # PUT without resourceVersion: an unconditional update, as `kubectl replace` of a
        # fresh manifest does; the labels change so every PUT writes a revision.
        body = pod(f"load-{(i * 7) % pods:05d}", rev=str(i))
        async with s.put(f"{url}/{body['metadata']['name']}", json=body) as r:
            await r.read()
            return r.status

    ops: list[tuple[str, Request]] = [("GET", get), ("UPDATE", update), ("GET", get),
                                      ("CREATE", create)]
    results: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    took = await open_loop(rate, duration, lambda i: ops[i % len(ops)], results, errors)
    return results, errors, took


async def list_load(s: aiohttp.ClientSession, base: str, rate: float,
                    duration: float) -> tuple[list[float], int, int]:
    url = f"{base}/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dbench"
    sizes: list[int] = []

    async def lst(i: int) -> int:
        async with s.get(url) as r:
            body = await r.read()
            if i == 0:
                sizes.append(len(json.loads(body)["items"]))
            return r.status

    results: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    await open_loop(rate, duration, lambda i: ("LIST", lst), results, errors)
    return results.get("LIST", []), errors.get("LIST", 0), sizes[0] if sizes else 0


async def watch_fanout(base: str, ssl_ctx: ssl.SSLContext, watchers: int,
                       writes: int) -> tuple[float, float, int]:
    """`watchers` streams on one namespace; `writes` updates; returns (events/s delivered
    to all watchers, writes/s, events delivered). Timed from the first write until every
    watcher has seen every event."""
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as s:
        await ensure_ns(s, base, WATCH_NS)
        url = f"{base}/api/v1/namespaces/{WATCH_NS}/configmaps"
        objects = 20
        for i in range(objects):
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"w-{i:02d}"}, "data": {"n": "0"}}
            async with s.post(url, json=body) as r:
                await r.read()
        async with s.get(url) as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        counts = [0] * watchers
        last_event = [0.0]
        connected = asyncio.Semaphore(0)
        done = asyncio.Event()

        async def follow(k: int) -> None:
            params = {"watch": "true", "resourceVersion": rv}
            async with s.get(url, params=params) as r:
                connected.release()
                async for line in r.content:
                    if b'"BOOKMARK"' in line[:40]:
                        continue
                    counts[k] += 1
                    last_event[0] = time.perf_counter()
                    if sum(counts) >= watchers * writes:
                        done.set()

        tasks = [asyncio.create_task(follow(k)) for k in range(watchers)]
        for _ in range(watchers):
            await connected.acquire()
        sem = asyncio.Semaphore(20)
        headers = {"Content-Type": "application/merge-patch+json"}

        async def write(i: int) -> None:
            patch = json.dumps({"data": {"n": str(i + 1)}})  # "0" would be a no-op
            async with sem, s.patch(f"{url}/w-{i % objects:02d}", data=patch,
                                    headers=headers) as r:
                await r.read()

        began = time.perf_counter()
        await asyncio.gather(*(write(i) for i in range(writes)))
        wrote = time.perf_counter() - began
        try:
            await asyncio.wait_for(done.wait(), timeout=120)
        except TimeoutError:
            pass
        took = last_event[0] - began
        for t in tasks:
            t.cancel()
        delivered = sum(counts)
        return delivered / took, writes / wrote, delivered


class CpuMeter:
    """CPU seconds used by the daemon and by this client during one phase."""

    def __init__(self, daemon: Daemon):
        self.proc = psutil.Process(daemon.proc.pid if daemon.proc else 0)
        self.me = psutil.Process()

    def __enter__(self) -> CpuMeter:
        self.d0, self.c0 = self._cpu(self.proc), self._cpu(self.me)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.daemon_s = self._cpu(self.proc) - self.d0
        self.client_s = self._cpu(self.me) - self.c0

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return t.user + t.system

    def line(self) -> str:
        return (f"  cpu: daemon {self.daemon_s:.1f}s ({self.daemon_s / self.wall:.0%} of one core), "
                f"bench client {self.client_s:.1f}s, over {self.wall:.1f}s wall")


def timeline(results: dict[str, list[float]], limit_ms: float) -> str:
    """How many whole seconds of the run had a request slower than `limit_ms`."""
    slow: set[int] = set()
    for at, ms in zip(results.get("_timeline", []), results.get("_latency", []), strict=True):
        if ms > limit_ms:
            slow.add(int(at))
    seconds = int(max(results.get("_timeline", [0]))) + 1
    return f"{len(slow)} of {seconds} seconds had a request over {limit_ms:.0f} ms"


async def closed_loop_list(s: aiohttp.ClientSession, base: str, times: int) -> list[float]:
    """LIST one after another, nothing else running: the intrinsic cost of one LIST."""
    url = f"{base}/api/v1/namespaces/{NS}/pods"
    out: list[float] = []
    for _ in range(times):
        began = time.perf_counter()
        async with s.get(url) as r:
            await r.read()
        out.append((time.perf_counter() - began) * 1000)
    return out


class RssSampler:
    """Samples the daemon's RSS every 0.25 s while a phase runs."""

    def __init__(self, daemon: Daemon):
        self.daemon = daemon
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.daemon.rss_mb())
            await asyncio.sleep(0.25)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def report(op: str, samples: list[float], errors: int, note: str) -> None:
    print(f"  {op:<7} n={len(samples):<5} p50={pct(samples, 50):7.2f} ms  "
          f"p99={pct(samples, 99):7.2f} ms  max={max(samples, default=0):7.2f} ms  "
          f"errors={errors}  {note}")


async def run(args: argparse.Namespace, daemon: Daemon) -> None:
    base, ssl_ctx = admin_ssl(daemon.kubeconfig)
    await asyncio.sleep(2)
    idle_empty = daemon.rss_mb()
    connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=200)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as s:
        await ensure_ns(s, base, NS)
        load_s = await load_pods(s, base, args.pods)
        print(f"loaded {args.pods} pods in {load_s:.1f}s ({args.pods / load_s:.0f} creates/s, "
              f"50 in flight)")
        await asyncio.sleep(2)
        idle_loaded = daemon.rss_mb()

        with RssSampler(daemon) as rss:
            with CpuMeter(daemon) as cpu:
                alone = await closed_loop_list(s, base, 10)
            print(f"\nLIST of {args.pods} pods, 10 one after another (nothing else running):")
            report("LIST", alone, 0, "whole JSON body read")
            print(cpu.line())
            with CpuMeter(daemon) as cpu:
                lists, list_errors, size = await list_load(s, base, args.list_rate,
                                                           args.list_duration)
            print(f"LIST of {size} pods, open loop at {args.list_rate}/s for "
                  f"{args.list_duration:.0f}s (latency from the intended send time):")
            report("LIST", lists, list_errors, "whole JSON body read")
            print(cpu.line())

            with CpuMeter(daemon) as cpu:
                results, errors, took = await single_object_load(s, base, args.pods,
                                                                 args.rate, args.duration)
            sent = len(results.get("_latency", []))
            print(f"\nsingle-object mix GET 50% / UPDATE 25% / CREATE 25%, open loop at "
                  f"{args.rate:.0f} req/s for {args.duration:.0f}s "
                  f"({sent / took:.0f} req/s achieved; latency from the intended send time, "
                  f"client on the same 2 cores):")
            for op in ("GET", "CREATE", "UPDATE"):
                report(op, results.get(op, []), errors.get(op, 0), "")
            single = [x for op in ("GET", "CREATE", "UPDATE") for x in results.get(op, [])]
            print(f"  all single-object p99 = {pct(single, 99):.2f} ms (target <= 20 ms); "
                  f"{timeline(results, 20)}")
            print(cpu.line())

            with CpuMeter(daemon) as cpu:
                events_s, writes_s, delivered = await watch_fanout(
                    base, ssl_ctx, args.watchers, args.watch_writes)
            print(f"\nwatch fan-out: {args.watchers} watchers on one namespace, "
                  f"{args.watch_writes} merge-PATCHes (20 in flight, {writes_s:.0f} writes/s): "
                  f"{delivered} events delivered, {events_s:.0f} events/s "
                  f"(first write -> last event at the last watcher; target >= 2,000)")
            print(cpu.line())
        print(f"\ndaemon RSS (psutil, resident set of the daemon process):\n"
              f"  idle after start   {idle_empty:6.1f} MB (target <= 60 MB)\n"
              f"  idle with {args.pods} pods {idle_loaded:6.1f} MB\n"
              f"  peak under load    {rss.peak:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="single-object req/s")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--list-rate", type=float, default=5.0)
    parser.add_argument("--list-duration", type=float, default=10.0)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--watch-writes", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the daemon's directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="m13-bench-"))
    daemon = Daemon(root, ["--no-run-pods"])  # the API alone: no node agent
    print(f"minikube13 API benchmark: daemon in {root}, https://127.0.0.1:{daemon.port}, "
          f"{os.cpu_count()} CPUs")
    daemon.start()
    try:
        asyncio.run(run(args, daemon))
    finally:
        daemon.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
