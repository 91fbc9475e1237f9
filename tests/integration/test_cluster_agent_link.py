"""An agent's link to a server, in one process over loopback HTTP: the server is the real
API app over a registry, behind a "cable" that can be cut (requests then hang, as over a
dead link); the agent is the real AgentLink (upstream client, mirror, local copy, the node
agent's registry) and the real agent API middleware.

It checks what a node agent and a user of the agent's API see: the copy holds the servers'
objects as they are (uid, version); writes go to the server and
into the copy; cut off, reads answer from the copy with a Warning, writes of kept kinds
land in the copy, others are refused with 503; back online, the copy takes what changed,
drops what vanished and leaves untouched what did not change.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minikube13.api.server import build_app
from minikube13.auth.authn import LOCAL_ADMIN
from minikube13.cluster.agent import AgentLink
from minikube13.cluster.policy import STALE_WARNING, UPSTREAM_RV
from minikube13.daemon.supervisor import classify_request
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry import metadata as md
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, WriteOptions
from minikube13.testing.memory_store import MemoryStore

NODE = "edge"
W = WriteOptions(field_validation="Ignore")


def _info(group: str, version: str, plural: str) -> ResourceInfo:
    info = kinds.find(group, version, plural)
    assert info is not None
    return info


PODS, CONFIG_MAPS = _info("", "v1", "pods"), _info("", "v1", "configmaps")
EVENTS, NAMESPACES = _info("", "v1", "events"), _info("", "v1", "namespaces")


class Cable:
    """Between the agent and the server: cut, every request hangs."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        await self.up.wait()
        return await handler(request)


@dataclass
class Setup:
    server: ObjectRegistry
    cable: Cable
    link: AgentLink
    api: TestClient[Any, Any]

    async def pod(self, name: str, node: str = NODE) -> dict[str, Any]:
        body = {"metadata": {"name": name}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}
        return (await self.server.create(PODS, "default", body, W)).object

    async def local(self, info: ResourceInfo, name: str, ns: str = "default") -> Any:
        return await self.link.copy.store.get(md.key(info, ns, name))

    async def cut(self) -> None:
        self.cable.up.clear()
        await until(lambda: not self.link.upstream.online)

    async def restore(self) -> None:
        self.cable.up.set()
        await until(lambda: self.link.mirror.synced.is_set())


async def until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
        except StatusError as err:  # not there yet
            if err.code != 404:
                raise
            value = None
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached in {timeout}s")


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    server_store = MemoryStore()
    await server_store.start()
    server = ObjectRegistry(server_store)
    for ns in ("default", "kube-system", "kube-public"):
        await server.ensure_namespace(ns)
    cable = Cable()
    app = build_app(server, authenticate=lambda request: LOCAL_ADMIN)
    app.middlewares.insert(0, cable.middleware)
    http = TestServer(app, host="127.0.0.1")
    await http.start_server()
    agent_store = MemoryStore()
    await agent_store.start()
    link = AgentLink(agent_store, [str(http.make_url("")).rstrip("/")],
                     ssl.create_default_context(), tmp_path / "synced",
                     probe_s=0.1, probe_timeout_s=0.3)
    await link.start()
    await link.wait_usable()
    agent_app = build_app(link.served, authenticate=lambda request: LOCAL_ADMIN)
    link.api(classify_request).install(agent_app)
    api = TestClient(TestServer(agent_app, host="127.0.0.1"))
    await api.start_server()
    try:
        yield Setup(server, cable, link, api)
    finally:
        cable.up.set()
        await api.close()
        await link.close()
        await http.close()
        await agent_store.close()
        await server_store.close()


