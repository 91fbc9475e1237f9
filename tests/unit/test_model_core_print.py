"""1.3 init-container annotations, `kubectl get` table cells, field labels and OpenAPI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube13.model import kinds, objects, openapi
from minikube13.model.groups.meta import human_duration
from minikube13.model.kinds import ResourceInfo

# The project's copy of ../shared/manifests/seed-initcontainers.yaml (so a checkout needs no ../shared).
SEED = Path(__file__).resolve().parents[1] / "integration" / "manifests" / "seed" / \
    "seed-initcontainers.yaml"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ALPHA = "pod.alpha.kubernetes.io/init-containers"
BETA = "pod.beta.kubernetes.io/init-containers"


def info(group: str, version: str, plural: str) -> ResourceInfo:
    found = kinds.find(group, version, plural)
    assert found is not None
    return found


POD = info("", "v1", "pods")


def ago(seconds: int) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_pod() -> dict[str, Any]:
    doc = yaml.safe_load(SEED.read_text())
    doc["metadata"]["namespace"] = "default"
    return doc


def as_13_client(pod: dict[str, Any]) -> dict[str, Any]:
    """The same pod as a 1.3 client writes it: init containers in the alpha annotation."""
    init = pod["spec"].pop("initContainers")
    pod["metadata"]["annotations"] = {ALPHA: json.dumps(init)}
    return pod


def test_alpha_annotation_becomes_the_field_and_is_stored_once() -> None:
    """A 1.3 pod's init-container annotation is stored as spec.initContainers only."""
    stored = objects.to_storage(POD, as_13_client(seed_pod()))
    stored, _ = objects.admit(POD, stored, None)
    assert [c["name"] for c in stored["spec"]["initContainers"]] == ["wait"]
    assert "annotations" not in stored["metadata"]


def test_served_pod_carries_alpha_and_beta_annotations() -> None:
    """Reading the pod back gives the field and both annotations, for old and new clients."""
    stored, _ = objects.admit(POD, objects.to_storage(POD, seed_pod()), None)
    served = objects.from_storage(POD, stored)
    annotations = served["metadata"]["annotations"]
    assert json.loads(annotations[ALPHA]) == served["spec"]["initContainers"]
    assert annotations[BETA] == annotations[ALPHA]
    again, _ = objects.admit(POD, objects.to_storage(POD, served), stored)
    assert again["spec"]["initContainers"] == stored["spec"]["initContainers"]
    assert "annotations" not in again["metadata"]


def test_field_wins_over_annotation() -> None:
    """When both are set, spec.initContainers is kept and the annotation dropped."""
    pod = seed_pod()
    pod["metadata"]["annotations"] = {BETA: json.dumps([{"name": "other", "image": "x"}])}
    stored = objects.to_storage(POD, pod)
    assert [c["name"] for c in stored["spec"]["initContainers"]] == ["wait"]


def test_init_statuses_round_trip() -> None:
    """status.initContainerStatuses is served as the init-container-statuses annotation."""
    stored, _ = objects.admit(POD, objects.to_storage(POD, seed_pod()), None)
    stored["status"]["initContainerStatuses"] = [{"name": "wait", "ready": False}]
    served = objects.from_storage(POD, stored)
    text = served["metadata"]["annotations"]["pod.alpha.kubernetes.io/init-container-statuses"]
    assert json.loads(text) == [{"name": "wait", "ready": False}]


def test_unparseable_annotation_is_invalid() -> None:
    """A broken init-container annotation is refused naming the annotation."""
    from minikube13.model.errors import Invalid
    pod = seed_pod()
    pod["metadata"]["annotations"] = {ALPHA: "[not json"}
    with pytest.raises(Invalid) as err:
        objects.admit(POD, objects.to_storage(POD, pod), None)
    assert err.value.errors[0].field == f"metadata.annotations[{ALPHA}]"


@pytest.mark.parametrize("seconds,text", [
    (5, "5s"), (119, "119s"), (182, "3m2s"), (600, "10m"), (3 * 3600 + 120, "3h2m"),
    (10 * 3600, "10h"), (2 * 86400, "2d"), (3 * 86400 + 3600, "3d1h"), (400 * 86400, "400d"),
    (3 * 365 * 86400 + 5 * 86400, "3y5d"),
])
def test_age_is_human_duration(seconds: int, text: str) -> None:
    """AGE reads like kubectl's: 5s, 3m2s, 2d..."""
    assert human_duration(seconds) == text


