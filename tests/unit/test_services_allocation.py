"""Service ClusterIP and NodePort allocation: through the registry, as a client sees it."""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.registry import allocation
from minikube13.registry.allocation import ServiceRanges, Taken
from minikube13.registry.allocator import ServiceAllocator
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, WriteOptions
from minikube13.registry.patch import MERGE_PATCH
from minikube13.testing.memory_store import MemoryStore

SERVICES = kinds.find("", "v1", "services")
assert SERVICES is not None
W = WriteOptions()


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    s = MemoryStore()
    await s.start()
    yield s
    await s.close()


async def _registry(store: MemoryStore, cidr: str = "10.43.0.0/16",
                    ports: str = "30000-32767") -> ObjectRegistry:
    reg = ObjectRegistry(store)
    reg.write_guards["services"] = ServiceAllocator(ServiceRanges.parse(cidr, ports),
                                                    random.Random(7))
    await reg.ensure_namespace("default")
    return reg


@pytest.fixture
async def registry(store: MemoryStore) -> ObjectRegistry:
    return await _registry(store)


def service(name: str, *, kind: str = "ClusterIP", cluster_ip: str | None = None,
            node_ports: tuple[int | None, ...] = (None,)) -> dict[str, Any]:
    ports: list[dict[str, Any]] = []
    for i, node_port in enumerate(node_ports):
        port: dict[str, Any] = {"name": f"p{i}", "port": 80 + i}
        if node_port is not None:
            port["nodePort"] = node_port
        ports.append(port)
    spec: dict[str, Any] = {"type": kind, "selector": {"app": name}, "ports": ports}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


async def create(reg: ObjectRegistry, svc: dict[str, Any]) -> dict[str, Any]:
    assert SERVICES is not None
    return (await reg.create(SERVICES, "default", svc, W)).object


async def invalid_fields(reg: ObjectRegistry, svc: dict[str, Any]) -> list[str]:
    with pytest.raises(StatusError) as caught:
        await create(reg, svc)
    assert caught.value.code == 422, caught.value
    return [c["field"] for c in caught.value.status()["details"]["causes"]]


async def test_cluster_ip_comes_from_the_service_cidr(registry: ObjectRegistry) -> None:
    """A Service gets a ClusterIP inside 10.43.0.0/16, never the reserved .1, all distinct."""
    ips = [(await create(registry, service(f"s{i}")))["spec"]["clusterIP"] for i in range(40)]
    assert len(set(ips)) == 40
    net = ipaddress.ip_network("10.43.0.0/16")
    assert all(ipaddress.ip_address(ip) in net for ip in ips)
    assert "10.43.0.1" not in ips


async def test_headless_and_external_name_get_no_ip(registry: ObjectRegistry) -> None:
    """clusterIP None stays headless; an ExternalName Service gets no address."""
    headless = await create(registry, service("h", cluster_ip="None"))
    assert headless["spec"]["clusterIP"] == "None"
    ext = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e"},
           "spec": {"type": "ExternalName", "externalName": "example.org"}}
    assert "clusterIP" not in (await create(registry, ext))["spec"]


async def test_requested_ip_is_honoured_once(registry: ObjectRegistry) -> None:
    """A free requested IP is given; asking for it again is 422 on spec.clusterIP."""
    got = await create(registry, service("a", cluster_ip="10.43.7.7"))
    assert got["spec"]["clusterIP"] == "10.43.7.7"
    assert got["spec"]["clusterIPs"] == ["10.43.7.7"]
    assert await invalid_fields(registry, service("b", cluster_ip="10.43.7.7")) == [
        "spec.clusterIP"]


async def test_requested_ip_outside_the_range_is_invalid(registry: ObjectRegistry) -> None:
    """An IP outside the service CIDR (or not an IP) is 422 naming spec.clusterIP."""
    assert await invalid_fields(registry, service("a", cluster_ip="10.44.0.5")) == [
        "spec.clusterIP"]
    assert await invalid_fields(registry, service("b", cluster_ip="10.43.255.255")) == [
        "spec.clusterIP"]


async def test_reserved_ip_only_when_asked(registry: ObjectRegistry) -> None:
    """The first address (for the kubernetes Service) is given only to who asks for it."""
    got = await create(registry, service("kubernetes", cluster_ip="10.43.0.1"))
    assert got["spec"]["clusterIP"] == "10.43.0.1"


