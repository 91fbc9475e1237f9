"""The agent's line to the servers: an HTTPS client with the node's certificate that knows
whether any server answers, and fails over between them.

A probe loop asks the current server's /readyz every `probe_s` on a fresh connection (the
real test of the link); when it fails, the other servers are tried in turn, and the first that
answers becomes current. `failures_to_offline` rounds without any answer make the agent
offline; one answer makes it online again. Each stretch of being online with one server is an
Epoch: long-running work (a mirror's watch, a proxied watch) runs inside it and is cancelled
when it ends (cut off, or switched to another server), since a watch over a dead link would
otherwise hang silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

T = TypeVar("T")
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class Unreachable(Exception):
    """No server answered the request (cut off, or the server went away mid-request)."""


class EpochEnded(Exception):
    """The online stretch this work belonged to is over."""


@dataclass
class Epoch:
    number: int
    url: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    warnings: tuple[str, ...] = ()

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Upstream:
    def __init__(self, urls: Sequence[str], ssl_context: ssl.SSLContext, *,
                 probe_s: float = 1.0, probe_timeout_s: float = 2.5,
                 failures_to_offline: int = 2, request_timeout_s: float = 15.0):
        if not urls:
            raise ValueError("an agent needs at least one server")
        self._urls = list(dict.fromkeys(urls))
        self._current = 0
        self._ssl = ssl_context
        self.probe_s = probe_s
        self.probe_timeout_s = probe_timeout_s
        self.failures_to_offline = failures_to_offline
        self.request_timeout_s = request_timeout_s
        self._epoch: Epoch | None = None
        self._epochs = 0
        self._changed = asyncio.Event()  # set (and replaced) at every transition
        self._kick = asyncio.Event()
        self._listeners: list[Callable[[bool], None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._probe_session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._epoch is not None

    @property
    def epoch(self) -> Epoch | None:
        return self._epoch

    @property
    def url(self) -> str:
        return self._urls[self._current]

    @property
    def servers(self) -> list[str]:
        return list(self._urls)

    def set_servers(self, urls: Sequence[str]) -> None:
        """Servers learnt later (gossip members with role=server): keep the current one."""
        merged = list(dict.fromkeys([*self._urls, *urls]))
        current = self.url
        self._urls = merged
        self._current = merged.index(current)

    def add_listener(self, on_change: Callable[[bool], None]) -> None:
        """`on_change(online)` at every change of online/offline."""
        self._listeners.append(on_change)

    def suspect(self) -> None:
        """A request failed on the network: probe now rather than at the next tick."""
        self._kick.set()

    async def wait_online(self) -> Epoch:
        while self._epoch is None:
            await self._changed.wait()
        return self._epoch

    async def wait_offline(self) -> None:
        while self._epoch is not None:
            await self._changed.wait()

    async def within(self, epoch: Epoch, work: Awaitable[T]) -> T:
        """Run `work` while `epoch` lasts; cancel it and raise EpochEnded when it ends."""
        task = asyncio.ensure_future(work)
        ended = asyncio.ensure_future(epoch.ended.wait())
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise EpochEnded()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._session = self._new_session(keepalive=True)
        self._probe_session = self._new_session(keepalive=False)
        self._task = asyncio.create_task(self._probe_forever(), name="upstream-probe")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._end_epoch()
        for session in (self._session, self._probe_session):
            if session is not None:
                await _close_quietly(session)
        self._session = self._probe_session = None

    def _new_session(self, keepalive: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(ssl=self._ssl, force_close=not keepalive, limit=64)
        return aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                     headers={"User-Agent": "minikube13-agent"})

    # -- the probe ----------------------------------------------------------------------

    async def _probe_forever(self) -> None:
        failures = 0
        while True:
            try:
                found = await self._probe_round()
                if found is not None:
                    failures = 0
                    self._went_online(found)
                else:
                    failures += 1
                    if failures >= self.failures_to_offline and self.online:
                        log.warning("cut off from the servers servers=%s",
                                    ",".join(self._urls))
                        self._end_epoch()
                        await self._fresh_session()
            except Exception:  # the probe is the agent's only way back: it must not die
                log.exception("server probe failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.probe_s):
                    await self._kick.wait()
            self._kick.clear()

    async def _probe_round(self) -> int | None:
        """The index of the first server that answers /readyz, the current one first."""
        n = len(self._urls)
        for step in range(n):
            index = (self._current + step) % n
            if await self._probe(self._urls[index]):
                return index
        return None

    async def _probe(self, url: str) -> bool:
        assert self._probe_session is not None
        timeout = aiohttp.ClientTimeout(total=self.probe_timeout_s)
        try:
            async with self._probe_session.get(url + "/readyz", timeout=timeout) as resp:
                await resp.read()
                return resp.status == 200
        except NETWORK_ERRORS as e:
            log.debug("probe failed server=%s error=%r", url, e)
            return False

    def _went_online(self, index: int) -> None:
        if self._epoch is not None and index == self._current:
            return
        if self._epoch is not None:
            log.warning("server switched from=%s to=%s", self.url, self._urls[index])
            self._end_epoch(notify=False)
        self._current = index
        self._epochs += 1
        self._epoch = Epoch(self._epochs, self.url)
        log.info("connected to the servers server=%s epoch=%d", self.url, self._epochs)
        self._transition(True)

    def _end_epoch(self, notify: bool = True) -> None:
        epoch, self._epoch = self._epoch, None
        if epoch is None:
            return
        epoch.ended.set()
        if notify:
            self._transition(False)

    def _transition(self, online: bool) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for listener in self._listeners:
            try:
                listener(online)
            except Exception:
                log.exception("upstream listener failed")

    async def _fresh_session(self) -> None:
        """Drop pooled connections that may be dead after the link went away."""
        old, self._session = self._session, self._new_session(keepalive=True)
        if old is not None:
            await _close_quietly(old)

    # -- requests -----------------------------------------------------------------------

    def _url_of(self, path: str) -> URL:
        """`path` is already percent-encoded (and may carry a query): sent as it is."""
        return URL(self.url + path, encoded=True)

    async def request(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                      body: bytes | None = None, headers: Mapping[str, str] | None = None,
                      timeout_s: float | None = None) -> Reply:
        """One request to the current server; Unreachable when it cannot be made."""
        if not self.online:
            raise Unreachable("cut off from the servers")
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=timeout_s or self.request_timeout_s,
                                        connect=self.probe_timeout_s)
        try:
            async with self._session.request(method, self._url_of(path), params=query,
                                             data=body, headers=headers,
                                             timeout=timeout) as resp:
                data = await resp.read()
                return Reply(resp.status, dict(resp.headers), data,
                             tuple(resp.headers.getall("Warning", [])))
        except NETWORK_ERRORS as e:
            self.suspect()
            raise Unreachable(f"{method} {self.url}{path}: {e!r}") from e

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
                     body: bytes | None = None, headers: Mapping[str, str] | None = None
                     ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A response to read as it comes (a watch); no total timeout."""
        if not self.online:
            raise Unreachable("cut off from the servers")
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.probe_timeout_s)
        try:
            async with self._session.request(method, self._url_of(path), params=query,
                                             data=body, headers=headers,
                                             timeout=timeout) as resp:
                yield resp
        except NETWORK_ERRORS as e:
            self.suspect()
            raise Unreachable(f"{method} {self.url}{path}: {e!r}") from e


async def _close_quietly(session: aiohttp.ClientSession) -> None:
    """Close a session whose connections may be half dead (Python 3.11's SSL transport
    can raise while aborting one that already lost its protocol)."""
    try:
        await session.close()
    except Exception as e:
        log.debug("session close failed error=%r", e)
