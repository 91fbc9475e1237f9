"""Bad requests get a Kubernetes Status with the right code and reason, leave no partial
object behind, and the daemon keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .e2e_support import AdminCredentials, admin_credentials, ensure_namespace, kubectl

NS = "e2e-errors"


@pytest.fixture(scope="module")
def api(daemon: Any) -> Iterator[tuple[AdminCredentials, requests.Session]]:
    ensure_namespace(daemon, NS)
    creds = admin_credentials(daemon.kubeconfig)
    with creds.session() as s:
        yield creds, s


def _assert_status(r: requests.Response, code: int, reason: str) -> dict[str, Any]:
    assert r.status_code == code, f"{r.status_code} {r.text[:500]}"
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    status = r.json()
    assert (status["kind"], status["apiVersion"], status["status"]) == ("Status", "v1", "Failure")
    assert (status["code"], status["reason"]) == (code, reason), status
    assert status.get("message")
    return status


def _assert_absent_and_serving(creds: AdminCredentials, s: requests.Session,
                               plural: str, name: str) -> None:
    r = s.get(f"{creds.server}/api/v1/namespaces/{NS}/{plural}/{name}", timeout=10)
    assert r.status_code == 404, f"{name} exists after a failed request: {r.text[:300]}"
    assert s.get(f"{creds.server}/readyz", timeout=10).status_code == 200


@pytest.mark.parametrize("content_type,body", [
    ("application/json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad-'),
    ("application/json", '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": '
                         '{"name": "bad-json"}, "data": {"a": 1,,}}'),
    ("application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad-yaml\n"
                         "data: {a: [unclosed\n"),
    ("application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: bad-tab\n"),
], ids=["json-truncated", "json-syntax", "yaml-flow", "yaml-tab"])
def test_malformed_body_is_400(api: tuple[AdminCredentials, requests.Session],
                               content_type: str, body: str) -> None:
    """Malformed JSON or YAML in a create is a 400 BadRequest Status."""
    creds, s = api
    r = s.post(f"{creds.server}/api/v1/namespaces/{NS}/configmaps", data=body.encode(),
               headers={"Content-Type": content_type}, timeout=10)
    _assert_status(r, 400, "BadRequest")
    for name in ("bad-", "bad-json", "bad-yaml", "bad-tab"):
        _assert_absent_and_serving(creds, s, "configmaps", name)


def test_invalid_pod_is_422_with_field_paths(api: tuple[AdminCredentials, requests.Session],
                                             daemon: Any) -> None:
    """A pod without an image is 422 Invalid naming spec.containers[0].image."""
    creds, s = api
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-image"},
           "spec": {"containers": [{"name": "main"}]}}
    r = s.post(f"{creds.server}/api/v1/namespaces/{NS}/pods", json=pod, timeout=10)
    status = _assert_status(r, 422, "Invalid")
    details = status["details"]
    assert (details["name"], details["kind"]) == ("no-image", "Pod")
    fields = [c["field"] for c in details["causes"]]
    assert "spec.containers[0].image" in fields, details
    cause = details["causes"][fields.index("spec.containers[0].image")]
    assert cause["reason"] == "FieldValueRequired"
    assert "spec.containers[0].image" in status["message"]
    _assert_absent_and_serving(creds, s, "pods", "no-image")
    via_kubectl = kubectl(daemon, "create", "-n", NS, "-f", "-", input=json.dumps(pod),
                          check=False)
    assert via_kubectl.returncode != 0
    assert 'The Pod "no-image" is invalid' in via_kubectl.stderr, via_kubectl.stderr
    assert "spec.containers[0].image: Required value" in via_kubectl.stderr


def test_invalid_name_and_several_fields_are_all_reported(
        api: tuple[AdminCredentials, requests.Session]) -> None:
    """Every invalid field is one cause: a bad name, a bad label and a bad port together."""
    creds, s = api
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "Bad_Name", "labels": {"ok": "not ok!"}},
           "spec": {"ports": [{"port": 70000}]}}
    r = s.post(f"{creds.server}/api/v1/namespaces/{NS}/services", json=svc, timeout=10)
    status = _assert_status(r, 422, "Invalid")
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"metadata.name", "metadata.labels", "spec.ports[0].port"} <= fields, fields


@pytest.mark.parametrize("path", [
    "/api/v1/namespaces/{ns}/widgets",
    "/api/v1/namespaces/{ns}/widgets/x",
    "/api/v2/namespaces/{ns}/pods",
    "/apis/apps/v9/namespaces/{ns}/deployments",
    "/apis/no.such.group/v1/things",
    "/apis/batch/v1/namespaces/{ns}/scheduledjobs",
])
def test_unknown_kind_or_version_is_404(api: tuple[AdminCredentials, requests.Session],
                                        path: str) -> None:
    """An unknown resource, version or group is a 404 NotFound Status, for reads and writes."""
    creds, s = api
    url = creds.server + path.format(ns=NS)
    _assert_status(s.get(url, timeout=10), 404, "NotFound")
    created = s.post(url, json={"apiVersion": "v1", "kind": "Widget",
                                "metadata": {"name": "w"}}, timeout=10)
    assert created.status_code in (404, 405), created.text
    assert s.get(f"{creds.server}/readyz", timeout=10).status_code == 200


def test_unknown_kind_in_manifest_refused_by_kubectl(daemon: Any) -> None:
    """kubectl create of an unknown kind fails with "no matches for kind", creating nothing."""
    doc = "apiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n"
    run = kubectl(daemon, "create", "-n", NS, "-f", "-", input=doc, check=False)
    assert run.returncode != 0 and "no matches for kind" in run.stderr, run.stderr


@pytest.mark.parametrize("method,path", [
    ("PUT", "/api/v1/namespaces/{ns}/configmaps"),           # update of a collection
    ("POST", "/api/v1/namespaces/{ns}/configmaps/some-name"),  # create on a named object
    ("PATCH", "/api/v1/namespaces/{ns}/configmaps"),         # patch of a collection
])
def test_wrong_method_is_405(api: tuple[AdminCredentials, requests.Session],
                             method: str, path: str) -> None:
    """A method a resource does not support is a 405 MethodNotAllowed Status."""
    creds, s = api
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "some-name"}}
    headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
    r = s.request(method, creds.server + path.format(ns=NS), data=json.dumps(body),
                  headers=headers or {"Content-Type": "application/json"}, timeout=10)
    _assert_status(r, 405, "MethodNotAllowed")
    _assert_absent_and_serving(creds, s, "configmaps", "some-name")


def test_ten_megabyte_body_is_413(api: tuple[AdminCredentials, requests.Session]) -> None:
    """A 10 MB create is a 413 RequestEntityTooLarge Status and stores nothing."""
    creds, s = api
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
            "data": {"blob": "x" * (10 * 1024 * 1024)}}
    try:
        r = s.post(f"{creds.server}/api/v1/namespaces/{NS}/configmaps", json=body, timeout=60)
    except requests.ConnectionError as exc:
        pytest.fail(f"the server dropped the connection instead of answering 413: {exc}")
    _assert_status(r, 413, "RequestEntityTooLarge")
    _assert_absent_and_serving(creds, s, "configmaps", "huge")


def test_unauthenticated_request_is_401(api: tuple[AdminCredentials, requests.Session]) -> None:
    """A request without a client certificate gets 401 and reads nothing."""
    creds, _ = api
    r = requests.get(f"{creds.server}/api/v1/namespaces/{NS}/configmaps",
                     verify=creds.ca_file, timeout=10)
    _assert_status(r, 401, "Unauthorized")