async def test_the_copy_holds_the_servers_objects_as_they_are(setup: Setup) -> None:
    mine = await setup.pod("mine")
    cm = (await setup.server.create(CONFIG_MAPS, "default",
                                    {"metadata": {"name": "cfg"}, "data": {"k": "v"}}, W)).object
    got = await until(lambda: setup.link.registry.get(PODS, "default", "mine"))
    assert got.object["metadata"]["uid"] == mine["metadata"]["uid"]
    assert got.object["metadata"]["creationTimestamp"] == mine["metadata"]["creationTimestamp"]
    await until(lambda: setup.local(CONFIG_MAPS, "cfg"))
    # the agent's API shows the servers' version, without the copy's annotation
    resp = await setup.api.get("/api/v1/namespaces/default/configmaps/cfg")
    shown = await resp.json()
    assert shown["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]
    assert UPSTREAM_RV not in (shown["metadata"].get("annotations") or {})
    assert "Warning" not in resp.headers
    # so an edit through the agent (GET, change, PUT with that version) reaches the server
    shown["data"] = {"k": "edited"}
    resp = await setup.api.put("/api/v1/namespaces/default/configmaps/cfg", json=shown)
    assert resp.status == 200, await resp.text()
    assert (await setup.server.get(CONFIG_MAPS, "default", "cfg")).object["data"] == \
        {"k": "edited"}
    resp = await setup.api.put("/api/v1/namespaces/default/configmaps/cfg", json=shown)
    assert resp.status == 409  # that version is stale now, on the server


async def test_node_agent_writes_reach_the_server_and_the_copy(setup: Setup) -> None:
    await setup.pod("p")
    local = (await until(lambda: setup.link.registry.get(PODS, "default", "p"))).object
    status = {"phase": "Running", "podIP": "10.42.0.9"}
    written = await setup.link.registry.update(PODS, "default", "p", dict(local, status=status),
                                               W, "status")
    on_server = (await setup.server.get(PODS, "default", "p")).object
    assert on_server["status"]["podIP"] == "10.42.0.9"
    assert UPSTREAM_RV not in (on_server["metadata"].get("annotations") or {})
    kv = await setup.local(PODS, "p")
    assert written.object["metadata"]["resourceVersion"] == str(kv.mod_revision)
    # a stale local pin is a conflict, as it would be on a server
    with pytest.raises(StatusError) as err:
        await setup.link.registry.update(PODS, "default", "p", dict(local, status=status), W,
                                         "status")
    assert err.value.code == 409


async def test_cut_off_reads_answer_from_the_copy_and_writes_are_refused(setup: Setup
                                                                         ) -> None:
    await setup.pod("p")
    await until(lambda: setup.local(PODS, "p"))
    await setup.cut()
    resp = await setup.api.get("/api/v1/namespaces/default/pods")
    assert resp.status == 200
    assert [p["metadata"]["name"] for p in (await resp.json())["items"]] == ["p"]
    assert STALE_WARNING in resp.headers.getall("Warning")
    resp = await setup.api.post("/api/v1/namespaces/default/configmaps",
                                json={"metadata": {"name": "x"}})
    assert resp.status == 503
    status = await resp.json()
    assert status["reason"] == "ServiceUnavailable" and "cut off" in status["message"]
    resp = await setup.api.get("/apis/apps/v1/namespaces/default/deployments")
    assert resp.status == 503
    # the node agent keeps going: pod status lands in the copy, events are refused
    local = (await setup.link.registry.get(PODS, "default", "p")).object
    await setup.link.registry.update(PODS, "default", "p",
                                     dict(local, status={"phase": "Running"}), W, "status")
    assert (await setup.link.registry.get(PODS, "default", "p")).object["status"]["phase"] \
        == "Running"
    with pytest.raises(StatusError) as err:
        await setup.link.registry.create(EVENTS, "default", {"metadata": {"name": "e"}}, W)
    assert err.value.code == 503


async def test_back_online_the_copy_takes_what_changed_and_keeps_what_did_not(setup: Setup
                                                                              ) -> None:
    for name in ("steady", "gone", "reported"):
        await setup.pod(name)
    await until(lambda: setup.local(PODS, "reported"))
    steady_before = await setup.local(PODS, "steady")
    await setup.cut()
    local = (await setup.link.registry.get(PODS, "default", "reported")).object
    await setup.link.registry.update(PODS, "default", "reported",
                                     dict(local, status={"phase": "Running"}), W, "status")
    # meanwhile on the server: a pod deleted, a pod added, a config map changed
    await setup.server.delete(PODS, "default", "gone", _now())
    added = await setup.pod("added")
    await setup.server.create(CONFIG_MAPS, "default", {"metadata": {"name": "new"}}, W)
    await setup.restore()
    assert await setup.local(PODS, "gone") is None
    got = await until(lambda: setup.link.registry.get(PODS, "default", "added"))
    assert got.object["metadata"]["uid"] == added["metadata"]["uid"]
    assert await setup.local(CONFIG_MAPS, "new") is not None
    steady_after = await setup.local(PODS, "steady")
    assert steady_after.mod_revision == steady_before.mod_revision  # untouched
    # the status written while cut off gives way to the server's, so the agent reports again
    reported = (await setup.link.registry.get(PODS, "default", "reported")).object
    assert reported["status"].get("phase") == "Pending"


async def test_a_watch_through_the_agent_ends_when_the_server_is_lost(setup: Setup) -> None:
    resp = await setup.api.get("/apis/apps/v1/namespaces/default/deployments?watch=1")
    assert resp.status == 200
    await setup.cut()
    await asyncio.wait_for(resp.read(), 5)  # the stream ended: the client re-watches locally
    listed = await setup.link.served.list(NAMESPACES, "", ListOptions())
    assert {i["metadata"]["name"] for i in listed["items"]} >= {"default", "kube-system"}


async def test_bootstrap_tokens_stay_on_the_servers(setup: Setup) -> None:
    secrets = _info("", "v1", "secrets")
    for name, kind in (("bootstrap-token-abcdef", "bootstrap.kubernetes.io/token"),
                       ("app", "Opaque")):
        await setup.server.create(secrets, "kube-system",
                                  {"metadata": {"name": name}, "type": kind}, W)
    await until(lambda: setup.local(secrets, "app", "kube-system"))
    assert await setup.local(secrets, "bootstrap-token-abcdef", "kube-system") is None


async def test_the_agent_fails_over_to_another_server(tmp_path: Path) -> None:
    """Two API servers over one store: the first one's link cut, the agent carries on
    with the second."""
    store = MemoryStore()
    await store.start()
    server = ObjectRegistry(store)
    for ns in ("default", "kube-system", "kube-public"):
        await server.ensure_namespace(ns)
    cables, servers = [], []
    for _ in range(2):
        cable = Cable()
        app = build_app(server, authenticate=lambda request: LOCAL_ADMIN)
        app.middlewares.insert(0, cable.middleware)
        http = TestServer(app, host="127.0.0.1")
        await http.start_server()
        cables.append(cable)
        servers.append(http)
    agent_store = MemoryStore()
    await agent_store.start()
    urls = [str(h.make_url("")).rstrip("/") for h in servers]
    link = AgentLink(agent_store, urls, ssl.create_default_context(), tmp_path / "m",
                     probe_s=0.1, probe_timeout_s=0.3)
    await link.start()
    try:
        await link.wait_usable()
        assert link.upstream.url == urls[0]
        cables[0].up.clear()
        await until(lambda: link.upstream.url == urls[1])
        body = {"metadata": {"name": "late"}, "spec": {
            "nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}
        await server.create(PODS, "default", body, W)
        await until(lambda: agent_store.get(md.key(PODS, "default", "late")))
        assert link.upstream.online
    finally:
        for cable in cables:
            cable.up.set()
        await link.close()
        for http in servers:
            await http.close()
        await agent_store.close()
        await store.close()


def _now() -> Any:
    from minikube13.registry.options import DeleteOptions
    return DeleteOptions(grace_period_seconds=0)
