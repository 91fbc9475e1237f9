"""The real kubectl (1.32), without extra flags: discovery, explain, edit, cascading and
selective deletes, TLS secrets, namespaces and `get all` against a test daemon."""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .e2e_support import (
    admin_credentials,
    ensure_namespace,
    kubectl,
    kubectl_argv,
    kubectl_json,
    to_yaml,
)

# (plural, apiVersion) of every kind issue 2 lists, as `kubectl api-resources` must show them.
EXPECTED_RESOURCES = [
    ("pods", "v1"), ("services", "v1"), ("endpoints", "v1"), ("secrets", "v1"),
    ("configmaps", "v1"), ("nodes", "v1"), ("events", "v1"), ("serviceaccounts", "v1"),
    ("persistentvolumes", "v1"), ("persistentvolumeclaims", "v1"),
    ("replicationcontrollers", "v1"), ("namespaces", "v1"),
    ("statefulsets", "apps/v1"), ("deployments", "apps/v1"), ("replicasets", "apps/v1"),
    ("petsets", "apps/v1alpha1"),
    ("jobs", "batch/v1"), ("cronjobs", "batch/v1"), ("scheduledjobs", "batch/v2alpha1"),
    ("deployments", "extensions/v1beta1"), ("replicasets", "extensions/v1beta1"),
    *((plural, f"rbac.authorization.k8s.io/{v}")
      for v in ("v1", "v1alpha1")
      for plural in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")),
    ("clusters", "federation/v1beta1"), ("leases", "coordination.k8s.io/v1"),
]


def test_api_resources_lists_every_kind(daemon: Any) -> None:
    """`kubectl api-resources` and `api-versions` show every kind of the 1.3 feature set."""
    out = kubectl(daemon, "api-resources").stdout.splitlines()
    assert out[0].split()[:1] == ["NAME"]
    rows = {(line.split()[0], version) for line in out[1:]
            for version in line.split() if "/" in version or version == "v1"}
    # api-resources shows a plural once per group, at the group's preferred version
    # (rbac v1alpha1 folds into v1); every version is in api-versions and its own list.
    preferred = [(plural, v) for plural, v in EXPECTED_RESOURCES if not v.endswith("v1alpha1")
                 or plural == "petsets"]
    missing = [r for r in preferred if r not in rows]
    assert not missing, f"api-resources lacks {missing}"
    versions = set(kubectl(daemon, "api-versions").stdout.split())
    assert {v for _, v in EXPECTED_RESOURCES} <= versions, versions
    for plural, version in EXPECTED_RESOURCES:
        listing = json.loads(kubectl(daemon, "get", "--raw",
                                     f"/{'api' if version == 'v1' else 'apis'}/{version}").stdout)
        assert plural in [r["name"] for r in listing["resources"]], (plural, version)


def test_explain_pod_containers(daemon: Any) -> None:
    """`kubectl explain pod.spec.containers` describes the container fields from OpenAPI."""
    out = kubectl(daemon, "explain", "pod.spec.containers").stdout
    assert "KIND:" in out and "Pod" in out
    assert "FIELDS:" in out
    for field in ("image", "name", "command", "ports", "env", "resources"):
        assert f"\n  {field}\t" in out or f"\n  {field} " in out or f"  {field}\t" in out, \
            f"{field} missing from explain:\n{out}"


@pytest.mark.parametrize("kind,manifest,sed,check", [
    ("configmap", {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "e2e-edit-cm"}, "data": {"color": "blue"}},
     "s/color: blue/color: green/", (("data", "color"), "green")),
    ("deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "e2e-edit-deploy"},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "ed"}},
                             "template": {"metadata": {"labels": {"app": "ed"}},
                                          "spec": {"containers": [
                                              {"name": "m", "image": "busybox:1.35"}]}}}},
     "s/replicas: 1/replicas: 3/", (("spec", "replicas"), 3)),
])
def test_edit_changes_object(daemon: Any, tmp_path: Path, kind: str, manifest: dict[str, Any],
                             sed: str, check: tuple[tuple[str, ...], Any]) -> None:
    """`kubectl edit` with an editor that changes one field saves that change."""
    ns = "e2e-edit"
    ensure_namespace(daemon, ns)
    kubectl(daemon, "create", "-n", ns, "-f", "-", input=to_yaml(manifest))
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\nsed -i '{sed}' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, KUBE_EDITOR=str(editor), EDITOR=str(editor))
    name = manifest["metadata"]["name"]
    run = subprocess.run(kubectl_argv(daemon, "edit", kind, name, "-n", ns), env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "edited" in run.stdout, run
    obj = kubectl_json(daemon, "get", kind, name, "-n", ns)
    path, value = check
    assert obj[path[0]][path[1]] == value


def _owner_and_dependent(daemon: Any, ns: str, suffix: str) -> tuple[str, str]:
    owner_name, dependent_name = f"owner-{suffix}", f"dependent-{suffix}"
    owner = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": owner_name}, "data": {"role": "owner"}}
    created = kubectl_json(daemon, "create", "-n", ns, "-f", "-", input=to_yaml(owner))
    dependent = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": dependent_name, "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": owner_name,
            "uid": created["metadata"]["uid"], "blockOwnerDeletion": True}]},
        "spec": {"containers": [{"name": "m", "image": "busybox:1.35"}]},
    }
    kubectl(daemon, "create", "-n", ns, "-f", "-", input=to_yaml(dependent))
    return owner_name, dependent_name


