"""Scheduler benchmark: the pure core and the incremental snapshot, in process (no registry,
no HTTP, no runtime).

Usage: .venv/bin/python bench/scheduler.py [--seed 1] [--sizes 100,1000,2000] [--profile]

Method (printed with the numbers): for each cluster size N, N nodes (16 cpu, 64Gi, 110 pods
each) in 3 zones; pods from 10 ReplicaSets (controller ownerReferences, 100m-500m cpu,
64Mi-512Mi memory, a few with no requests), 30 pods per node (60,000 at 2,000 nodes), in
creation order. Each pod is read into a PodInfo, scheduled with `schedule(...)` (adaptive
sampling) and added to the snapshot with add_pod - the whole per-pod work a runner does
apart from the API write. Throughput = pods / total wall time; latency = per-pod wall time
(time.perf_counter) of those three steps; p99 over all pods. It also checks that every set
is spread over the zones within one pod. It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minikube13.scheduler.core import schedule  # noqa: E402
from minikube13.scheduler.podinfo import pod_info  # noqa: E402
from minikube13.scheduler.snapshot import Snapshot  # noqa: E402

ZONES = ("zone-a", "zone-b", "zone-c")
PODS_PER_NODE = 30
SETS = 10


def node(i: int) -> dict[str, Any]:
    zone = ZONES[i % len(ZONES)]
    resources = {"cpu": "16", "memory": "64Gi", "pods": "110"}
    return {"metadata": {"name": f"node-{i:05d}", "labels": {
                "kubernetes.io/hostname": f"node-{i:05d}",
                "topology.kubernetes.io/zone": zone}},
            "spec": {}, "status": {"capacity": resources, "allocatable": resources,
                                   "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(i: int) -> dict[str, Any]:
    rs = i % SETS
    requests = {} if rs == 9 else {"cpu": f"{100 + 50 * (rs % 9)}m",
                                   "memory": f"{64 * (1 + rs % 8)}Mi"}
    return {"metadata": {"name": f"rs{rs}-{i}", "namespace": "default", "uid": f"pod-{i}",
                         "labels": {"app": f"rs{rs}"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": f"rs{rs}", "uid": f"rs-uid-{rs}",
                                              "controller": True}]},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                                     "resources": {"requests": requests}}]}}


def run(nodes: int, seed: int) -> dict[str, float]:
    snapshot = Snapshot()
    for i in range(nodes):
        snapshot.add_node(node(i))
    pods = [pod(i) for i in range(nodes * PODS_PER_NODE)]
    rng = random.Random(seed)
    latencies: list[float] = []
    failed = 0
    begin = time.perf_counter()
    for obj in pods:
        t0 = time.perf_counter()
        info = pod_info(obj)
        decision = schedule(info, snapshot, rng)
        if isinstance(decision, str):
            snapshot.add_pod(replace(info, node=decision))
        else:
            failed += 1
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - begin
    latencies.sort()
    skew = max(_skew(snapshot, f"rs-uid-{rs}") for rs in range(SETS))
    return {"nodes": nodes, "pods": len(pods), "failed": failed, "seconds": total,
            "rate": len(pods) / total, "p50_ms": latencies[len(latencies) // 2] * 1e3,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3, "zone_skew": skew}


def _skew(snapshot: Snapshot, spread: str) -> int:
    counts = [snapshot.per_zone.get((spread, z), 0) for z in ZONES]
    return max(counts) - min(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print("Method:" + __doc__.split("numbers):", 1)[1].split("It prints")[0].rstrip())
    print(f"{'nodes':>6} {'pods':>7} {'failed':>6} {'seconds':>8} {'pods/s':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'zone skew':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        if args.profile:
            profiler = cProfile.Profile()
            result = profiler.runcall(run, size, args.seed)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
        else:
            result = run(size, args.seed)
        print(f"{result['nodes']:>6} {result['pods']:>7} {result['failed']:>6} "
              f"{result['seconds']:>8.2f} {result['rate']:>8.0f} {result['p50_ms']:>7.3f} "
              f"{result['p99_ms']:>7.3f} {result['zone_skew']:>9}")


if __name__ == "__main__":
    main()
