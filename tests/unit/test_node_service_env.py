"""The Service variables a container gets (the kubelet's names and values)."""

from __future__ import annotations

from typing import Any

from minikube13.node.service_env import service_env, visible_services
from minikube13.runtime.podenv import ImageDefaults, PodFacts, container_env


def svc(name: str, ns: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": list(ports)}}


KUBERNETES = svc("kubernetes", "default", "10.43.0.1",
                 {"name": "https", "port": 443, "protocol": "TCP"})
REDIS = svc("redis-master", "shop", "10.43.0.11", {"name": "redis", "port": 6379},
            {"name": "metrics", "port": 9121, "protocol": "UDP"})


def test_kubelet_names_for_a_service_with_two_ports() -> None:
    env = service_env([REDIS, KUBERNETES], "shop")
    assert env == {
        "KUBERNETES_SERVICE_HOST": "10.43.0.1", "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443", "KUBERNETES_PORT": "tcp://10.43.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.43.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp", "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1",
        "REDIS_MASTER_SERVICE_HOST": "10.43.0.11", "REDIS_MASTER_SERVICE_PORT": "6379",
        "REDIS_MASTER_SERVICE_PORT_REDIS": "6379", "REDIS_MASTER_SERVICE_PORT_METRICS": "9121",
        "REDIS_MASTER_PORT": "tcp://10.43.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP": "tcp://10.43.0.11:6379",
        "REDIS_MASTER_PORT_6379_TCP_PROTO": "tcp", "REDIS_MASTER_PORT_6379_TCP_PORT": "6379",
        "REDIS_MASTER_PORT_6379_TCP_ADDR": "10.43.0.11",
        "REDIS_MASTER_PORT_9121_UDP": "udp://10.43.0.11:9121",
        "REDIS_MASTER_PORT_9121_UDP_PROTO": "udp", "REDIS_MASTER_PORT_9121_UDP_PORT": "9121",
        "REDIS_MASTER_PORT_9121_UDP_ADDR": "10.43.0.11",
    }


def test_only_the_pods_namespace_headless_ones_left_out() -> None:
    other = svc("db", "elsewhere", "10.43.0.20", {"port": 5432})
    headless = svc("peers", "shop", "None", {"port": 80})
    unset = svc("pending", "shop", "", {"port": 80})
    mine = svc("kubernetes", "shop", "10.43.0.30", {"port": 8080})  # shadows the master one
    names = [(s["metadata"]["namespace"], s["metadata"]["name"])
             for s in visible_services([KUBERNETES, other, headless, unset, mine], "shop")]
    assert names == [("shop", "kubernetes")]
    assert service_env([KUBERNETES], "default")["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"


def test_container_env_comes_after_and_may_use_them() -> None:
    facts = PodFacts(secrets={}, config_maps={}, service_env=service_env([REDIS], "shop"))
    container = {"name": "c", "env": [
        {"name": "REDIS_URL", "value": "redis://$(REDIS_MASTER_SERVICE_HOST):6379"},
        {"name": "REDIS_MASTER_SERVICE_PORT", "value": "1"}]}
    env = container_env({"metadata": {"namespace": "shop"}}, container, ImageDefaults(),
                        facts, "pod-1")
    assert env["REDIS_URL"] == "redis://10.43.0.11:6379"
    assert env["REDIS_MASTER_SERVICE_PORT"] == "1"
    assert env["REDIS_MASTER_PORT_6379_TCP_ADDR"] == "10.43.0.11"
