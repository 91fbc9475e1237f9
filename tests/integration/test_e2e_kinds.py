"""The real kubectl (1.32) drives every kind of the 1.3 feature set through its whole life:
create, apply (twice and changed), get in every output format, describe, label, annotate,
the three patch types, delete, and `get -w` watching all of it. No extra kubectl flags."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from .e2e_support import (
    LineWatcher,
    ensure_namespace,
    kubectl,
    kubectl_argv,
    load_manifest,
    to_yaml,
)

NS = "e2e-kinds"
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class KindCase:
    """One kind: its manifest, the kubectl resource argument, and a change to apply."""

    manifest: str
    resource: str  # fully qualified where two groups serve the same plural
    namespaced: bool
    change: Path
    new_value: Any

    @property
    def id(self) -> str:
        return self.manifest.removesuffix(".yaml")


CASES = [
    # core/v1
    KindCase("namespace.yaml", "namespaces", False, ("metadata", "labels", "tier"), "b"),
    KindCase("pod.yaml", "pods", True, ("spec", "containers", 0, "image"), "busybox:1.36"),
    KindCase("service.yaml", "services", True, ("spec", "selector", "app"), "b"),
    KindCase("endpoints.yaml", "endpoints", True,
             ("subsets", 0, "addresses", 0, "ip"), "10.1.0.2"),
    KindCase("secret.yaml", "secrets", True, ("data", "k"), "djI="),
    KindCase("configmap.yaml", "configmaps", True, ("data", "k"), "v2"),
    KindCase("node.yaml", "nodes", False, ("spec", "unschedulable"), True),
    KindCase("event.yaml", "events", True, ("message",), "second"),
    KindCase("serviceaccount.yaml", "serviceaccounts", True,
             ("automountServiceAccountToken",), False),
    KindCase("persistentvolume.yaml", "persistentvolumes", False,
             ("spec", "capacity", "storage"), "2Gi"),
    KindCase("persistentvolumeclaim.yaml", "persistentvolumeclaims", True,
             ("metadata", "labels", "tier"), "b"),
    KindCase("replicationcontroller.yaml", "replicationcontrollers", True,
             ("spec", "replicas"), 2),
    # apps
    KindCase("petset-v1alpha1.yaml", "petsets.v1alpha1.apps", True, ("spec", "replicas"), 2),
    KindCase("statefulset-apps-v1.yaml", "statefulsets.v1.apps", True, ("spec", "replicas"), 2),
    KindCase("deployment-apps-v1.yaml", "deployments.v1.apps", True, ("spec", "replicas"), 2),
    KindCase("replicaset-apps-v1.yaml", "replicasets.v1.apps", True, ("spec", "replicas"), 2),
    # batch
    KindCase("job-batch-v1.yaml", "jobs.v1.batch", True, ("spec", "parallelism"), 2),
    KindCase("scheduledjob-v2alpha1.yaml", "scheduledjobs.v2alpha1.batch", True,
             ("spec", "schedule"), "*/10 * * * *"),
    KindCase("cronjob-batch-v1.yaml", "cronjobs.v1.batch", True,
             ("spec", "schedule"), "*/10 * * * *"),
    # extensions/v1beta1
    KindCase("replicaset-extensions-v1beta1.yaml", "replicasets.v1beta1.extensions", True,
             ("spec", "replicas"), 2),
    KindCase("deployment-extensions-v1beta1.yaml", "deployments.v1beta1.extensions", True,
             ("spec", "replicas"), 2),
    # rbac v1 and v1alpha1
    *(
        case
        for v in ("v1", "v1alpha1")
        for case in (
            KindCase(f"role-rbac-{v}.yaml", f"roles.{v}.rbac.authorization.k8s.io", True,
                     ("rules", 0, "verbs"), ["get", "list"]),
            KindCase(f"clusterrole-rbac-{v}.yaml",
                     f"clusterroles.{v}.rbac.authorization.k8s.io", False,
                     ("rules", 0, "verbs"), ["get", "list"]),
            KindCase(f"rolebinding-rbac-{v}.yaml",
                     f"rolebindings.{v}.rbac.authorization.k8s.io", True,
                     ("subjects", 0, "name"), "bob"),
            KindCase(f"clusterrolebinding-rbac-{v}.yaml",
                     f"clusterrolebindings.{v}.rbac.authorization.k8s.io", False,
                     ("subjects", 0, "name"), "e2e-operators"),
        )
    ),
    # federation, coordination
    KindCase("cluster-federation-v1beta1.yaml", "clusters.v1beta1.federation", False,
             ("spec", "serverAddressByClientCIDRs", 0, "serverAddress"),
             "https://10.0.0.2:6443"),
    KindCase("lease-coordination-v1.yaml", "leases.v1.coordination.k8s.io", True,
             ("spec", "holderIdentity"), "b"),
]


def at(obj: Any, path: Path) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def changed(manifest: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    at(out, path[:-1])[path[-1]] = value
    return out


def expected_name(manifest: dict[str, Any]) -> str:
    """What `kubectl get -o name` prints: kind.group/name (kind alone for core/v1)."""
    group = manifest["apiVersion"].rpartition("/")[0]
    kind = manifest["kind"].lower()
    return f"{kind}.{group}/{manifest['metadata']['name']}" if group else \
        f"{kind}/{manifest['metadata']['name']}"


@pytest.fixture(scope="module")
def kinds_ns(daemon: Any) -> str:
    ensure_namespace(daemon, NS)
    return NS


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kubectl_drives_kind_through_its_life(daemon: Any, kinds_ns: str,
                                              case: KindCase) -> None:
    """kubectl create/apply/get/describe/label/annotate/patch/delete work and get -w shows it."""
    manifest = load_manifest(f"kinds/{case.manifest}", ns=kinds_ns)
    name = manifest["metadata"]["name"]
    scope = ["-n", kinds_ns] if case.namespaced else []

    def kc(*args: str, input: str | None = None, check: bool = True) -> Any:
        return kubectl(daemon, *args, *scope, input=input, check=check)

    watcher = LineWatcher(kubectl_argv(daemon, "get", case.resource, "-w", *scope))
    try:
        _create_and_apply(kc, case, manifest)
        _read_back(kc, case, manifest)
        _label_annotate_patch(kc, case, name)
        deleted = kc("delete", case.resource, name, "--timeout=60s")
        assert "deleted" in deleted.stdout
        gone = kc("get", case.resource, name, check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, gone
        # events print OBJECT, not NAME, in their table
        marker = "pod/e2e-pod" if case.resource == "events" else name
        saw = watcher.wait_for(lambda lines: sum(marker in ln for ln in lines) >= 3)
        assert saw, f"get -w printed: {watcher.lines}"
    finally:
        watch_err = watcher.stop()
    assert "error" not in watch_err.lower(), watch_err


def _create_and_apply(kc: Any, case: KindCase, manifest: dict[str, Any]) -> None:
    text = to_yaml(manifest)
    created = kc("create", "-f", "-", input=text)
    assert "created" in created.stdout
    rv = "jsonpath={.metadata.resourceVersion}"
    # the first apply adopts the created object (adds the last-applied annotation)
    first = kc("apply", "-f", "-", "-o", rv, input=text).stdout
    second = kc("apply", "-f", "-", "-o", rv, input=text).stdout
    assert first and first == second, f"apply is not idempotent: rv {first} -> {second}"
    newer = changed(manifest, case.change, case.new_value)
    applied = json.loads(kc("apply", "-f", "-", "-o", "json", input=to_yaml(newer)).stdout)
    assert at(applied, case.change) == case.new_value
    assert int(applied["metadata"]["resourceVersion"]) > int(second)


def _read_back(kc: Any, case: KindCase, manifest: dict[str, Any]) -> None:
    name = manifest["metadata"]["name"]
    as_yaml = yaml.safe_load(kc("get", case.resource, name, "-o", "yaml").stdout)
    assert (as_yaml["apiVersion"], as_yaml["kind"]) == (manifest["apiVersion"], manifest["kind"])
    assert at(as_yaml, case.change) == case.new_value
    as_json = json.loads(kc("get", case.resource, name, "-o", "json").stdout)
    assert as_json["metadata"]["uid"] == as_yaml["metadata"]["uid"]
    wide = kc("get", case.resource, name, "-o", "wide").stdout.splitlines()
    # a server-side Table: a header row, then our row (events put NAME last, in wide only)
    assert len(wide) == 2 and name in wide[1].split(), wide
    assert kc("get", case.resource, name, "-o", "name").stdout.strip() == expected_name(manifest)
    path = kc("get", case.resource, name, "-o", "jsonpath={.metadata.name}").stdout
    assert path == name
    described = kc("describe", case.resource, name).stdout
    assert "Name:" in described and name in described


def _label_annotate_patch(kc: Any, case: KindCase, name: str) -> None:
    kc("label", case.resource, name, "e2e-label=yes")
    kc("annotate", case.resource, name, "e2e-note=hello")
    kc("patch", case.resource, name, "--type=strategic",
       "-p", '{"metadata":{"labels":{"patched-strategic":"yes"}}}')
    kc("patch", case.resource, name, "--type=merge",
       "-p", '{"metadata":{"labels":{"patched-merge":"yes"}}}')
    kc("patch", case.resource, name, "--type=json",
       "-p", '[{"op":"add","path":"/metadata/annotations/patched-json","value":"yes"}]')
    obj = json.loads(kc("get", case.resource, name, "-o", "json").stdout)
    labels, notes = obj["metadata"]["labels"], obj["metadata"]["annotations"]
    assert labels["e2e-label"] == "yes" and notes["e2e-note"] == "hello"
    assert labels["patched-strategic"] == "yes" and labels["patched-merge"] == "yes"
    assert notes["patched-json"] == "yes"
    assert at(obj, case.change) == case.new_value  # the patches kept the applied change
