"""The endpoints controller: Endpoints follow the selected pods' IPs, readiness and ports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from minikube13.controllers import endpoints
from minikube13.controllers.actions import CreateObject, DeleteObject, ObjectRef, ReplaceObject
from minikube13.controllers.object_cache import ObjectCache

NOW = datetime(2026, 3, 1, tzinfo=UTC)
KEY = ObjectRef("services", "default", "web")


def pod(name: str, ip: str | None, *, ready: bool = True, labels: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None, phase: str = "Running",
        **spec: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}",
                         "labels": labels if labels is not None else {"app": "web"}},
            "spec": {"nodeName": "n1", **spec,
                     "containers": [{"name": "c", "image": "x", "ports": ports or []}]},
            "status": status}


def service(ports: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"selector": {"app": "web"}, "clusterIP": "10.43.0.5",
                            "ports": ports if ports is not None else [
                                {"port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    body.update(spec)
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u-web",
                         "labels": {"tier": "front"}}, "spec": body}


def view(*objs: tuple[str, dict[str, Any]]) -> ObjectCache:
    cache = ObjectCache()
    for storage, obj in objs:
        cache.put(storage, obj)
    return cache


def written(actions: list[Any]) -> dict[str, Any]:
    assert len(actions) == 1 and isinstance(actions[0], CreateObject | ReplaceObject), actions
    return actions[0].obj


def test_ready_and_unready_pods_split() -> None:
    """Ready pods are addresses, unready ones notReadyAddresses, both with targetPort 8080."""
    out = written(endpoints.reconcile(KEY, view(
        ("services", service()), ("pods", pod("a", "10.42.0.11")),
        ("pods", pod("b", "10.42.0.12", ready=False)), ("pods", pod("c", "10.42.0.13"))), NOW))
    assert out["metadata"]["labels"] == {"tier": "front"}
    [subset] = out["subsets"]
    assert [a["ip"] for a in subset["addresses"]] == ["10.42.0.11", "10.42.0.13"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.42.0.12"]
    assert subset["ports"] == [{"port": 8080, "protocol": "TCP"}]
    first = subset["addresses"][0]
    assert first["nodeName"] == "n1"
    assert first["targetRef"] == {"kind": "Pod", "namespace": "default", "name": "a",
                                  "uid": "u-a"}


def test_pods_without_ip_other_labels_or_finished_are_left_out() -> None:
    """No IP yet, not selected, Succeeded or being deleted: not in the Endpoints."""
    gone = pod("d", "10.42.0.14")
    gone["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z"
    out = written(endpoints.reconcile(KEY, view(
        ("services", service()), ("pods", pod("a", None)),
        ("pods", pod("b", "10.42.0.12", labels={"app": "db"})),
        ("pods", pod("c", "10.42.0.13", phase="Succeeded")), ("pods", gone)), NOW))
    assert out["subsets"] == []


def test_named_target_port_resolves_per_pod() -> None:
    """targetPort "http" is 8080 on one pod and 9090 on another: separate subsets; a pod
    without the named port serves only the numeric port."""
    svc = service([{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"},
                   {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"}])
    out = written(endpoints.reconcile(KEY, view(
        ("services", svc),
        ("pods", pod("a", "10.42.0.11", ports=[{"name": "http", "containerPort": 8080}])),
        ("pods", pod("b", "10.42.0.12", ports=[{"name": "http", "containerPort": 9090}])),
        ("pods", pod("c", "10.42.0.13", ports=[{"name": "other", "containerPort": 1}]))),
        NOW))
    groups = {tuple((p["name"], p["port"]) for p in s["ports"]): [a["ip"] for a in s["addresses"]]
              for s in out["subsets"]}
    assert groups == {
        (("web", 8080), ("metrics", 9100)): ["10.42.0.11"],
        (("web", 9090), ("metrics", 9100)): ["10.42.0.12"],
        (("metrics", 9100),): ["10.42.0.13"],
    }


def test_unchanged_endpoints_are_not_rewritten_and_changes_replace() -> None:
    """Endpoints already right: no action; a pod turning unready: one ReplaceObject."""
    cache = view(("services", service()), ("pods", pod("a", "10.42.0.11")))
    created = written(endpoints.reconcile(KEY, cache, NOW))
    created["metadata"]["uid"] = "u-ep"
    cache.put("endpoints", created)
    assert endpoints.reconcile(KEY, cache, NOW) == []
    cache.put("pods", pod("a", "10.42.0.11", ready=False))
    [action] = endpoints.reconcile(KEY, cache, NOW)
    assert isinstance(action, ReplaceObject)
    assert action.obj["subsets"][0]["notReadyAddresses"][0]["ip"] == "10.42.0.11"


def test_services_without_selector_keep_manual_endpoints() -> None:
    """A selector-less Service's hand-written Endpoints are never touched, nor deleted."""
    manual = {"metadata": {"name": "web", "namespace": "default", "uid": "u-ep"},
              "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 5432}]}]}
    svc = service()
    del svc["spec"]["selector"]
    assert endpoints.reconcile(KEY, view(("services", svc), ("endpoints", manual)), NOW) == []
    assert endpoints.reconcile(KEY, view(("endpoints", manual)), NOW) == []


def test_managed_endpoints_go_with_their_service() -> None:
    """Endpoints this controller wrote are deleted when the Service is gone."""
    cache = view(("services", service()), ("pods", pod("a", "10.42.0.11")))
    created = written(endpoints.reconcile(KEY, cache, NOW))
    created["metadata"]["uid"] = "u-ep"
    [action] = endpoints.reconcile(KEY, view(("endpoints", created)), NOW)
    assert isinstance(action, DeleteObject) and action.ref.uid == "u-ep"


def test_publish_not_ready_and_headless_hostname() -> None:
    """publishNotReadyAddresses lists unready pods as addresses; a pod whose subdomain is
    the Service gets its hostname; a headless Service without ports still lists pods."""
    svc = service([], clusterIP="None", publishNotReadyAddresses=True)
    out = written(endpoints.reconcile(KEY, view(
        ("services", svc),
        ("pods", pod("web-0", "10.42.0.11", ready=False, hostname="web-0", subdomain="web"))),
        NOW))
    [subset] = out["subsets"]
    assert subset["addresses"][0]["hostname"] == "web-0"
    assert "ports" not in subset


def test_pod_change_queues_selecting_services() -> None:
    """A pod's change concerns exactly the Services of its namespace that select it."""
    other = service()
    other["metadata"]["name"] = "db"
    other["spec"]["selector"] = {"app": "db"}
    cache = view(("services", service()), ("services", other))
    keys = endpoints.related("pods", pod("a", "10.42.0.11"), False, cache)
    assert keys == [KEY]
    assert endpoints.related("endpoints", {"metadata": {"name": "web", "namespace": "default"}},
                             False, cache) == [KEY]
