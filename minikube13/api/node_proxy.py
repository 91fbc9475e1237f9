"""pods/log, exec and attach of a pod on another node: passed on to that node's API.

The apiserver reaches the kubelet of a pod's node at the Node's InternalIP and
`status.daemonEndpoints.kubeletEndpoint.Port`; here that port is the node's own minikube13
API, which serves the streams of its pods itself. The server calls it with its own client
certificate (the cluster CA signed it, so the node's API trusts it). Like the apiserver
without --kubelet-certificate-authority, it does not check the node's serving certificate:
each node makes its own. A log is streamed through chunk by chunk; an exec or attach
WebSocket is opened to the node with the client's subprotocols and the frames are copied
both ways until either side closes. A pod whose node is unknown, or does not say where its
API listens, is served here as before (this node's pod directories answer for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from minikube13.model import kinds
from minikube13.registry import errors
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
_NODES = kinds.find("", "v1", "nodes")
# Request headers that describe this hop, not the request (aiohttp sets its own).
_HOP_HEADERS = frozenset({"host", "connection", "upgrade", "content-length", "authorization",
                          "transfer-encoding", "sec-websocket-key", "sec-websocket-version",
                          "sec-websocket-protocol", "sec-websocket-extensions"})


def client_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS to a node's API with this server's client certificate (node certificate unchecked)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return ctx


def node_endpoint(node: dict[str, Any]) -> tuple[str, int] | None:
    """(InternalIP, API port) from a Node's status; None when it gives no way in."""
    status = node.get("status") or {}
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    host = addresses.get("InternalIP")
    if not host or not isinstance(port, int) or port <= 0:
        return None
    return host, port


@dataclass(frozen=True)
class Remote:
    """The node that runs a pod, and where its API listens."""
    node: str
    host: str
    port: int

    def url(self, request: web.Request) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{request.rel_url}"


class NodeProxy:
    """Pass a pod's stream request to the API of the node the pod runs on."""

    def __init__(self, registry: ObjectRegistry, local_node: str, ssl_context: ssl.SSLContext):
        self.registry = registry
        self.local_node = local_node
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def elsewhere(self, pod: dict[str, Any]) -> Remote | None:
        """Where to pass the pod's streams: its node when that is another node whose Node
        says where its API listens; None means serve them here (as before nodes joined)."""
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        if not node_name or node_name == self.local_node:
            return None
        assert _NODES is not None
        try:
            node = (await self.registry.get(_NODES, "", node_name)).object
        except StatusError as err:
            if err.code == 404:
                return None
            raise
        endpoint = node_endpoint(node)
        return None if endpoint is None else Remote(node_name, *endpoint)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S))
        return self._session

    async def log(self, request: web.Request, remote: Remote) -> web.StreamResponse:
        try:
            upstream = await self._client().get(remote.url(request),
                                                headers=_forward_headers(request))
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unreachable(remote.node, e) from None
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, headers={
                "Content-Type": upstream.headers.get("Content-Type", "text/plain"),
                "Cache-Control": "no-cache, private"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
                await resp.write_eof()
        return resp

    async def stream(self, request: web.Request, remote: Remote) -> web.StreamResponse:
        """exec/attach: a WebSocket to the node, then one to the client, frames copied."""
        protocols = [p.strip() for p in
                     request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        try:
            upstream = await self._client().ws_connect(
                remote.url(request), protocols=protocols, headers=_forward_headers(request),
                autoping=True)
        except aiohttp.WSServerHandshakeError as e:   # the node's answer (e.g. not running)
            return web.Response(status=e.status, text=e.message)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unreachable(remote.node, e) from None
        async with upstream:
            ws = web.WebSocketResponse(
                protocols=[upstream.protocol] if upstream.protocol else [], autoping=True)
            await ws.prepare(request)
            await _copy_both_ways(ws, upstream)
        return ws


def _forward_headers(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}


def _unreachable(node_name: str, e: BaseException) -> StatusError:
    return errors.unavailable(f"cannot reach node {node_name!r}: {e or type(e).__name__}")


async def _copy_both_ways(client: web.WebSocketResponse,
                          node: aiohttp.ClientWebSocketResponse) -> None:
    to_node = asyncio.create_task(_copy(client, node))
    to_client = asyncio.create_task(_copy(node, client))
    # The node ends a session (exit status, then close); the client may end it by closing.
    done, pending = await asyncio.wait({to_node, to_client},
                                       return_when=asyncio.FIRST_COMPLETED)
    if to_client in done:
        await client.close()
    else:
        await node.close()
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await task


async def _copy(source: Any, sink: Any) -> None:
    """Frames from one WebSocket to the other until the source closes."""
    async for msg in source:
        if msg.type == WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == WSMsgType.TEXT:
            await sink.send_str(msg.data)
        else:           # CLOSE, CLOSING, ERROR: the session is over
            return
