"""An agent's line to the servers fails over between them (issue 6: "any live server").

Real HTTP servers on loopback stand in for two servers' APIs; `Upstream` is the agent's
client. A server that stops answering /readyz hands the agent to the other one: the online
stretch (epoch) with the first ends, so a watch running inside it is cancelled, and requests
go to the second. With no server left the agent is offline; one coming back brings it
online again. Servers learnt later from gossip join the list.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from minikube13.cluster.upstream import EpochEnded, Unreachable, Upstream


class FakeServerAPI:
    """/readyz and /whoami on a loopback port; stop() and start() again on the same port."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def readyz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def whoami(_: web.Request) -> web.Response:
            return web.Response(text=self.name)
        app = web.Application()
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/whoami", whoami)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def servers() -> AsyncIterator[list[FakeServerAPI]]:
    made = [FakeServerAPI(name) for name in ("server-a", "server-b", "server-c")]
    for s in made:
        await s.start()
    yield made
    for s in made:
        await s.stop()


async def whoami(up: Upstream) -> str:
    return (await up.request("GET", "/whoami")).body.decode()


async def test_the_agent_fails_over_to_a_live_server_and_back(
        servers: list[FakeServerAPI]) -> None:
    a, b, c = servers
    up = Upstream([a.url, b.url], ssl.create_default_context(), probe_s=0.1,
                  probe_timeout_s=0.5, failures_to_offline=2)
    await up.start()
    try:
        first = await asyncio.wait_for(up.wait_online(), 5)
        assert await whoami(up) == "server-a"
        watch = asyncio.ensure_future(up.within(first, asyncio.sleep(3600)))

        await a.stop()                                   # server-a goes away
        with pytest.raises(EpochEnded):                  # the watch on it is cancelled
            await asyncio.wait_for(watch, 5)
        second = await asyncio.wait_for(up.wait_online(), 5)
        assert second.number > first.number and second.url == b.url
        assert await whoami(up) == "server-b"

        await b.stop()                                   # no server left: offline
        await asyncio.wait_for(up.wait_offline(), 5)
        with pytest.raises(Unreachable):
            await whoami(up)

        up.set_servers([c.url])                          # gossip found another server
        await asyncio.wait_for(up.wait_online(), 5)
        assert await whoami(up) == "server-c"
        assert up.servers == [a.url, b.url, c.url]
    finally:
        await up.close()
