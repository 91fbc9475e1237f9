"""Kubernetes 1.3 manifests from the seed document go in through kubectl and come back in
both their 1.3 spelling and today's (ScheduledJob/CronJob, PetSet/StatefulSet, init
containers as annotation and as field)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .e2e_support import (
    MANIFESTS,
    admin_credentials,
    ensure_namespace,
    kubectl,
    kubectl_json,
    to_yaml,
)

NS = "e2e-seed"
INIT_ANNOTATION = "pod.alpha.kubernetes.io/init-containers"


def _seed(name: str) -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / "seed" / name).read_text())


def test_seed_scheduledjob_refused_then_accepted_and_served_as_cronjob(daemon: Any) -> None:
    """The seed ScheduledJob's "0 0 0 0 0" is refused naming spec.schedule; fixed, it is a CronJob."""
    ensure_namespace(daemon, NS)
    path = MANIFESTS / "seed" / "seed-scheduledjob.yaml"
    refused = kubectl(daemon, "create", "-n", NS, "-f", str(path), check=False)
    assert refused.returncode != 0
    assert "is invalid" in refused.stderr and "spec.schedule" in refused.stderr, refused
    creds = admin_credentials(daemon.kubeconfig)
    with creds.session() as s:
        r = s.post(f"{creds.server}/apis/batch/v2alpha1/namespaces/{NS}/scheduledjobs",
                   json=_seed("seed-scheduledjob.yaml"), timeout=10)
    assert r.status_code == 422, r.text
    causes = r.json()["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec.schedule"], causes
    assert kubectl(daemon, "get", "scheduledjobs", "pi", "-n", NS, check=False).returncode != 0

    fixed = _seed("seed-scheduledjob.yaml")
    fixed["spec"]["schedule"] = "0 0 1 1 *"
    kubectl(daemon, "create", "-n", NS, "-f", "-", input=to_yaml(fixed))
    as_1_3 = kubectl_json(daemon, "get", "scheduledjobs.v2alpha1.batch", "pi", "-n", NS)
    assert (as_1_3["apiVersion"], as_1_3["kind"]) == ("batch/v2alpha1", "ScheduledJob")
    cron = kubectl_json(daemon, "get", "cronjobs.v1.batch", "pi", "-n", NS)
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    spec = cron["spec"]
    assert spec["schedule"] == "0 0 1 1 *"
    assert spec["startingDeadlineSeconds"] == 30
    assert spec["concurrencyPolicy"] == "Allow" and spec["suspend"] is False
    container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "perl" and container["command"][0] == "perl"
    assert cron["metadata"]["uid"] == as_1_3["metadata"]["uid"]  # one object, two spellings


def test_seed_init_container_pod_served_with_field_and_annotation(daemon: Any) -> None:
    """The seed pod's spec.initContainers read back as the field and as the 1.3 annotation."""
    ensure_namespace(daemon, NS)
    kubectl(daemon, "create", "-n", NS, "-f", str(MANIFESTS / "seed" / "seed-initcontainers.yaml"))
    pod = kubectl_json(daemon, "get", "pod", "seed-init", "-n", NS)
    init = pod["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["wait"] and init[0]["image"] == "centos:centos7"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["run"]
    annotated = json.loads(pod["metadata"]["annotations"][INIT_ANNOTATION])
    assert [c["name"] for c in annotated] == ["wait"]
    described = kubectl(daemon, "describe", "pod", "seed-init", "-n", NS).stdout
    assert "Init Containers:" in described and "wait:" in described


def test_init_container_annotation_becomes_field(daemon: Any) -> None:
    """A pod written with only the 1.3 init-containers annotation is served with initContainers."""
    ensure_namespace(daemon, NS)
    path = MANIFESTS / "seed" / "initcontainers-annotation.yaml"
    kubectl(daemon, "create", "-n", NS, "-f", str(path))
    pod = kubectl_json(daemon, "get", "pod", "seed-init-annotation", "-n", NS)
    init = pod["spec"].get("initContainers") or []
    assert [c["name"] for c in init] == ["install"], pod["spec"]
    assert init[0]["volumeMounts"][0]["mountPath"] == "/work"


def test_petset_read_back_as_statefulset(daemon: Any) -> None:
    """A PetSet created as apps/v1alpha1 reads back as an apps/v1 StatefulSet with a selector."""
    ensure_namespace(daemon, NS)
    kubectl(daemon, "create", "-n", NS, "-f", str(MANIFESTS / "seed" / "petset-v1alpha1.yaml"))
    sts = kubectl_json(daemon, "get", "statefulsets.v1.apps", "web", "-n", NS)
    assert (sts["apiVersion"], sts["kind"]) == ("apps/v1", "StatefulSet")
    spec = sts["spec"]
    assert spec["serviceName"] == "nginx" and spec["replicas"] == 2
    assert spec["selector"]["matchLabels"] == {"app": "nginx"}
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "www"
    pet = kubectl_json(daemon, "get", "petsets.v1alpha1.apps", "web", "-n", NS)
    assert (pet["apiVersion"], pet["kind"]) == ("apps/v1alpha1", "PetSet")
    assert pet["metadata"]["uid"] == sts["metadata"]["uid"]
    listed = kubectl(daemon, "get", "statefulsets", "-n", NS, "-o", "name").stdout.split()
    assert "statefulset.apps/web" in listed
