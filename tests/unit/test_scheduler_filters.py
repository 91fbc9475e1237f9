"""Scheduler filters and the failure message, on small snapshots."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scheduler_support import node, place, pod, snapshot_of

from minikube13.scheduler.core import failure_message, schedule
from minikube13.scheduler.filters import match_expression
from minikube13.scheduler.podinfo import effective_request, pod_info
from minikube13.scheduler.snapshot import VolumePlacement, volume_placement


def message(obj: dict[str, Any], *nodes: dict[str, Any]) -> str:
    snap = snapshot_of(*nodes)
    decision = schedule(obj, snap, random.Random(1))
    assert isinstance(decision, list), decision
    return why(decision, len(nodes))


def why(decision: Any, total: int) -> str:
    assert isinstance(decision, list), decision
    return failure_message(decision, total)


def test_insufficient_cpu_and_node_selector_message() -> None:
    """A pod that fits nowhere gets kube's '0/3 nodes are available: ...' text."""
    text = message(pod(cpu="3", nodeSelector={"disk": "ssd"}),
                   node("a", cpu="2", labels={"disk": "ssd"}),
                   node("b", cpu="2", labels={"disk": "ssd"}), node("c", cpu="8"))
    assert text == ("0/3 nodes are available: 1 node(s) didn't match node selector, "
                    "2 Insufficient cpu.")


def test_every_insufficient_resource_is_counted() -> None:
    """cpu and memory short on one node are both reported."""
    text = message(pod(cpu="3", memory="10Gi"), node("a", cpu="2", memory="1Gi"))
    assert text == "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."


def test_requests_of_bound_pods_are_subtracted() -> None:
    """A node half full takes a pod that fits the rest, not one that needs more."""
    snap = snapshot_of(node("a", cpu="2"))
    rng = random.Random(1)
    assert place(snap, pod("first", cpu="1500m"), rng) == "a"
    decision = schedule(pod("second", cpu="600m"), snap, rng)
    assert why(decision, 1) == "0/1 nodes are available: 1 Insufficient cpu."
    assert schedule(pod("third", cpu="500m"), snap, rng) == "a"


def test_pod_count_limit() -> None:
    """A node at its pods capacity is 'Too many pods'."""
    snap = snapshot_of(node("a", pods=1))
    place(snap, pod("one"), random.Random(1))
    decision = schedule(pod("two"), snap, random.Random(1))
    assert why(decision, 1) == "0/1 nodes are available: 1 Too many pods."


@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "alpha.kubernetes.io/nvidia-gpu"])
def test_gpus_are_a_resource(resource: str) -> None:
    """A pod asking for a GPU goes only to the node that has one."""
    obj = pod("gpu")
    obj["spec"]["containers"][0]["resources"] = {"limits": {resource: "1"}}
    snap = snapshot_of(node("plain"), node("gpu", extra={resource: "1"}))
    assert place(snap, obj, random.Random(3)) == "gpu"
    assert why(schedule(obj, snap, random.Random(3)), 2) == (
        f"0/2 nodes are available: 2 Insufficient {resource}.")


def test_effective_request_of_init_containers() -> None:
    """The effective request is max(largest init container, sum of app containers)."""
    spec = {"initContainers": [{"resources": {"requests": {"cpu": "2"}}},
                               {"resources": {"limits": {"memory": "1Gi"}}}],
            "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "100Mi"}}},
                           {"resources": {"requests": {"cpu": "500m", "memory": "100Mi"}}}]}
    assert effective_request(spec) == {"cpu": 2000, "memory": 1024 ** 3}


def test_limits_are_requests_when_only_limits_are_given() -> None:
    """A container with only limits requests its limits."""
    spec = {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                          "requests": {"cpu": "250m"}}}]}
    assert effective_request(spec) == {"cpu": 250, "memory": 1024 ** 3}


def test_init_containers_annotation_of_13() -> None:
    """The 1.3 init-containers annotation counts like spec.initContainers."""
    annotations = {"pod.beta.kubernetes.io/init-containers":
                   '[{"name": "i", "resources": {"requests": {"cpu": "3"}}}]'}
    obj = pod("init", cpu="1")
    obj["metadata"]["annotations"] = annotations
    assert pod_info(obj).cpu == 3000


def test_cordoned_and_not_ready_nodes() -> None:
    """Cordoned and NotReady nodes are skipped, with their reasons."""
    text = message(pod(), node("a", unschedulable=True), node("b", ready=False))
    assert text == "0/2 nodes are available: 1 node(s) were not ready, " \
                   "1 node(s) were unschedulable."


