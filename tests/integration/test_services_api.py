"""Services and NetworkPolicies through a real daemon and the real kubectl: ClusterIPs and
NodePorts are allocated (and refused when taken), the endpoints controller fills Endpoints
from pod readiness, and a 1.3 extensions/v1beta1 NetworkPolicy is served as both versions."""

from __future__ import annotations

import json
import time
from typing import Any

from .conftest import DaemonProcess

NS = "svc-api"


def _apply(daemon: DaemonProcess, doc: dict[str, Any], check: bool = True) -> Any:
    return daemon.kubectl("apply", "-n", NS, "-f", "-", input=json.dumps(doc), check=check)


def _get(daemon: DaemonProcess, *what: str) -> Any:
    return json.loads(daemon.kubectl("get", "-n", NS, *what, "-o", "json").stdout)


def _namespace(daemon: DaemonProcess) -> None:
    daemon.kubectl("create", "namespace", NS, check=False)


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80,
                                                         "targetPort": "http"}], **spec}}


def test_cluster_ip_and_node_port_allocation(daemon: DaemonProcess) -> None:
    """kubectl gets a ClusterIP from 10.43.0.0/16 and a nodePort in 30000-32767; asking
    for a taken IP is refused naming spec.clusterIP."""
    _namespace(daemon)
    _apply(daemon, _service("alloc-a", type="NodePort"))
    svc = _get(daemon, "service", "alloc-a")
    assert svc["spec"]["clusterIP"].startswith("10.43.")
    assert 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    taken = _apply(daemon, _service("alloc-b", clusterIP=svc["spec"]["clusterIP"]),
                   check=False)
    assert taken.returncode != 0
    assert "spec.clusterIP" in taken.stderr and "already allocated" in taken.stderr


def test_endpoints_follow_pod_readiness(daemon: DaemonProcess) -> None:
    """Pods reporting ready appear in the Service's Endpoints with the named targetPort
    resolved; one turning unready moves to notReadyAddresses."""
    _namespace(daemon)
    _apply(daemon, _service("eps"))
    for i in (1, 2):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"eps-{i}", "labels": {"app": "eps"}},
               "spec": {"nodeName": "elsewhere", "containers": [{
                   "name": "c", "image": "busybox",
                   "ports": [{"name": "http", "containerPort": 8080}]}]}}
        _apply(daemon, pod)
        _set_ready(daemon, f"eps-{i}", f"10.42.9.{i}", True)
    subsets = _wait_subsets(daemon, lambda s: len(s[0].get("addresses", [])) == 2)
    assert subsets[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    _set_ready(daemon, "eps-2", "10.42.9.2", False)
    subsets = _wait_subsets(daemon, lambda s: s[0].get("notReadyAddresses"))
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.42.9.1"]
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.42.9.2"]


def _set_ready(daemon: DaemonProcess, name: str, ip: str, ready: bool) -> None:
    status = {"status": {"phase": "Running", "podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}
    daemon.kubectl("patch", "-n", NS, "pod", name, "--subresource=status", "--type=merge",
                   "-p", json.dumps(status))


def _wait_subsets(daemon: DaemonProcess, done: Any, timeout: float = 15.0) -> Any:
    start = time.monotonic()
    while True:
        found = daemon.kubectl("get", "-n", NS, "endpoints", "eps", "-o", "json", check=False)
        subsets = json.loads(found.stdout).get("subsets") if found.returncode == 0 else None
        if subsets and done(subsets):
            return subsets
        assert time.monotonic() - start < timeout, subsets
        time.sleep(0.2)


def test_13_network_policy_served_in_both_versions(daemon: DaemonProcess) -> None:
    """An extensions/v1beta1 NetworkPolicy from a 1.3 manifest is stored once and read as
    networking.k8s.io/v1 too; `kubectl get netpol` prints its pod selector."""
    _namespace(daemon)
    policy = {"apiVersion": "extensions/v1beta1", "kind": "NetworkPolicy",
              "metadata": {"name": "allow-web"},
              "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [
                  {"from": [{"podSelector": {"matchLabels": {"role": "web"}}}],
                   "ports": [{"protocol": "TCP", "port": 5432}]}]}}
    _apply(daemon, policy)
    v1 = _get(daemon, "networkpolicies.v1.networking.k8s.io", "allow-web")
    assert v1["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    beta = _get(daemon, "networkpolicies.v1beta1.extensions", "allow-web")
    assert beta["apiVersion"] == "extensions/v1beta1"
    table = daemon.kubectl("get", "-n", NS, "netpol").stdout
    assert "allow-web" in table and "app=db" in table
