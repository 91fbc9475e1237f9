"""The real kubectl 1.32 against build_app() over plain HTTP on loopback."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
import time
from pathlib import Path

try:  # tests/integration is a package in some checkouts, a plain directory in others
    from .test_api_support import KUBECTL, APIServerThread, api  # noqa: F401  (fixture)
except ImportError:
    from test_api_support import KUBECTL, APIServerThread, api  # type: ignore[no-redef]  # noqa: F401

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  containers:
  - name: c
    image: {image}
"""


def test_version_and_api_resources(api: APIServerThread) -> None:
    """`kubectl version` shows the 1.3 server; `api-resources` lists every served kind."""
    out = api.kubectl("version").stdout
    assert "Server Version: v1.3.0" in out
    resources = api.kubectl("api-resources").stdout
    for line in ("pods ", "po ", "statefulsets", "petsets", "scheduledjobs", "cronjobs",
                 "clusterroles", "leases", "extensions/v1beta1"):
        assert line in resources
    wide = api.kubectl("api-resources", "-o", "wide").stdout
    assert "all" in wide.split("\n")[[i for i, line in enumerate(wide.split("\n"))
                                      if line.startswith("pods ")][0]]


def test_apply_twice_then_changed(api: APIServerThread) -> None:
    """apply creates, re-apply is unchanged, a changed manifest is configured."""
    manifest = POD.format(name="apply-me", image="busybox")
    assert "pod/apply-me created" in api.kubectl("apply", "-f", "-", input=manifest).stdout
    assert "pod/apply-me unchanged" in api.kubectl("apply", "-f", "-", input=manifest).stdout
    changed = manifest.replace("labels: {app: apply-me}", "labels: {app: apply-me, v: '2'}")
    assert "pod/apply-me configured" in api.kubectl("apply", "-f", "-", input=changed).stdout
    got = json.loads(api.kubectl("get", "pod", "apply-me", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"app": "apply-me", "v": "2"}


def test_create_and_get_outputs(api: APIServerThread) -> None:
    """create then get in yaml, json, wide, name and jsonpath shapes."""
    api.kubectl("create", "-f", "-", input=POD.format(name="outputs", image="nginx"))
    again = api.kubectl("create", "-f", "-", input=POD.format(name="outputs", image="nginx"),
                        check=False)
    assert again.returncode != 0 and "AlreadyExists" in again.stderr
    assert "name: outputs" in api.kubectl("get", "pod", "outputs", "-o", "yaml").stdout
    assert json.loads(api.kubectl("get", "pod", "outputs", "-o", "json").stdout)["kind"] == "Pod"
    assert api.kubectl("get", "pod", "outputs", "-o", "name").stdout.strip() == "pod/outputs"
    assert api.kubectl("get", "pod", "outputs", "-o",
                       "jsonpath={.spec.containers[0].image}").stdout == "nginx"
    wide = api.kubectl("get", "pods", "-o", "wide").stdout
    assert wide.startswith("NAME") and "outputs" in wide
    listed = json.loads(api.kubectl("get", "pods", "-l", "app=outputs", "-o", "json").stdout)
    assert [p["metadata"]["name"] for p in listed["items"]] == ["outputs"]
    assert "outputs" in api.kubectl("get", "pods", "--all-namespaces").stdout


def test_patch_all_three_types(api: APIServerThread) -> None:
    """kubectl patch with strategic, merge and json patches changes the pod."""
    api.kubectl("create", "-f", "-", input=POD.format(name="patchy", image="busybox"))
    api.kubectl("patch", "pod", "patchy", "-p", '{"metadata":{"labels":{"s":"1"}}}')
    api.kubectl("patch", "pod", "patchy", "--type=merge", "-p",
                '{"metadata":{"labels":{"m":"2"}}}')
    api.kubectl("patch", "pod", "patchy", "--type=json", "-p",
                '[{"op":"add","path":"/metadata/labels/j","value":"3"}]')
    labels = json.loads(api.kubectl("get", "pod", "patchy", "-o", "json").stdout)[
        "metadata"]["labels"]
    assert labels == {"app": "patchy", "s": "1", "m": "2", "j": "3"}
    bad = api.kubectl("patch", "pod", "patchy", "--type=json", "-p", '{"op":1}', check=False)
    assert bad.returncode != 0


def test_label_annotate_delete(api: APIServerThread) -> None:
    """label, annotate and delete (by name and by selector) work."""
    api.kubectl("create", "-f", "-", input=POD.format(name="tagged", image="busybox"))
    api.kubectl("label", "pod", "tagged", "tier=front")
    api.kubectl("annotate", "pod", "tagged", "note=hello")
    got = json.loads(api.kubectl("get", "pod", "tagged", "-o", "json").stdout)
    assert got["metadata"]["labels"]["tier"] == "front"
    assert got["metadata"]["annotations"]["note"] == "hello"
    assert 'pod "tagged" deleted' in api.kubectl("delete", "pod", "tagged").stdout
    missing = api.kubectl("get", "pod", "tagged", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr
    api.kubectl("create", "-f", "-", input=POD.format(name="bysel", image="busybox"))
    assert "bysel" in api.kubectl("delete", "pods", "-l", "app=bysel").stdout


def test_namespaces_and_get_all(api: APIServerThread) -> None:
    """create namespace shows up in get ns; get all answers in it."""
    api.kubectl("create", "namespace", "team-a")
    assert "team-a" in api.kubectl("get", "ns").stdout
    res = api.kubectl("get", "all", "-n", "team-a")
    assert "No resources found" in res.stderr or res.stdout == ""


def test_get_watch_prints_lines(api: APIServerThread) -> None:
    """kubectl get -w prints the existing pod, then a line per change."""
    api.kubectl("create", "-f", "-", input=POD.format(name="watched", image="busybox"))
    cmd = [KUBECTL, "--kubeconfig", str(api.kubeconfig), "get", "pods", "-w",
           "--request-timeout=20s", "-l", "app=watched"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        api.kubectl("label", "pod", "watched", "changed=yes")
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].startswith("NAME"), (out, err)
    assert sum("watched" in line for line in lines) >= 2, (out, err)


def test_unknown_kind_is_no_match(api: APIServerThread) -> None:
    """kubectl create of a kind nobody serves says "no matches for kind"."""
    doc = "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n"
    res = api.kubectl("create", "-f", "-", input=doc, check=False)
    assert res.returncode != 0 and "no matches for kind" in res.stderr, res.stderr


def test_explain(api: APIServerThread) -> None:
    """kubectl explain reads the served OpenAPI v3 schema."""
    out = api.kubectl("explain", "pod.spec.containers").stdout
    assert "FIELD: containers" in out and "image" in out


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    crt, pem = tmp / "tls.crt", tmp / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def test_typed_create_commands_send_protobuf(api: APIServerThread, tmp_path: Path) -> None:
    """kubectl create secret tls/configmap/deployment (protobuf bodies) create objects."""
    crt, key = _self_signed(tmp_path)
    api.kubectl("create", "secret", "tls", "web-tls", f"--cert={crt}", f"--key={key}")
    secret = json.loads(api.kubectl("get", "secret", "web-tls", "-o", "json").stdout)
    assert secret["type"] == "kubernetes.io/tls"
    assert base64.b64decode(secret["data"]["tls.crt"]) == crt.read_bytes()
    api.kubectl("create", "configmap", "settings", "--from-literal=a=b")
    assert json.loads(api.kubectl("get", "cm", "settings", "-o", "json").stdout)[
        "data"] == {"a": "b"}
    api.kubectl("create", "deployment", "zero", "--image=nginx", "--replicas=0")
    deploy = json.loads(api.kubectl("get", "deploy", "zero", "-o", "json").stdout)
    assert deploy["spec"]["replicas"] == 0
    assert "deployment.apps/zero" in api.kubectl("get", "all").stdout


def test_describe_edit_and_cascading_deletes(api: APIServerThread, tmp_path: Path) -> None:
    """describe, edit (through $EDITOR), delete --cascade=foreground and --all work."""
    api.kubectl("create", "-f", "-", input=POD.format(name="edited", image="busybox"))
    assert "edited" in api.kubectl("describe", "pod", "edited").stdout
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/app: edited/app: edited-again/' \"$1\"\n")
    editor.chmod(0o755)
    res = subprocess.run(
        [KUBECTL, "--kubeconfig", str(api.kubeconfig), "edit", "pod", "edited"],
        capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "KUBE_EDITOR": str(editor), "HOME": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    got = json.loads(api.kubectl("get", "pod", "edited", "-o", "json").stdout)
    assert got["metadata"]["labels"]["app"] == "edited-again"
    # No garbage collector runs beside the bare API: the pod waits, marked for deletion.
    api.kubectl("delete", "pod", "edited", "--cascade=foreground", "--wait=false")
    marked = json.loads(api.kubectl("get", "pod", "edited", "-o", "json").stdout)["metadata"]
    assert marked["deletionTimestamp"] and "foregroundDeletion" in marked["finalizers"]
    api.kubectl("create", "namespace", "sweep")
    for n in ("a", "b"):
        api.kubectl("create", "-n", "sweep", "-f", "-", input=POD.format(name=n,
                                                                       image="busybox"))
    api.kubectl("delete", "pods", "--all", "-n", "sweep")
    assert api.kubectl("get", "pods", "-n", "sweep", "-o", "name").stdout == ""