def _wait_gone(daemon: Any, ns: str, kind: str, name: str, timeout: float = 20) -> bool:
    run = kubectl(daemon, "wait", "--for=delete", f"{kind}/{name}", "-n", ns,
                  f"--timeout={int(timeout)}s", check=False)
    return run.returncode == 0 or "NotFound" in run.stderr or "not found" in run.stderr


@pytest.mark.parametrize("cascade", ["foreground", "background", "orphan"])
def test_delete_cascade(daemon: Any, cascade: str) -> None:
    """`kubectl delete --cascade=...` removes (or orphans) a dependent with ownerReferences."""
    ns = "e2e-cascade"
    ensure_namespace(daemon, ns)
    owner, dependent = _owner_and_dependent(daemon, ns, cascade)
    out = kubectl(daemon, "delete", "configmap", owner, "-n", ns, f"--cascade={cascade}",
                  "--timeout=30s")
    assert "deleted" in out.stdout
    assert _wait_gone(daemon, ns, "configmap", owner)
    if cascade == "orphan":
        pod = kubectl_json(daemon, "get", "pod", dependent, "-n", ns)
        assert not pod["metadata"].get("ownerReferences"), "orphan keeps no owner reference"
        kubectl(daemon, "delete", "pod", dependent, "-n", ns)
    else:
        assert _wait_gone(daemon, ns, "pod", dependent), f"{dependent} survived its owner"


def test_delete_by_label_selector(daemon: Any) -> None:
    """`kubectl delete -l` deletes exactly the objects the selector matches."""
    ns = "e2e-delete-l"
    ensure_namespace(daemon, ns)
    for name, group in (("sel-a", "x"), ("sel-b", "x"), ("sel-c", "y")):
        kubectl(daemon, "create", "configmap", name, "-n", ns, "--from-literal=k=v")
        kubectl(daemon, "label", "configmap", name, "-n", ns, f"e2e-group={group}")
    out = kubectl(daemon, "delete", "configmaps", "-n", ns, "-l", "e2e-group=x").stdout
    assert "sel-a" in out and "sel-b" in out and "sel-c" not in out
    left = kubectl(daemon, "get", "configmaps", "-n", ns, "-l", "e2e-group", "-o", "name")
    assert left.stdout.split() == ["configmap/sel-c"]


def test_delete_all(daemon: Any) -> None:
    """`kubectl delete --all` empties one namespace and leaves the others alone."""
    ns, other = "e2e-delete-all", "e2e-delete-all-other"
    for n in (ns, other):
        ensure_namespace(daemon, n)
        for i in range(3):
            kubectl(daemon, "create", "configmap", f"all-{i}", "-n", n, "--from-literal=k=v")
    kubectl(daemon, "delete", "configmaps", "--all", "-n", ns)
    left = kubectl(daemon, "get", "configmaps", "-n", ns, "-o", "name").stdout.split()
    assert not [x for x in left if "all-" in x]
    kept = kubectl(daemon, "get", "configmaps", "-n", other, "-o", "name").stdout.split()
    assert {"configmap/all-0", "configmap/all-1", "configmap/all-2"} <= set(kept)


