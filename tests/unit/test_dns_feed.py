"""The DNS zone follows the registry: services, endpoints and pods as they change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from dnslib import RCODE, DNSRecord

from minikube13.dns.feed import SnapshotFeed
from minikube13.dns.resolver import answer
from minikube13.dns.snapshot import DnsSnapshot
from minikube13.model import kinds
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore

W = WriteOptions()


def _info(plural: str) -> Any:
    info = kinds.find("", "v1", plural)
    assert info is not None
    return info


def ask(snap: DnsSnapshot, name: str, qtype: str = "A") -> DNSRecord:
    reply = answer(DNSRecord.question(name, qtype), snap).reply
    assert reply is not None
    return reply


def ptr(snap: DnsSnapshot, name: str) -> list[str]:
    """The PTR targets; [] when the name is not ours (it would go upstream)."""
    reply = answer(DNSRecord.question(name, "PTR"), snap).reply
    return [str(rr.rdata) for rr in reply.rr] if reply is not None else []


def addresses(snap: DnsSnapshot, name: str) -> list[str]:
    return sorted(str(rr.rdata) for rr in ask(snap, name).rr)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_zone_follows_services_endpoints_and_pods(store: MemoryStore) -> None:
    registry = ObjectRegistry(store)
    await registry.ensure_namespace("ns1")
    services, endpoints, pods = _info("services"), _info("endpoints"), _info("pods")
    await registry.create(services, "ns1", {
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "10.43.0.10", "ports": [{"name": "http", "port": 80}]}}, W)
    published: list[DnsSnapshot] = []
    feed = SnapshotFeed(registry, "cluster.local", published.append)
    feed.start()
    try:
        await asyncio.wait_for(feed.synced.wait(), 5)
        assert addresses(published[-1], "web.ns1.svc.cluster.local") == ["10.43.0.10"]

        await registry.create(services, "ns1", {
            "metadata": {"name": "db"},
            "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}}, W)
        await registry.create(endpoints, "ns1", {
            "metadata": {"name": "db"},
            "subsets": [{"addresses": [{"ip": "10.42.0.5", "hostname": "db-0"}],
                         "ports": [{"name": "pg", "port": 5432}]}]}, W)
        await eventually(lambda: addresses(published[-1], "db-0.db.ns1.svc.cluster.local")
                         == ["10.42.0.5"])

        await registry.create(pods, "ns1", {
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, W)
        await registry.patch(pods, "ns1", "p", "application/merge-patch+json",
                             {"status": {"podIP": "10.42.0.9"}}, W, subresource="status")
        assert ptr(published[-1], "9.0.42.10.in-addr.arpa") == []
        await eventually(lambda: ptr(published[-1], "9.0.42.10.in-addr.arpa")
                         == ["10-42-0-9.ns1.pod.cluster.local."])

        await registry.delete(services, "ns1", "web", DeleteOptions())
        await eventually(lambda: ask(published[-1], "web.ns1.svc.cluster.local")
                         .header.rcode == RCODE.NXDOMAIN)
        serials = [s.serial for s in published]
        assert serials == sorted(serials) and len(set(serials)) == len(serials)
    finally:
        await feed.close()