def test_pod_row() -> None:
    """A running pod with one restart shows READY 1/1, Running and `1 (5m ago)`."""
    pod = {"metadata": {"name": "web", "creationTimestamp": ago(3600)},
           "spec": {"containers": [{"name": "a"}], "nodeName": "n1"},
           "status": {"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [
               {"name": "a", "ready": True, "restartCount": 1,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}}]}}
    assert objects.table_cells(POD, pod, NOW) == [
        "web", "1/1", "Running", "1 (5m ago)", "60m", "10.0.0.5", "n1", "<none>", "<none>"]
    names = [c["name"] for c in objects.table_columns(POD)]
    assert names == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                     "Nominated Node", "Readiness Gates"]


def test_pod_row_while_initializing() -> None:
    """A pod whose first init container runs shows Init:0/1."""
    pod = {"metadata": {"name": "p", "creationTimestamp": ago(5)},
           "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
           "status": {"phase": "Pending", "initContainerStatuses": [
               {"name": "i", "state": {"running": {}}, "restartCount": 0}]}}
    assert objects.table_cells(POD, pod, NOW)[:4] == ["p", "0/1", "Init:0/1", "0"]


def test_service_secret_namespace_rows() -> None:
    """Services, secrets and namespaces print like kubectl get against a real cluster."""
    svc = {"metadata": {"name": "web", "creationTimestamp": ago(10)},
           "spec": {"type": "NodePort", "clusterIP": "10.0.0.10", "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
    assert objects.table_cells(info("", "v1", "services"), svc, NOW) == [
        "web", "NodePort", "10.0.0.10", "<none>", "80:30080/TCP", "10s", "app=web"]
    secret = {"metadata": {"name": "s", "creationTimestamp": ago(10)}, "type": "Opaque",
              "data": {"a": "", "b": ""}}
    assert objects.table_cells(info("", "v1", "secrets"), secret, NOW) == [
        "s", "Opaque", 2, "10s"]
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(2 * 86400)},
          "status": {"phase": "Active"}}
    assert objects.table_cells(info("", "v1", "namespaces"), ns, NOW) == [
        "default", "Active", "2d"]


def test_kind_without_columns_falls_back_to_name_and_age() -> None:
    """A resource with no printer gets NAME and AGE."""
    widget = ResourceInfo("example.com", "v1", "Widget", "widgets", True, "widgets",
                          "example.com/v1", "Widget")
    assert [c["name"] for c in objects.table_columns(widget)] == ["Name", "Age"]
    assert objects.table_cells(widget, {"metadata": {"name": "w", "creationTimestamp": ago(
        65)}}, NOW) == ["w", "65s"]


def test_field_labels() -> None:
    """Pods, events and secrets expose the apiserver's selectable fields."""
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"nodeName": "n1", "restartPolicy": "Always"},
           "status": {"phase": "Running"}}
    labels = objects.field_labels(POD, pod)
    assert labels["metadata.name"] == "p" and labels["spec.nodeName"] == "n1"
    assert labels["status.phase"] == "Running" and labels["status.podIP"] == ""
    event = {"metadata": {"name": "e", "namespace": "default"}, "reason": "Started",
             "involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "k"}}
    labels = objects.field_labels(info("", "v1", "events"), event)
    assert labels["involvedObject.kind"] == "Pod" and labels["source"] == "k"
    assert "metadata.namespace" not in objects.field_labels(
        info("", "v1", "nodes"), {"metadata": {"name": "n"}})


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


@pytest.mark.parametrize("group,version", [
    (g, v) for g, versions in kinds.group_versions().items() for v in versions])
def test_openapi_is_walkable(group: str, version: str) -> None:
    """Every served kind has a component with its GVK and every $ref resolves."""
    doc = openapi.openapi_v3(group, version)
    schemas = doc["components"]["schemas"]
    assert doc["openapi"] == "3.0.0"
    for ref in _refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    gvks = {(g["group"], g["version"], g["kind"]) for s in schemas.values()
            for g in s.get("x-kubernetes-group-version-kind", [])}
    for served in kinds.RESOURCES:
        if (served.group, served.version) == (group, version):
            assert (group, version, served.kind) in gvks
            assert (group, version, served.list_kind) in gvks


def test_openapi_walks_pod_spec_containers() -> None:
    """pod -> spec -> containers -> ports resolves the way kubectl explain walks it."""
    schemas = openapi.openapi_v3("", "v1")["components"]["schemas"]

    def follow(node: dict[str, Any]) -> dict[str, Any]:
        while "allOf" in node:
            node = schemas[node["allOf"][0]["$ref"].rsplit("/", 1)[1]]
        return node

    pod = schemas["io.k8s.api.core.v1.Pod"]
    spec = follow(pod["properties"]["spec"])
    containers = spec["properties"]["containers"]
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    container = follow(containers["items"])
    assert "image" in container["properties"]
