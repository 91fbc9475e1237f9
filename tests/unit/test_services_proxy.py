"""The service proxy loop over an in-memory registry, with nft replaced by a recorder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube13.model import kinds
from minikube13.net.services import ServiceProxyError
from minikube13.net.services.apply import affinity_carryover
from minikube13.net.services.inputs import NodeInfo
from minikube13.net.services.proxy import ServiceProxy, start_service_proxy
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import WriteOptions
from minikube13.testing.memory_store import MemoryStore

SERVICES = kinds.find("", "v1", "services")
ENDPOINTS = kinds.find("", "v1", "endpoints")
assert SERVICES is not None and ENDPOINTS is not None
W = WriteOptions()


class Recorder:
    def __init__(self, failures: int = 0) -> None:
        self.applied: list[str] = []
        self.failures = failures

    async def __call__(self, text: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceProxyError("nft said no")
        self.applied.append(text)


@pytest.fixture
async def registry() -> AsyncIterator[ObjectRegistry]:
    store = MemoryStore()
    await store.start()
    reg = ObjectRegistry(store)
    await reg.ensure_namespace("default")
    yield reg
    await store.close()


def same(node: NodeInfo) -> NodeInfo:
    return node


async def until(predicate: Any, timeout: float = 5.0) -> None:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "timed out"
        await asyncio.sleep(0.01)


async def create_service(reg: ObjectRegistry, name: str) -> str:
    assert SERVICES is not None and ENDPOINTS is not None
    svc = {"metadata": {"name": name}, "spec": {"selector": {"app": name},
                                                 "ports": [{"port": 80}]}}
    ip = (await reg.create(SERVICES, "default", svc, W)).object["spec"]["clusterIP"]
    await reg.create(ENDPOINTS, "default", {"metadata": {"name": name}, "subsets": [
        {"addresses": [{"ip": "10.42.0.5"}], "ports": [{"port": 80}]}]}, W)
    return str(ip)


async def test_applies_after_sync_and_only_on_change(registry: ObjectRegistry) -> None:
    """The first apply carries what was stored; a burst of changes is one more apply; an
    unrelated change applies nothing."""
    first_ip = await create_service(registry, "a")
    recorder = Recorder()
    proxy = ServiceProxy(registry, NodeInfo("n1"), apply=recorder, facts=same)
    proxy.start()
    try:
        await until(lambda: len(recorder.applied) == 1)
        assert first_ip in recorder.applied[0]
        ips = [await create_service(registry, f"b{i}") for i in range(5)]
        await until(lambda: all(ip in (recorder.applied or [""])[-1] for ip in ips))
        assert len(recorder.applied) <= 3  # debounced, not one apply per write
        count = len(recorder.applied)
        cm = kinds.find("", "v1", "configmaps")
        assert cm is not None
        await registry.create(cm, "default", {"metadata": {"name": "x"}}, W)
        await asyncio.sleep(0.3)
        assert len(recorder.applied) == count
    finally:
        await proxy.close()


async def test_failed_apply_is_retried(registry: ObjectRegistry) -> None:
    """When nft fails the same ruleset is tried again until it goes in."""
    await create_service(registry, "a")
    recorder = Recorder(failures=1)
    proxy = ServiceProxy(registry, NodeInfo("n1"), apply=recorder, facts=same)
    proxy.start()
    try:
        await until(lambda: len(recorder.applied) == 1)
        assert proxy.apply_count == 1
    finally:
        await proxy.close()


async def test_start_service_proxy_takes_the_daemon_config(registry: ObjectRegistry) -> None:
    """start_service_proxy reads the service and cluster CIDRs from the config."""

    class Config:
        service_cidr = "10.96.0.0/12"
        cluster_cidr = "10.244.0.0/16"

    recorder = Recorder()  # never the real nft: this runs in the machine's namespace
    proxy = start_service_proxy(registry, Config(), "n1", ["192.0.2.10"], apply=recorder)
    try:
        await until(lambda: len(recorder.applied) == 1)
        assert "ip daddr 10.96.0.0/12 " in recorder.applied[0]
        assert "elements = { 192.0.2.10 }" in recorder.applied[0]
    finally:
        await proxy.close()


def test_affinity_carryover_keeps_entries_of_kept_sets() -> None:
    """Entries of an affinity set that survives the swap are re-added with their remaining
    lifetime; sets that go away, and other tables, are ignored."""
    listing = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"set": {"family": "inet", "table": "minikube13", "name": "aff.a", "elem": [
            {"elem": {"val": "10.42.0.20", "expires": 99}},
            {"elem": {"val": "10.42.0.21", "expires": 0}}]}},
        {"set": {"family": "inet", "table": "minikube13", "name": "aff.gone", "elem": [
            {"elem": {"val": "10.42.0.22", "expires": 5}}]}},
        {"set": {"family": "inet", "table": "other", "name": "aff.a", "elem": [
            {"elem": {"val": "10.42.0.23", "expires": 5}}]}},
    ]}
    assert affinity_carryover(listing, {"aff.a"}) == (
        "add element inet minikube13 aff.a { 10.42.0.20 expires 99s, "
        "10.42.0.21 expires 1s }\n")
