"""The agent's API: the same Kubernetes API app, over the local copy, with a middleware that
sends each resource request where policy.route says.

* Local (reads the copy answers): served by the app's own handlers over a `CopyRegistry`,
  which shows the servers' resourceVersion on GET and LIST (policy.served_view). While cut
  off the answer carries `Warning: 299 minikube13 "cut off from the servers: ..."`.
* Forward (writes, and reads the copy cannot answer): proxied as they came (method, path,
  query, body, content type) to the current server. The server sees the node's identity
  (its client certificate), not the caller's: the agent's local API is for the node's
  operator, who is its admin. Watches are streamed through and ended when the server is
  lost, so the client's re-watch lands on the copy.
* Unavailable (cut off, and the copy cannot answer): 503 ServiceUnavailable saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from minikube13.cluster import policy
from minikube13.cluster.upstream import EpochEnded, Unreachable, Upstream
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import unavailable
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions, Result

log = logging.getLogger(__name__)

Object = dict[str, Any]
Target = tuple[ResourceInfo, str, str]  # (resource, verb, subresource)
Classify = Callable[[web.Request], Target | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ANSWERED_LOCALLY = web.RequestKey("agent_answered_locally", bool)
_REQUEST_HEADERS = ("Accept", "Content-Type", "User-Agent")
_RESPONSE_HEADERS = ("Content-Type", "Warning", "Cache-Control", "Audit-Id")


class CopyRegistry(ObjectRegistry):
    """The registry under the agent's API handlers: reads of the copy, with the servers'
    versions shown on GET and LIST. Watch events keep local versions, since a watch is
    resumed from them (and is served from the copy again)."""

    async def get(self, info: ResourceInfo, namespace: str, name: str,
                  subresource: str = "") -> Result:
        result = await super().get(info, namespace, name, subresource)
        return Result(policy.served_view(result.object), result.warnings, result.status_code)

    async def list(self, info: ResourceInfo, namespace: str, opts: ListOptions) -> Object:
        doc = await super().list(info, namespace, opts)
        doc["items"] = [policy.served_view(item) for item in doc["items"]]
        return doc

    def watch(self, info: ResourceInfo, namespace: str,
              opts: ListOptions) -> AsyncIterator[Object]:
        return _unstamped_events(super().watch(info, namespace, opts))


async def _unstamped_events(events: AsyncIterator[Object]) -> AsyncIterator[Object]:
    try:
        async for event in events:
            obj = event.get("object")
            if isinstance(obj, dict):
                event = dict(event, object=policy.unstamped(obj))
            yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


class AgentAPI:
    """Install with `install(app)` before the app is started."""

    def __init__(self, upstream: Upstream, classify: Classify):
        self.upstream = upstream
        self.classify = classify

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.on_response_prepare.append(self._mark_stale)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        target = self.classify(request)
        if target is None:
            return await handler(request)
        info, verb, subresource = target
        way = policy.route(info.storage, verb, subresource, self.upstream.online)
        if way is policy.Way.LOCAL:
            request[ANSWERED_LOCALLY] = True
            return await handler(request)
        if way is policy.Way.UNAVAILABLE:
            raise unavailable(policy.unavailable_message(info.plural, verb))
        try:
            if verb == "watch":
                return await self._proxy_stream(request)
            return await self._proxy(request)
        except Unreachable as e:
            log.info("request not forwarded path=%s error=%s", request.path, e)
            raise unavailable(policy.unavailable_message(info.plural, verb)) from None

    async def _mark_stale(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        if request.get(ANSWERED_LOCALLY) and not self.upstream.online and response.status < 400:
            response.headers.add("Warning", policy.STALE_WARNING)

    # -- the proxy -------------------------------------------------------------------------

    @staticmethod
    def _request_headers(request: web.Request) -> dict[str, str]:
        return {h: request.headers[h] for h in _REQUEST_HEADERS if h in request.headers}

    @staticmethod
    def _copy_headers(upstream_headers: Any, response: web.StreamResponse) -> None:
        for name in _RESPONSE_HEADERS:
            for value in upstream_headers.getall(name, []):
                response.headers.add(name, value)

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        body = await request.read() if request.body_exists else None
        reply = await self.upstream.request(request.method, request.raw_path, body=body,
                                            headers=self._request_headers(request))
        out = web.Response(status=reply.status, body=reply.body)
        for name, value in reply.headers.items():
            if name.lower() in ("content-type", "cache-control", "audit-id"):
                out.headers[name] = value
        for warning in reply.warnings:
            out.headers.add("Warning", warning)
        return out

    async def _proxy_stream(self, request: web.Request) -> web.StreamResponse:
        epoch = self.upstream.epoch
        if epoch is None:
            raise Unreachable("cut off from the servers")
        async with self.upstream.stream("GET", request.raw_path,
                                        headers=self._request_headers(request)) as resp:
            out = web.StreamResponse(status=resp.status)
            self._copy_headers(resp.headers, out)
            await out.prepare(request)
            with contextlib.suppress(EpochEnded, ConnectionResetError,
                                     aiohttp.ClientError, asyncio.TimeoutError):
                await self.upstream.within(epoch, _pipe(resp, out))
            with contextlib.suppress(ConnectionResetError):
                await out.write_eof()
            return out


async def _pipe(resp: aiohttp.ClientResponse, out: web.StreamResponse) -> None:
    async for chunk in resp.content.iter_any():
        await out.write(chunk)
