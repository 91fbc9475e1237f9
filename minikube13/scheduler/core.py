"""The pure scheduling decision: filter the snapshot's nodes (a sample of them at scale),
score the feasible ones and pick the best, ties broken by the seeded random source passed in.
No I/O, no clock: schedule(pod, snapshot, rng) -> node name | per-node reasons."""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any, Protocol

from minikube13.scheduler.filters import check_resources, fits_plain, node_reasons
from minikube13.scheduler.podinfo import PodInfo, pod_info
from minikube13.scheduler.scores import resource_score, spread_score
from minikube13.scheduler.snapshot import NodeInfo, Snapshot

Object = dict[str, Any]
NodeFailure = tuple[str, tuple[str, ...]]  # (node, reasons)
Decision = str | list[NodeFailure]

MIN_FEASIBLE = 100  # kube's minFeasibleNodesToFind
MIN_PERCENTAGE = 5


class Rng(Protocol):
    def randrange(self, start: int, /) -> int: ...


def nodes_to_find(total: int, sample: int | None) -> int:
    """How many feasible nodes to find before scoring. `sample` is a percentage of all
    nodes; None is adaptive like kube's percentageOfNodesToScore (50% falling with size, at
    least 5%), but falling faster (50 - n/20 rather than 50 - n/125) because a node costs
    more here than in Go; never fewer than 100 nodes."""
    if total <= MIN_FEASIBLE or (sample is not None and sample >= 100):
        return total
    percentage = sample if sample is not None else max(MIN_PERCENTAGE, 50 - total // 20)
    return max(MIN_FEASIBLE, total * max(percentage, 1) // 100)


def schedule(pod: Object | PodInfo, snapshot: Snapshot, rng: Rng, *,
             sample: int | None = None) -> Decision:
    """The node for `pod`, or why every node was ruled out."""
    info = pod if isinstance(pod, PodInfo) else pod_info(pod)
    order = snapshot.order()
    if not order:
        return []
    want = nodes_to_find(len(order), sample)
    start = rng.randrange(len(order))
    feasible: list[NodeInfo] = []
    failures: list[NodeFailure] = []
    fast = not info.constrained
    for node in chain(order[start:], order[:start]):
        if fast and node.plain:
            reasons = () if fits_plain(info, node) else tuple(check_resources(info, node,
                                                                              snapshot))
        else:
            reasons = tuple(node_reasons(info, node, snapshot))
        if reasons:
            failures.append((node.name, reasons))
            continue
        feasible.append(node)
        if len(feasible) >= want:
            break
    if not feasible:
        return failures
    return select(info, feasible, snapshot, rng)


def _fewest_in_zone(pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot) -> list[NodeInfo]:
    """The nodes whose zone holds the fewest pods of the pod's set."""
    per_zone, spread = snapshot.per_zone, pod.spread
    counts = {zone: per_zone.get((spread, zone), 0) for zone in {n.zone for n in nodes if n.zone}}
    if len(counts) < 2:
        return nodes
    fewest = min(counts.values())
    return [n for n in nodes if not n.zone or counts[n.zone] == fewest]


def select(pod: PodInfo, nodes: list[NodeInfo], snapshot: Snapshot, rng: Rng) -> str:
    """The best-scoring node; among equals, one chosen by `rng`."""
    cpu, memory = pod.score_cpu, pod.score_memory
    if pod.spread:
        nodes = _fewest_in_zone(pod, nodes, snapshot)
        per_node, spread = snapshot.per_node, pod.spread
        counts = [per_node.get((spread, n.name), 0) for n in nodes]
        most = max(counts)
        scores = [resource_score(cpu, memory, n) + spread_score(c, most)
                  for n, c in zip(nodes, counts, strict=True)]
    else:
        scores = [resource_score(cpu, memory, n) for n in nodes]
    best = max(scores)
    winners = [n for n, s in zip(nodes, scores, strict=True) if s == best]
    return winners[rng.randrange(len(winners))].name if len(winners) > 1 else winners[0].name


def failure_message(reasons: list[NodeFailure], total: int) -> str:
    """The kube-scheduler's FitError text: "0/3 nodes are available: 1 node(s) didn't match
    node selector, 2 Insufficient cpu." (reasons counted per node, sorted as strings)."""
    histogram = Counter(reason for _, node_reasons_ in reasons for reason in node_reasons_)
    parts = sorted(f"{count} {reason}" for reason, count in histogram.items())
    if not parts:
        return f"0/{total} nodes are available."
    return f"0/{total} nodes are available: {', '.join(parts)}."
