"""Scheduler scores, zone spreading, sampling and determinism."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler_support import ZONE, node, place, pod, snapshot_of

from minikube13.scheduler.core import nodes_to_find, schedule
from minikube13.scheduler.podinfo import pod_info
from minikube13.scheduler.scores import balanced_allocation, least_requested, spread_score
from minikube13.scheduler.snapshot import Snapshot

ZONES = ("a", "b", "c")


def zone_counts(snap: Snapshot, owner: str) -> list[int]:
    return [snap.per_zone.get((owner, z), 0) for z in ZONES]


def test_least_requested_prefers_the_emptier_node() -> None:
    """A pod goes to the node with the most free cpu and memory."""
    snap = snapshot_of(node("busy", cpu="4"), node("idle", cpu="4"))
    snap.add_pod(replace(pod_info(pod("x", cpu="3", node_name="busy")), node="busy"))
    assert schedule(pod("y", cpu="100m"), snap, random.Random(1)) == "idle"
    busy, idle = snap.nodes["busy"], snap.nodes["idle"]
    info = pod_info(pod("y", cpu="100m"))
    assert least_requested(info, idle) > least_requested(info, busy)


def test_balanced_allocation_prefers_even_use() -> None:
    """A cpu-heavy pod scores higher on the node whose memory is the more used."""
    snap = snapshot_of(node("m", cpu="4", memory="4Gi"), node("c", cpu="4", memory="4Gi"))
    snap.add_pod(replace(pod_info(pod("mem", cpu="100m", memory="2Gi")), node="m"))
    snap.add_pod(replace(pod_info(pod("cpu", cpu="2", memory="100Mi")), node="c"))
    heavy = pod_info(pod("h", cpu="1500m", memory="100Mi"))
    assert balanced_allocation(heavy, snap.nodes["m"]) > balanced_allocation(heavy, snap.nodes["c"])


def test_spread_score() -> None:
    """Nodes with fewer pods of the set score higher; no pods anywhere scores the maximum."""
    assert spread_score(0, 0) == 100
    assert spread_score(0, 4) == 100 and spread_score(2, 4) == 50 and spread_score(4, 4) == 0


def test_replicas_spread_over_nodes() -> None:
    """Four replicas on four equal nodes take one node each."""
    snap = snapshot_of(*(node(f"n{i}") for i in range(4)))
    rng = random.Random(7)
    placed = [place(snap, pod(f"r{i}", cpu="100m", owner="rs"), rng) for i in range(4)]
    assert sorted(placed) == ["n0", "n1", "n2", "n3"]


@settings(max_examples=40, deadline=None)
@given(replicas=st.integers(1, 40), per_zone=st.tuples(*(st.integers(1, 4) for _ in ZONES)),
       seed=st.integers(0, 2 ** 16), noise=st.integers(0, 6))
def test_zone_spread_differs_by_at_most_one(replicas: int, per_zone: tuple[int, ...],
                                            seed: int, noise: int) -> None:
    """Replicas of one set over 3 zones (any node counts) differ by at most one per zone."""
    nodes = [node(f"{z}{i}", cpu="64", memory="256Gi", zone=z)
             for z, count in zip(ZONES, per_zone, strict=True) for i in range(count)]
    snap = snapshot_of(*nodes)
    rng = random.Random(seed)
    for i in range(noise):  # other pods that skew the resource scores
        place(snap, pod(f"other{i}", cpu="3", memory="8Gi"), rng)
    for i in range(replicas):
        place(snap, pod(f"r{i}", cpu="250m", memory="256Mi", owner="rs"), rng)
        counts = zone_counts(snap, "rs")
        assert max(counts) - min(counts) <= 1, counts


def test_zone_spread_with_sampling_at_scale() -> None:
    """At 1,200 nodes (sampled), 300 replicas still split 100/100/100 over the zones."""
    snap = snapshot_of(*(node(f"n{i:04d}", zone=ZONES[i % 3]) for i in range(1200)))
    rng = random.Random(5)
    assert nodes_to_find(1200, None) < 1200
    for i in range(300):
        place(snap, pod(f"r{i}", cpu="10m", owner="big"), rng)
    assert zone_counts(snap, "big") == [100, 100, 100]
    assert max(Counter(p.node for p in snap.pods.values()).values()) == 1


def test_nodes_to_find() -> None:
    """All nodes up to 100; adaptive above, never under 100; an explicit percentage wins."""
    assert nodes_to_find(80, None) == 80
    assert nodes_to_find(2000, None) == 100
    assert nodes_to_find(2000, 50) == 1000
    assert nodes_to_find(2000, 100) == 2000


def test_same_seed_same_decisions() -> None:
    """Scheduling the same pods with the same seed places them identically."""
    def run(seed: int) -> list[str]:
        snap = snapshot_of(*(node(f"n{i}", zone=ZONES[i % 3]) for i in range(30)))
        rng = random.Random(seed)
        return [place(snap, pod(f"p{i}", cpu="100m", owner=f"rs{i % 3}"), rng)
                for i in range(60)]

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_snapshot_add_and_remove_are_inverse() -> None:
    """Removing a pod gives its node back the resources and the set counts."""
    snap = snapshot_of(node("a", cpu="2", zone="a"))
    info = replace(pod_info(pod("x", cpu="1", owner="rs")), node="a")
    snap.add_pod(info)
    assert snap.nodes["a"].cpu_left == 1000 and snap.per_zone[("rs", "a")] == 1
    snap.remove_pod(info.key)
    assert snap.nodes["a"].cpu_left == 2000 and not snap.per_zone and not snap.per_node
    assert not snap.nodes["a"].pods


def test_pod_before_its_node_and_node_removal() -> None:
    """A bound pod seen before its node still counts once the node appears and after it goes."""
    snap = Snapshot()
    snap.add_pod(replace(pod_info(pod("x", cpu="1", owner="rs")), node="late"))
    assert snap.order() == []
    snap.add_node(node("late", cpu="2", zone="b"))
    assert snap.nodes["late"].cpu_left == 1000 and snap.per_zone[("rs", "b")] == 1
    snap.remove_node("late")
    assert snap.order() == [] and not snap.per_zone and snap.per_node[("rs", "late")] == 1
    assert snap.nodes["late"].labels.get(ZONE) is None


def test_bare_pods_of_a_service_spread_over_nodes_and_zones() -> None:
    """Pods with no controller that one Service selects spread like replicas of one set."""
    service = {"metadata": {"name": "web", "namespace": "default", "uid": "svc-web"},
               "spec": {"selector": {"app": "web"}}}
    nodes = [node(f"{z}{i}", zone=z) for z in ZONES for i in range(2)]
    snap = snapshot_of(*nodes)
    rng = random.Random(3)
    placed = []
    for i in range(6):
        obj = pod(f"w{i}", cpu="100m")
        obj["metadata"]["labels"] = {"app": "web", "tier": "front"}
        info = pod_info(obj, [service])
        assert info.spread == "svc:svc-web"
        decision = schedule(info, snap, rng)
        assert isinstance(decision, str)
        snap.add_pod(replace(info, node=decision))
        placed.append(decision)
    assert sorted(placed) == sorted(n["metadata"]["name"] for n in nodes)


def test_controller_wins_over_service_and_other_namespaces_do_not_count() -> None:
    """A pod's controller is its set; a Service of another namespace never selects it."""
    other_ns = {"metadata": {"name": "a", "namespace": "prod", "uid": "x"},
                "spec": {"selector": {"app": "web"}}}
    owned = pod("o", owner="rs")
    owned["metadata"]["labels"] = {"app": "web"}
    assert pod_info(owned, [other_ns]).spread == "rs"
    bare = pod("b")
    bare["metadata"]["labels"] = {"app": "web"}
    assert pod_info(bare, [other_ns]).spread == ""
    empty = {"metadata": {"name": "all", "namespace": "default", "uid": "y"}, "spec": {}}
    assert pod_info(bare, [empty]).spread == ""