def _cert_and_key(tmp_path: Path, cn: str) -> tuple[Path, Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    crt_path, key_path = tmp_path / f"{cn}.crt", tmp_path / f"{cn}.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return crt_path, key_path, key


def test_create_secret_tls(daemon: Any, tmp_path: Path) -> None:
    """`kubectl create secret tls` stores a kubernetes.io/tls secret with tls.crt and tls.key."""
    ns = "e2e-tls"
    ensure_namespace(daemon, ns)
    crt, key, _ = _cert_and_key(tmp_path, "e2e.example")
    kubectl(daemon, "create", "secret", "tls", "e2e-tls", "-n", ns,
            f"--cert={crt}", f"--key={key}")
    secret = kubectl_json(daemon, "get", "secret", "e2e-tls", "-n", ns)
    assert secret["type"] == "kubernetes.io/tls"
    import base64
    assert base64.b64decode(secret["data"]["tls.crt"]) == crt.read_bytes()
    assert base64.b64decode(secret["data"]["tls.key"]) == key.read_bytes()


def _tls_secret(name: str, crt: bytes, key: bytes | None) -> dict[str, Any]:
    import base64
    data = {"tls.crt": base64.b64encode(crt).decode()}
    if key is not None:
        data["tls.key"] = base64.b64encode(key).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name}, "data": data}


@pytest.mark.parametrize("problem", ["mismatched-key", "missing-key"])
def test_bad_tls_secret_refused_with_422(daemon: Any, tmp_path: Path, problem: str) -> None:
    """A TLS secret whose key does not match (or is missing) is refused with 422 naming tls.key."""
    ns = "e2e-tls"
    ensure_namespace(daemon, ns)
    crt, _, _ = _cert_and_key(tmp_path, "one.example")
    _, other_key, _ = _cert_and_key(tmp_path, "two.example")
    body = _tls_secret(f"bad-{problem}", crt.read_bytes(),
                       other_key.read_bytes() if problem == "mismatched-key" else None)
    via_kubectl = kubectl(daemon, "create", "-n", ns, "-f", "-", input=to_yaml(body),
                          check=False)
    assert via_kubectl.returncode != 0
    assert "is invalid" in via_kubectl.stderr and "tls.key" in via_kubectl.stderr, via_kubectl
    creds = admin_credentials(daemon.kubeconfig)
    with creds.session() as s:
        r = s.post(f"{creds.server}/api/v1/namespaces/{ns}/secrets", json=body, timeout=10)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    assert any("tls.key" in c.get("field", "") for c in status["details"]["causes"]), status
    gone = kubectl(daemon, "get", "secret", body["metadata"]["name"], "-n", ns, check=False)
    assert gone.returncode != 0


def test_create_namespace(daemon: Any) -> None:
    """`kubectl create namespace` makes an Active namespace that `get ns` lists."""
    out = kubectl(daemon, "create", "namespace", "e2e-created-ns").stdout
    assert "created" in out
    ns = kubectl_json(daemon, "get", "namespace", "e2e-created-ns")
    assert ns["status"]["phase"] == "Active"
    names = kubectl(daemon, "get", "ns", "-o", "name").stdout.split()
    for expected in ("default", "kube-system", "kube-public", "e2e-created-ns"):
        assert f"namespace/{expected}" in names


def test_get_all(daemon: Any) -> None:
    """`kubectl get all` shows the pods, services and workloads of a namespace."""
    ns = "e2e-get-all"
    ensure_namespace(daemon, ns)
    kubectl(daemon, "run", "all-pod", "-n", ns, "--image=busybox:1.35", "--restart=Never")
    kubectl(daemon, "create", "service", "clusterip", "all-svc", "-n", ns, "--tcp=80:8080")
    kubectl(daemon, "create", "deployment", "all-deploy", "-n", ns, "--image=busybox:1.35")
    kubectl(daemon, "create", "cronjob", "all-cron", "-n", ns, "--image=busybox:1.35",
            "--schedule=*/5 * * * *")
    out = kubectl(daemon, "get", "all", "-n", ns).stdout
    for expected in ("pod/all-pod", "service/all-svc", "deployment.apps/all-deploy",
                     "cronjob.batch/all-cron"):
        assert expected in out, f"{expected} missing from get all:\n{out}"
    names = kubectl(daemon, "get", "all", "-n", ns, "-o", "name").stdout.split()
    assert "pod/all-pod" in names
    assert json.loads(kubectl(daemon, "get", "all", "-n", ns, "-o", "json").stdout)["items"]
