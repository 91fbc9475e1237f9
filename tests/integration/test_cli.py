"""The `minikube13` CLI: version, and get/apply/delete/describe over the local socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import DaemonProcess

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: {cm}
  labels: {{app: cli}}
data:
  key: {value}
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: {deploy}
spec:
  replicas: 1
  template:
    metadata:
      labels: {{app: cli-web}}
    spec:
      containers:
      - name: web
        image: nginx:1.11
"""


def _manifest(value: str, cm: str = "cli-one", deploy: str = "cli-web") -> str:
    return MANIFEST.format(value=value, cm=cm, deploy=deploy)


def _cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minikube13", *args], input=input,
                          capture_output=True, text=True, timeout=60)


def test_version_names_minikube13_and_kubernetes() -> None:
    """`minikube13 version` prints its own version and the Kubernetes API version."""
    res = _cli("version")
    assert res.returncode == 0
    assert res.stdout.splitlines()[0].startswith("minikube13 0.")
    assert "Kubernetes v1.3" in res.stdout


def test_get_namespaces_as_a_table(daemon: DaemonProcess) -> None:
    """`minikube13 get ns` prints a NAME column with the bootstrap namespaces."""
    out = daemon.cli("get", "ns").stdout
    assert out.splitlines()[0].startswith("NAME")
    for ns in ("default", "kube-system", "kube-public"):
        assert ns in out


def test_apply_get_describe_delete_roundtrip(daemon: DaemonProcess) -> None:
    """apply creates, a second apply is unchanged, a changed one configures, delete removes."""
    first = daemon.cli("apply", "-f", "-", input=_manifest("v1")).stdout
    assert "configmap/cli-one created" in first
    assert "deployment.extensions/cli-web created" in first
    again = daemon.cli("apply", "-f", "-", input=_manifest("v1")).stdout
    assert "configmap/cli-one unchanged" in again
    changed = daemon.cli("apply", "-f", "-", input=_manifest("v2")).stdout
    assert "configmap/cli-one configured" in changed

    doc = yaml.safe_load(daemon.cli("get", "cm", "cli-one", "-o", "yaml").stdout)
    assert doc["kind"] == "ConfigMap" and doc["data"] == {"key": "v2"}
    listed = json.loads(daemon.cli("get", "configmaps", "-l", "app=cli", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["cli-one"]
    assert daemon.cli("get", "deploy", "cli-web", "-o", "name").stdout.strip() \
        == "deployment.apps/cli-web"
    # kubectl sees what the CLI wrote: one store, two front doors
    assert daemon.kubectl("get", "cm", "cli-one", "-o", "jsonpath={.data.key}").stdout == "v2"

    described = daemon.cli("describe", "configmap", "cli-one").stdout
    assert "Name:" in described and "cli-one" in described
    assert "app=cli" in described and "v2" in described

    deleted = daemon.cli("delete", "cm", "cli-one").stdout
    assert deleted.strip() == 'configmap "cli-one" deleted'
    daemon.cli("delete", "-f", "-", input=_manifest("v2"), check=False)
    assert daemon.kubectl("get", "cm", "cli-one", check=False).returncode != 0


def test_apply_from_a_file_in_another_namespace(daemon: DaemonProcess, tmp_path: Path) -> None:
    """`apply -f FILE -n NS` puts objects without a namespace into NS; -A lists them."""
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cli-sys}\n")
    daemon.cli("apply", "-f", str(path), "-n", "kube-public")
    assert daemon.cli("get", "cm", "cli-sys", "-n", "kube-public", "-o", "name").stdout.strip() \
        == "configmap/cli-sys"
    everywhere = daemon.cli("get", "cm", "-A").stdout
    assert "NAMESPACE" in everywhere.splitlines()[0]
    assert any(line.split()[:2] == ["kube-public", "cli-sys"] for line in everywhere.splitlines())
    daemon.cli("delete", "-f", str(path), "-n", "kube-public")


def test_errors_are_messages_not_tracebacks(daemon: DaemonProcess) -> None:
    """A missing object, an unknown kind and an invalid object give `Error: ...` and exit 1."""
    missing = daemon.cli("get", "pod", "no-such-pod", check=False)
    assert missing.returncode == 1
    assert 'pods "no-such-pod" not found' in missing.stderr
    unknown = daemon.cli("get", "widgets", check=False)
    assert unknown.returncode == 1 and 'resource type "widgets"' in unknown.stderr
    invalid = daemon.cli("apply", "-f", "-", check=False,
                         input="apiVersion: v1\nkind: Pod\nmetadata: {name: cli-bad}\nspec: {}\n")
    assert invalid.returncode == 1
    assert "spec.containers" in invalid.stderr
    for res in (missing, unknown, invalid):
        assert "Traceback" not in res.stderr


def test_cli_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    """Pointing the CLI at a socket nobody serves tells the user to start the daemon."""
    res = _cli("get", "ns", "--socket", str(tmp_path / "nobody.sock"))
    assert res.returncode == 1
    assert "cannot reach minikube13d" in res.stderr and "make up" in res.stderr
    assert "Traceback" not in res.stderr


def test_get_several_kinds_and_all(daemon: DaemonProcess) -> None:
    """`get cm,deploy` and `get all` list each kind with kind-prefixed names."""
    daemon.cli("apply", "-f", "-", input=_manifest("x", "cli-two", "cli-web2"))
    both = daemon.cli("get", "cm,deploy").stdout
    assert "configmap/cli-two" in both and "deployment.apps/cli-web2" in both
    assert "deployment.apps/cli-web2" in daemon.cli("get", "all").stdout
    names = daemon.cli("get", "deployments.extensions", "-o", "name").stdout.split()
    assert "deployment.extensions/cli-web2" in names
    daemon.cli("delete", "-f", "-", input=_manifest("x", "cli-two", "cli-web2"))