async def test_delete_frees_the_ip(store: MemoryStore) -> None:
    """In a /29 the six addresses run out; deleting one Service frees its address."""
    reg = await _registry(store, cidr="10.43.0.0/29")
    ips = [(await create(reg, service(f"s{i}")))["spec"]["clusterIP"] for i in range(5)]
    assert sorted(ips) == [f"10.43.0.{i}" for i in range(2, 7)]
    assert await invalid_fields(reg, service("full")) == ["spec.clusterIP"]
    assert SERVICES is not None
    await reg.delete(SERVICES, "default", "s3", DeleteOptions())
    assert (await create(reg, service("again")))["spec"]["clusterIP"] == ips[3]


async def test_allocations_survive_a_new_registry(store: MemoryStore) -> None:
    """A restarted daemon (new registry, same store) never hands out a taken IP or port."""
    first = await _registry(store, cidr="10.43.0.0/29", ports="30000-30004")
    held = [await create(first, service(f"s{i}", kind="NodePort")) for i in range(5)]
    second = await _registry(store, cidr="10.43.0.0/29", ports="30000-30004")
    assert await invalid_fields(second, service("x")) == ["spec.clusterIP"]
    assert {s["spec"]["ports"][0]["nodePort"] for s in held} == set(range(30000, 30005))


async def test_node_ports_allocated_for_each_port(registry: ObjectRegistry) -> None:
    """Every port of a NodePort Service gets its own nodePort in 30000-32767."""
    got = await create(registry, service("np", kind="NodePort", node_ports=(None, None, None)))
    ports = [p["nodePort"] for p in got["spec"]["ports"]]
    assert len(set(ports)) == 3 and all(30000 <= p <= 32767 for p in ports)


async def test_requested_node_port_honoured_then_refused(registry: ObjectRegistry) -> None:
    """nodePort 30080 is given once; a second Service asking for it gets 422 on its path."""
    got = await create(registry, service("a", kind="NodePort", node_ports=(30080,)))
    assert got["spec"]["ports"][0]["nodePort"] == 30080
    fields = await invalid_fields(registry, service("b", kind="NodePort",
                                                    node_ports=(None, 30080)))
    assert fields == ["spec.ports[1].nodePort"]
    out_of_range = await invalid_fields(registry, service("c", kind="NodePort",
                                                          node_ports=(8080,)))
    assert out_of_range == ["spec.ports[0].nodePort"]


async def test_update_keeps_allocations_and_type_change_frees_ports(
        registry: ObjectRegistry) -> None:
    """A PUT without clusterIP/nodePort keeps them; NodePort -> ClusterIP drops the port,
    which another Service can then take."""
    assert SERVICES is not None
    got = await create(registry, service("a", kind="NodePort", node_ports=(30090,)))
    body = service("a", kind="NodePort")
    again = (await registry.update(SERVICES, "default", "a", body, W)).object
    assert again["spec"]["clusterIP"] == got["spec"]["clusterIP"]
    assert again["spec"]["ports"][0]["nodePort"] == 30090
    patched = (await registry.patch(SERVICES, "default", "a", MERGE_PATCH,
                                    {"spec": {"type": "ClusterIP"}}, W)).object
    assert "nodePort" not in patched["spec"]["ports"][0]
    other = await create(registry, service("b", kind="NodePort", node_ports=(30090,)))
    assert other["spec"]["ports"][0]["nodePort"] == 30090


async def test_concurrent_creates_never_share(store: MemoryStore) -> None:
    """Twenty creates racing for a /27 all get distinct addresses."""
    reg = await _registry(store, cidr="10.43.0.0/27")
    made = await asyncio.gather(*(create(reg, service(f"s{i}")) for i in range(20)))
    assert len({s["spec"]["clusterIP"] for s in made}) == 20


def test_nearly_full_range_finds_the_last_free_value() -> None:
    """With one address left, the allocator finds it (random tries, then a sweep)."""
    ranges = ServiceRanges.parse("10.43.0.0/24", "30000-30001")
    taken = Taken(ips={f"10.43.0.{i}" for i in range(2, 255) if i != 200})
    svc = {"spec": {"type": "ClusterIP", "ports": [{"port": 1}]}}
    assert allocation.allocate(svc, taken, ranges, random.Random(1)) == []
    assert svc["spec"]["clusterIP"] == "10.43.0.200"


async def test_kubernetes_service_takes_the_reserved_address(registry: ObjectRegistry) -> None:
    """The default/kubernetes Service gets 10.43.0.1:443 -> the API servers on 6443, and its
    Endpoints are left as written (no selector)."""
    endpoints_info = kinds.find("", "v1", "endpoints")
    assert SERVICES is not None and endpoints_info is not None
    svc, eps = allocation.kubernetes_service(ServiceRanges.parse(), ["192.0.2.10"])
    got = await create(registry, svc)
    await registry.create(endpoints_info, "default", eps, W)
    assert got["spec"]["clusterIP"] == "10.43.0.1"
    assert got["spec"]["ports"][0]["targetPort"] == 6443
