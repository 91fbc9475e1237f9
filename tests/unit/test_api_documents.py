"""Discovery, OpenAPI, Table and metrics documents have the shapes clients parse."""

from __future__ import annotations

from datetime import UTC, datetime

from minikube13.api import discovery, openapi, tables
from minikube13.api.metrics import APIMetrics
from minikube13.model import kinds


def _info(group: str, version: str, plural: str) -> kinds.ResourceInfo:
    info = kinds.find(group, version, plural)
    assert info is not None
    return info


def test_storage_version_hash_is_shared_by_versions() -> None:
    """PetSet and StatefulSet are one stored resource, so they share the hash."""
    petsets = _info("apps", "v1alpha1", "petsets")
    statefulsets = _info("apps", "v1", "statefulsets")
    assert discovery.storage_version_hash(petsets) == discovery.storage_version_hash(
        statefulsets)
    assert len(discovery.storage_version_hash(statefulsets)) == 12


def test_every_group_has_a_preferred_version() -> None:
    """/apis lists each non-core group once, preferring its first listed version."""
    groups = discovery.api_group_list()["groups"]
    names = [g["name"] for g in groups]
    assert len(names) == len(set(names)) and "" not in names
    for g in groups:
        assert g["preferredVersion"] == g["versions"][0]


def test_aggregated_matches_legacy() -> None:
    """Aggregated discovery names the same resources as the legacy lists."""
    agg = discovery.aggregated(core=False)
    for item in agg["items"]:
        for version in item["versions"]:
            legacy = discovery.api_resource_list(item["metadata"]["name"], version["version"])
            plain = {r["name"] for r in legacy["resources"] if "/" not in r["name"]}
            assert plain == {r["resource"] for r in version["resources"]}


def test_openapi_paths_and_index() -> None:
    """Each resource has collection, item and subresource paths; the index hashes them."""
    doc = openapi.document("apps", "v1")
    paths = doc["paths"]
    assert "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale" in paths
    assert "/apis/apps/v1/deployments" in paths  # all namespaces
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    body = openapi.encode(doc)
    h = openapi.content_hash(body)
    assert openapi.index({"apis/apps/v1": h})["paths"]["apis/apps/v1"][
        "serverRelativeURL"] == f"/openapi/v3/apis/apps/v1?hash={h}"


def test_table_rows_and_partial_metadata() -> None:
    """A list becomes a Table with one row per item, or PartialObjectMetadata items."""
    info = _info("", "v1", "configmaps")
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": f"c{i}", "creationTimestamp": "2024-01-01T00:00:00Z"}} for i in range(2)]
    listed = {"kind": "ConfigMapList", "metadata": {"resourceVersion": "9"}, "items": items}
    now = datetime(2024, 1, 2, tzinfo=UTC)
    t = tables.transform_list(info, listed, now, tables.Transform("Table", "v1beta1"))
    assert t["apiVersion"] == "meta.k8s.io/v1beta1" and t["metadata"]["resourceVersion"] == "9"
    assert [r["cells"][0] for r in t["rows"]] == ["c0", "c1"]
    assert len(t["columnDefinitions"]) == len(t["rows"][0]["cells"])
    none = tables.transform_list(info, listed, now, tables.Transform("Table", "v1", "None"))
    assert "object" not in none["rows"][0]
    p = tables.transform_list(info, listed, now, tables.Transform("PartialObjectMetadataList",
                                                                  "v1"))
    assert p["items"][1] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": items[1]["metadata"]}


def test_metrics_text() -> None:
    """Counters, histogram buckets (cumulative) and gauges in Prometheus text format."""
    m = APIMetrics()
    m.observe("GET", "pods", 200, 0.003)
    m.observe("GET", "pods", 200, 0.3)
    m.watch_started("pods")
    text = m.render({"db_bytes": 4096})
    assert 'apiserver_request_total{verb="GET",resource="pods",code="200"} 2' in text
    assert 'apiserver_request_duration_seconds_bucket{verb="GET",resource="pods",le="0.005"} 1' \
        in text
    assert 'apiserver_request_duration_seconds_bucket{verb="GET",resource="pods",le="+Inf"} 2' \
        in text
    assert 'apiserver_registered_watchers{resource="pods"} 1' in text
    assert "minikube13_store_db_bytes 4096" in text
