"""Raw HTTP against build_app(): discovery, OpenAPI, Table output and every error code."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest

try:  # tests/integration is a package in some checkouts, a plain directory in others
    from .test_api_support import APIServerThread, api, serve  # noqa: F401  (fixture)
except ImportError:
    from test_api_support import APIServerThread, api, serve  # type: ignore[no-redef]  # noqa: F401

PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def pod(name: str, **labels: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def test_legacy_discovery(api: APIServerThread) -> None:
    """/api, /apis, /apis/apps and /api/v1 are the documents old clients walk."""
    assert api.http("GET", "/api").json()["versions"] == ["v1"]
    groups = {g["name"]: g for g in api.http("GET", "/apis").json()["groups"]}
    assert groups["apps"]["preferredVersion"]["version"] == "v1"
    assert {v["version"] for v in groups["apps"]["versions"]} == {"v1", "v1alpha1"}
    assert api.http("GET", "/apis/batch").json()["kind"] == "APIGroup"
    resources = {r["name"]: r for r in api.http("GET", "/api/v1").json()["resources"]}
    assert resources["pods"]["shortNames"] == ["po"] and resources["pods"]["categories"] == [
        "all"]
    assert resources["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert resources["pods"]["storageVersionHash"]
    assert not resources["nodes"]["namespaced"]
    scale = {r["name"]: r for r in api.http("GET", "/apis/apps/v1").json()["resources"]}[
        "deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


def test_aggregated_discovery(api: APIServerThread) -> None:
    """Asked for apidiscovery.k8s.io/v2, /apis answers one APIGroupDiscoveryList."""
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")
    reply = api.http("GET", "/apis", headers={"Accept": accept})
    assert "as=APIGroupDiscoveryList" in reply.headers["Content-Type"]
    doc = reply.json()
    assert doc["kind"] == "APIGroupDiscoveryList"
    apps = [g for g in doc["items"] if g["metadata"]["name"] == "apps"][0]
    assert apps["versions"][0]["version"] == "v1"
    core = api.http("GET", "/api", headers={"Accept": accept}).json()
    pods = [r for r in core["items"][0]["versions"][0]["resources"] if r["resource"] == "pods"]
    assert pods[0]["scope"] == "Namespaced" and pods[0]["responseKind"]["kind"] == "Pod"


def test_openapi(api: APIServerThread) -> None:
    """/openapi/v3 indexes every group/version; PATCH offers fieldValidation; v2 is empty."""
    index = api.http("GET", "/openapi/v3").json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/batch/v2alpha1"} <= set(index)
    url = index["api/v1"]["serverRelativeURL"]
    reply = api.http("GET", url)
    assert reply.status == 200 and "immutable" in reply.headers["Cache-Control"]
    doc = reply.json()
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1",
                                                        "kind": "Pod"}
    assert {"fieldValidation", "dryRun", "fieldManager"} <= {
        p["name"] for p in patch["parameters"]}
    v2 = api.http("GET", "/openapi/v2")
    assert v2.status == 200 and v2.json()["swagger"] == "2.0"
    assert api.http("GET", "/openapi/v3/apis/nosuch/v1").status == 404


def test_create_get_list_yaml_and_dry_run(api: APIServerThread) -> None:
    """POST in YAML creates (201); dryRun=All creates nothing; Accept yaml answers YAML."""
    body = "apiVersion: v1\nkind: Pod\nmetadata: {name: yam}\nspec:\n  containers:\n" \
           "  - {name: c, image: busybox}\n"
    reply = api.http("POST", PODS, body, {"Content-Type": "application/yaml"})
    assert reply.status == 201 and reply.json()["metadata"]["name"] == "yam"
    dry = api.http("POST", PODS + "?dryRun=All", pod("dry"))
    assert dry.status == 201
    assert api.http("GET", PODS + "/dry").status == 404
    got = api.http("GET", PODS + "/yam", headers={"Accept": "application/yaml"})
    assert got.headers["Content-Type"].startswith("application/yaml")
    assert b"name: yam" in got.body
    everywhere = api.http("GET", "/api/v1/pods").json()
    assert "yam" in [p["metadata"]["name"] for p in everywhere["items"]]


def test_table_and_partial_metadata(api: APIServerThread) -> None:
    """as=Table gives columns and rows; as=PartialObjectMetadataList only metadata."""
    api.http("POST", PODS, pod("tabled"))
    table = api.http("GET", PODS + "?labelSelector=app%3Dtabled",
                     headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["columnDefinitions"][0]["name"] == "Name"
    assert table["rows"][0]["cells"][0] == "tabled"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    full = api.http("GET", PODS + "/tabled?includeObject=Object",
                    headers={"Accept": TABLE}).json()
    assert full["rows"][0]["object"]["kind"] == "Pod"
    meta = api.http("GET", PODS, headers={
        "Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"}).json()
    assert meta["kind"] == "PartialObjectMetadataList"
    assert all(set(i) == {"kind", "apiVersion", "metadata"} for i in meta["items"])
    refused = api.http("GET", PODS, headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert refused.status == 406


def _status(reply: object) -> dict[str, object]:
    doc = reply.json()  # type: ignore[attr-defined]
    assert doc["kind"] == "Status" and doc["status"] == "Failure"
    return doc


@pytest.mark.parametrize("method,path,body,ctype,code,reason", [
    ("POST", PODS, "{nope", "application/json", 400, "BadRequest"),
    ("POST", PODS, "a: [", "application/yaml", 400, "BadRequest"),
    ("POST", PODS, "[1]", "application/json", 400, "BadRequest"),
    ("POST", PODS, "{}", "text/plain", 415, "UnsupportedMediaType"),
    ("PATCH", PODS + "/x", "{}", "application/json", 415, "UnsupportedMediaType"),
    ("GET", "/apis/nosuch.io/v1/things", None, None, 404, "NotFound"),
    ("GET", "/apis/apps/v9/deployments", None, None, 404, "NotFound"),
    ("GET", "/api/v1/namespaces/default/widgets", None, None, 404, "NotFound"),
    ("GET", PODS + "/does-not-exist", None, None, 404, "NotFound"),
    ("PUT", PODS, "{}", "application/json", 405, "MethodNotAllowed"),
    ("POST", PODS + "/x", "{}", "application/json", 405, "MethodNotAllowed"),
    ("POST", "/api/v1/pods", "{}", "application/json", 405, "MethodNotAllowed"),
    ("DELETE", "/apis", None, None, 405, "MethodNotAllowed"),
    ("GET", PODS + "?limit=x", None, None, 400, "BadRequest"),
    ("DELETE", PODS + "/x?propagationPolicy=Sideways", None, None, 400, "BadRequest"),
])
def test_error_codes(api: APIServerThread, method: str, path: str, body: str | None,
                     ctype: str | None, code: int, reason: str) -> None:
    """Malformed, unknown and misdirected requests get the apiserver's Status and code."""
    reply = api.http(method, path, body, {"Content-Type": ctype} if ctype else {})
    assert reply.status == code, reply.body
    assert _status(reply)["reason"] == reason and _status(reply)["code"] == code