def test_tolerating_unschedulable_taint_allows_cordoned_node() -> None:
    """A pod tolerating node.kubernetes.io/unschedulable may land on a cordoned node."""
    obj = pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                            "effect": "NoSchedule"}])
    assert schedule(obj, snapshot_of(node("a", unschedulable=True)), random.Random(1)) == "a"


def test_taints_and_tolerations() -> None:
    """A NoSchedule taint keeps pods off unless they tolerate it; PreferNoSchedule does not."""
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    nodes = (node("t", taints=[taint]),)
    assert message(pod(), *nodes) == \
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}."
    equal = pod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}])
    anything = pod(tolerations=[{"operator": "Exists"}])
    wrong = pod(tolerations=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    assert schedule(equal, snapshot_of(*nodes), random.Random(1)) == "t"
    assert schedule(anything, snapshot_of(*nodes), random.Random(1)) == "t"
    assert isinstance(schedule(wrong, snapshot_of(*nodes), random.Random(1)), list)
    soft = node("s", taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert schedule(pod(), snapshot_of(soft), random.Random(1)) == "s"


@pytest.mark.parametrize(("operator", "values", "labels", "expected"), [
    ("In", ["a", "b"], {"k": "a"}, True),
    ("In", ["a"], {"k": "c"}, False),
    ("NotIn", ["a"], {"k": "c"}, True),
    ("NotIn", ["a"], {}, True),
    ("Exists", [], {"k": ""}, True),
    ("DoesNotExist", [], {"k": "x"}, False),
    ("Gt", ["4"], {"k": "5"}, True),
    ("Gt", ["4"], {"k": "4"}, False),
    ("Lt", ["4"], {"k": "3"}, True),
    ("Lt", ["4"], {"k": "x"}, False),
])
def test_node_affinity_operators(operator: str, values: list[str], labels: dict[str, str],
                                 expected: bool) -> None:
    """Each nodeSelectorRequirement operator matches as in Kubernetes."""
    assert match_expression({"key": "k", "operator": operator, "values": values},
                            labels) is expected


def test_required_node_affinity_terms_are_ored() -> None:
    """A pod with required node affinity goes to a node matching one of its terms."""
    terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]},
             {"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["3"]}]}]
    obj = pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                                         {"nodeSelectorTerms": terms}}})
    snap = snapshot_of(node("old", labels={"gen": "2"}), node("new", labels={"gen": "4"}))
    assert schedule(obj, snap, random.Random(1)) == "new"
    assert message(obj, node("old", labels={"gen": "2"})) == \
        "0/1 nodes are available: 1 node(s) didn't match node selector."


def test_host_ports_conflict() -> None:
    """Two pods wanting host port 80 land on different nodes; a third fits nowhere."""
    def web(name: str) -> dict[str, Any]:
        obj = pod(name)
        obj["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 80}]
        return obj

    snap = snapshot_of(node("a"), node("b"))
    rng = random.Random(1)
    assert {place(snap, web("w1"), rng), place(snap, web("w2"), rng)} == {"a", "b"}
    decision = schedule(web("w3"), snap, rng)
    assert why(decision, 2) == (
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports.")


def pv(labels: dict[str, str], terms: list[Any] | None = None) -> VolumePlacement:
    spec: dict[str, Any] = {"claimRef": {"namespace": "default", "name": "data"}}
    if terms is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    found = volume_placement({"metadata": {"name": "pv", "labels": labels}, "spec": spec})
    assert found is not None and found[0] == "default/data"
    return found[1]


def test_volume_zone() -> None:
    """A pod whose claim is bound to a volume in zone b goes to zone b."""
    zone = "failure-domain.beta.kubernetes.io/zone"
    snap = snapshot_of(node("a", labels={zone: "a"}), node("b", labels={zone: "b"}))
    snap.set_claim_volume("default/data", pv({zone: "b__x"}))
    obj = pod(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    assert schedule(obj, snap, random.Random(1)) == "b"
    snap.set_claim_volume("default/data", pv({zone: "c"}))
    assert why(schedule(obj, snap, random.Random(1)), 2) == (
        "0/2 nodes are available: 2 node(s) had no available volume zone.")


def test_local_volume_node_affinity() -> None:
    """A pod whose claim is bound to a local volume goes to the volume's node."""
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                  "values": ["b"]}]}
    snap = snapshot_of(node("a", labels={"kubernetes.io/hostname": "a"}),
                       node("b", labels={"kubernetes.io/hostname": "b"}))
    snap.set_claim_volume("default/data", pv({}, [term]))
    obj = pod(volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}])
    assert schedule(obj, snap, random.Random(1)) == "b"
    snap.remove_node("b")
    assert why(schedule(obj, snap, random.Random(1)), 1) == (
        "0/1 nodes are available: 1 node(s) had volume node affinity conflict.")
