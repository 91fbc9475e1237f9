"""Scores, 0-100 each like kube's (MaxNodeScore): least requested, balanced allocation and
selector spreading over nodes. Spreading over zones is the first key of the choice in
core.select (the "Ubernetes Lite" spread: replicas of one set differ by at most one per zone
while every zone has room)."""

from __future__ import annotations

from minikube13.scheduler.podinfo import CPU, MEMORY, PodInfo
from minikube13.scheduler.snapshot import NodeInfo

MAX_SCORE = 100


def _least(requested: int, capacity: int) -> int:
    if capacity <= 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_SCORE // capacity


def least_requested(pod: PodInfo, node: NodeInfo) -> int:
    """More free cpu and memory after placing the pod scores higher (mean of the two)."""
    cpu = _least(node.score_cpu + pod.score_cpu, node.allocatable.get(CPU, 0))
    memory = _least(node.score_memory + pod.score_memory, node.allocatable.get(MEMORY, 0))
    return (cpu + memory) // 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> int:
    """cpu and memory used in equal fractions after placing the pod scores higher."""
    cpu_cap, memory_cap = node.allocatable.get(CPU, 0), node.allocatable.get(MEMORY, 0)
    if cpu_cap <= 0 or memory_cap <= 0:
        return 0
    cpu = (node.score_cpu + pod.score_cpu) / cpu_cap
    memory = (node.score_memory + pod.score_memory) / memory_cap
    if cpu >= 1 or memory >= 1:
        return 0
    return int((1 - abs(cpu - memory)) * MAX_SCORE)


def resource_score(pod_cpu: int, pod_memory: int, node: NodeInfo) -> int:
    """least_requested + balanced_allocation in one pass (the hot loop of select)."""
    cpu_cap, memory_cap = node.allocatable.get(CPU, 0), node.allocatable.get(MEMORY, 0)
    if cpu_cap <= 0 or memory_cap <= 0:
        return 0
    cpu, memory = node.score_cpu + pod_cpu, node.score_memory + pod_memory
    least = (_least(cpu, cpu_cap) + _least(memory, memory_cap)) // 2
    cpu_fraction, memory_fraction = cpu / cpu_cap, memory / memory_cap
    if cpu_fraction >= 1 or memory_fraction >= 1:
        return least
    return least + int((1 - abs(cpu_fraction - memory_fraction)) * MAX_SCORE)


def spread_score(count: int, most: int) -> int:
    """Fewer pods of the same set on a node scores higher; most = the highest count among
    the candidate nodes."""
    if most <= 0:
        return MAX_SCORE
    return (most - count) * MAX_SCORE // most