def test_invalid_object_is_422_with_causes(api: APIServerThread) -> None:
    """A pod without containers is 422 Invalid naming the field."""
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}, "spec": {}}
    reply = api.http("POST", PODS, bad)
    assert reply.status == 422
    doc = _status(reply)
    assert doc["reason"] == "Invalid"
    assert any("spec.containers" in c["field"] for c in doc["details"]["causes"])  # type: ignore[index]


def test_too_large_bodies_are_413(api: APIServerThread) -> None:
    """A 10 MB body is refused with 413, by Content-Length or mid-stream when chunked."""
    big = b'{"a":"' + b"x" * (10 * 1024 * 1024) + b'"}'
    reply = api.http("POST", PODS, big, {"Content-Type": "application/json"})
    assert reply.status == 413 and _status(reply)["reason"] == "RequestEntityTooLarge"
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    try:
        conn.request("POST", PODS, body=iter([big[i:i + 65536]
                                              for i in range(0, len(big), 65536)]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        assert conn.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop listening before the client finishes sending
    finally:
        conn.close()
    assert api.http("GET", "/healthz").status == 200


def test_warnings_and_patch_types(api: APIServerThread) -> None:
    """Unknown fields with fieldValidation=Warn come back as Warning headers; patches apply."""
    body = pod("warned")
    body["spec"]["bogus"] = 1  # type: ignore[index]
    reply = api.http("POST", PODS + "?fieldValidation=Warn", body)
    assert reply.status == 201
    assert any("bogus" in w for w in reply.headers.get_all("Warning") or []), reply.headers
    strict = api.http("POST", PODS + "?fieldValidation=Strict", dict(body, metadata={
        "name": "strict"}))
    assert strict.status == 400
    for ctype, patch in (
            ("application/merge-patch+json", {"metadata": {"labels": {"m": "1"}}}),
            ("application/strategic-merge-patch+json", {"metadata": {"labels": {"s": "1"}}}),
            ("application/json-patch+json",
             [{"op": "add", "path": "/metadata/labels/j", "value": "1"}])):
        reply = api.http("PATCH", PODS + "/warned", json.dumps(patch), {"Content-Type": ctype})
        assert reply.status == 200, reply.body
    assert {"m", "s", "j"} <= set(reply.json()["metadata"]["labels"])


def test_delete_options_body_and_collection(api: APIServerThread) -> None:
    """DELETE takes a DeleteOptions body; deletecollection honours the label selector."""
    for name in ("gone-1", "gone-2", "stays"):
        api.http("POST", PODS, pod(name, group="gone" if "gone" in name else "stay"))
    reply = api.http("DELETE", PODS + "/gone-1",
                     {"kind": "DeleteOptions", "apiVersion": "v1",
                      "propagationPolicy": "Background"})
    assert reply.status in (200, 202)
    bad = api.http("DELETE", PODS + "/gone-2", {"kind": "DeleteOptions",
                                                "propagationPolicy": "Never"})
    assert bad.status == 400
    listed = api.http("DELETE", PODS + "?labelSelector=group%3Dgone").json()
    assert [i["metadata"]["name"] for i in listed["items"]] == ["gone-2"]
    assert api.http("GET", PODS + "/stays").status == 200


def test_health_version_metrics(api: APIServerThread) -> None:
    """Health endpoints say ok, /version is 1.3, /metrics counts requests."""
    for path in ("/healthz", "/livez", "/readyz"):
        reply = api.http("GET", path)
        assert reply.status == 200 and reply.body == b"ok"
    version = api.http("GET", "/version").json()
    assert (version["major"], version["minor"]) == ("1", "3")
    api.http("GET", PODS)
    text = api.http("GET", "/metrics").body.decode()
    assert 'apiserver_request_total{verb="LIST",resource="pods",code="200"}' in text
    assert "apiserver_request_duration_seconds_bucket" in text
    assert "minikube13_store_" in text


def test_unauthenticated_requests_are_401(tmp_path: Path) -> None:
    """Without a user every API path is 401 Unauthorized; health and version stay open."""
    for server in serve(tmp_path, authenticate=lambda request: None):
        reply = server.http("GET", PODS)
        assert reply.status == 401 and _status(reply)["reason"] == "Unauthorized"
        assert server.http("GET", "/metrics").status == 401
        assert server.http("GET", "/apis").status == 401
        for path in ("/healthz", "/livez", "/readyz", "/version"):
            assert server.http("GET", path).status == 200


def test_crashing_authenticator_is_a_500_status(tmp_path: Path) -> None:
    """An unexpected exception becomes a 500 Status, and the server keeps serving."""
    def broken(request: object) -> None:
        raise RuntimeError("boom")

    for server in serve(tmp_path, authenticate=broken):
        reply = server.http("GET", PODS)
        assert reply.status == 500 and _status(reply)["reason"] == "InternalError"
        assert b"boom" not in reply.body
        assert server.http("GET", "/healthz").status == 200
