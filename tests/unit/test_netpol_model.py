"""NetworkPolicy in both spellings: stored once, defaulted, validated with field paths."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds, objects
from minikube13.testing.admission import admit, messages

V1 = kinds.find("networking.k8s.io", "v1", "networkpolicies")
BETA = kinds.find("extensions", "v1beta1", "networkpolicies")
assert V1 is not None and BETA is not None


def policy(api_version: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": "NetworkPolicy",
            "metadata": {"name": "allow-web", "namespace": "default"}, "spec": spec}


def test_the_13_spelling_is_stored_as_v1_and_served_back() -> None:
    """An extensions/v1beta1 policy (1.3 manifest) is stored as networking.k8s.io/v1 and
    read back in either version unchanged."""
    assert BETA is not None and V1 is not None
    stored = admit(BETA, policy("extensions/v1beta1", podSelector={"matchLabels": {"app": "db"}},
                                ingress=[{"from": [{"podSelector": {"matchLabels": {
                                    "role": "web"}}}], "ports": [{"port": 5432}]}]))
    assert stored["apiVersion"] == "networking.k8s.io/v1"
    assert stored["spec"]["policyTypes"] == ["Ingress"]
    assert stored["spec"]["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    served = objects.from_storage(BETA, stored)
    assert served["apiVersion"] == "extensions/v1beta1"
    assert served["spec"]["ingress"] == stored["spec"]["ingress"]


def test_egress_rules_add_the_egress_policy_type() -> None:
    """policyTypes defaults to Ingress, plus Egress when egress rules are given."""
    assert V1 is not None
    stored = admit(V1, policy("networking.k8s.io/v1", podSelector={},
                              egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]))
    assert stored["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_invalid_fields_are_named() -> None:
    """Bad protocol, port, peer, CIDR and policy type each name their field path."""
    assert V1 is not None
    bad = policy("networking.k8s.io/v1", podSelector={}, policyTypes=["Ingress", "Sideways"],
                 ingress=[{"ports": [{"protocol": "ICMP", "port": 70000}],
                           "from": [{}, {"ipBlock": {"cidr": "10.0.0.0/8",
                                                     "except": ["192.168.0.0/16"]},
                                         "podSelector": {}}]}])
    got = messages(V1, bad)
    fields = {m.split(":")[0] for m in got}
    assert fields == {"spec.ingress[0].ports[0].protocol", "spec.ingress[0].ports[0].port",
                      "spec.ingress[0].from[0]", "spec.ingress[0].from[1]",
                      "spec.ingress[0].from[1].ipBlock.except[0]", "spec.policyTypes[1]"}, got


def test_named_port_and_end_port() -> None:
    """A named port is fine; endPort needs a numeric port no greater than itself."""
    assert V1 is not None
    ok = policy("networking.k8s.io/v1", podSelector={},
                ingress=[{"ports": [{"port": "http"}, {"port": 8000, "endPort": 8080}]}])
    admit(V1, ok)
    bad = policy("networking.k8s.io/v1", podSelector={},
                 ingress=[{"ports": [{"port": "http", "endPort": 90},
                                     {"port": 100, "endPort": 90}]}])
    fields = [m.split(":")[0] for m in messages(V1, bad)]
    assert fields == ["spec.ingress[0].ports[0].endPort", "spec.ingress[0].ports[1].endPort"]


def test_printed_columns() -> None:
    """kubectl get netpol shows NAME, POD-SELECTOR and AGE."""
    assert V1 is not None
    stored = admit(V1, policy("networking.k8s.io/v1",
                              podSelector={"matchLabels": {"app": "db"}}))
    stored["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert [c["name"] for c in objects.table_columns(V1)] == ["Name", "Pod-Selector", "Age"]
    assert objects.table_cells(V1, stored, now) == ["allow-web", "app=db", "5m"]
