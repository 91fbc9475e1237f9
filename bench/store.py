"""Store benchmark: write throughput and latency, serial and concurrent, and list latency.

Usage: .venv/bin/python bench/store.py [--dir DIR] [--writes N] [--concurrency C]

Method (printed with the numbers): a fresh SqliteStore in DIR (default: a temporary
directory on the same disk as /tmp) with the default settings (WAL, synchronous=FULL,
group commit). Each write is an update of one of 1,000 existing ~1 KiB objects with
expected_revision = 0, timed from the call to the acknowledgement (after COMMIT+fsync).
"Serial" awaits each write before the next; "concurrent" runs C tasks that each write
N/C times back to back. List latency: list of the prefix holding the 1,000 objects,
repeated 50 times after the writes (history rows present, compaction running as usual).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikube13.store.sqlite import SqliteStore  # noqa: E402

PREFIX = "/registry/configmaps/bench/"
VALUE = b'{"data":{"k":"' + b"x" * 1000 + b'"}}'


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(name: str, latencies: list[float], elapsed: float) -> None:
    n = len(latencies)
    print(f"{name:<28} {n / elapsed:>9.0f} writes/s   p50 {_pct(latencies, 0.5) * 1e3:7.2f} ms"
          f"   p99 {_pct(latencies, 0.99) * 1e3:7.2f} ms   ({n} writes in {elapsed:.2f} s)")


async def _timed_updates(store: SqliteStore, keys: list[str], count: int,
                         out: list[float]) -> None:
    for i in range(count):
        start = time.perf_counter()
        await store.update(keys[i % len(keys)], VALUE, 0)
        out.append(time.perf_counter() - start)


async def _serial(store: SqliteStore, keys: list[str], n: int) -> None:
    latencies: list[float] = []
    start = time.perf_counter()
    await _timed_updates(store, keys, n, latencies)
    _report("serial (1 writer)", latencies, time.perf_counter() - start)


async def _concurrent(store: SqliteStore, keys: list[str], n: int, c: int) -> None:
    latencies: list[float] = []
    per_task = n // c
    start = time.perf_counter()
    await asyncio.gather(*(
        _timed_updates(store, keys[i::c] or keys, per_task, latencies) for i in range(c)
    ))
    _report(f"concurrent ({c} writers)", latencies, time.perf_counter() - start)


async def _lists(store: SqliteStore) -> None:
    samples = []
    for _ in range(50):
        start = time.perf_counter()
        result = await store.list(PREFIX)
        samples.append(time.perf_counter() - start)
        assert len(result.items) == 1000
    print(f"{'list 1,000 keys (~1 KiB)':<28} p50 {statistics.median(samples) * 1e3:7.2f} ms"
          f"   p99 {_pct(samples, 0.99) * 1e3:7.2f} ms   (50 lists)")


async def main(directory: str, writes: int, concurrency: int) -> None:
    path = os.path.join(directory, "bench.db")
    store = SqliteStore(path)
    await store.start()
    try:
        keys = [f"{PREFIX}cm-{i:04d}" for i in range(1000)]
        await asyncio.gather(*(store.create(k, VALUE) for k in keys))
        print(__doc__.split("Method", 1)[1].strip().join(["Method", ""]))
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load},"
              f" db in {directory}\n")
        await _serial(store, keys, max(writes // 10, 500))
        await _concurrent(store, keys, writes, concurrency)
        await _lists(store)
        stats = await store.stats()
        print(f"\nafter: {stats}")
    finally:
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="")
    parser.add_argument("--writes", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    if args.dir:
        asyncio.run(main(args.dir, args.writes, args.concurrency))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(tmp, args.writes, args.concurrency))
