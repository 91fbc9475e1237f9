"""pods/log, pods/exec and pods/attach: the apiserver's checks, then the node's streams.

The apiserver's part (pod lookup, container choice, PodLogOptions validation, "no host
assigned") answers with a Status like the apiserver; the kubelet's part answers like the
kubelet behind it: a log that does not exist yet is a 400 with the kubelet's words, exec
into a container that does not run is the kubelet's plain-text 500 `container not found`
(kubectl prints `unable to upgrade connection: ...`). exec and attach speak the WebSocket
channel protocol (channels.py); kubectl 1.32 tries WebSocket first and falls back to SPDY
only when the upgrade fails, so a plain error answer reaches the user either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from minikube13.api import audit, channels, exchange, params
from minikube13.api.channels import Protocol
from minikube13.api.node_proxy import NodeProxy, Remote
from minikube13.model import kinds
from minikube13.model.errors import FORBIDDEN, INVALID, FieldError
from minikube13.registry import errors
from minikube13.registry.objects import ObjectRegistry
from minikube13.runtime.crilog import LogFormatError, parse_rfc3339_nano
from minikube13.runtime.streams import (
    AttachSession,
    ContainerNotRunning,
    ExecSession,
    LogOptions,
    LogsUnavailable,
    PodStreams,
)

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Session = ExecSession | AttachSession
PATH = "/api/v1/namespaces/{namespace}/pods/{name}/{sub:log|exec|attach}"
_PODS = kinds.find("", "v1", "pods")
_CLOSE_TIMEOUT_S = 5.0


class PodStreamHandlers:
    """The three streaming subresources of pods over `PodStreams` on this node."""

    def __init__(self, registry: ObjectRegistry, streams: PodStreams,
                 proxy: NodeProxy | None = None):
        self.registry = registry
        self.streams = streams
        self.proxy = proxy    # on a server: pods of other nodes are theirs to serve

    async def serve(self, request: web.Request) -> web.StreamResponse:
        sub = request.match_info["sub"]
        request[exchange.RESOURCE] = "pods"
        if sub == "log":
            request[exchange.VERB] = "GET"
            if request.method not in ("GET", "HEAD"):
                raise errors.method_not_allowed()
            return await self.serve_log(request)
        request[exchange.VERB] = "CONNECT"
        request[audit.TARGET] = audit.AuditTarget(  # the apiserver audits exec as a create
            "create", f"pods/{sub}", request.match_info["namespace"], request.match_info["name"])
        if request.method not in ("GET", "POST"):
            raise errors.method_not_allowed()
        return await self.serve_stream(request, sub)

    async def _pod(self, request: web.Request) -> Doc:
        assert _PODS is not None
        result = await self.registry.get(_PODS, request.match_info["namespace"],
                                         request.match_info["name"])
        return result.object

    # -- log ------------------------------------------------------------------------------

    async def _elsewhere(self, pod: Doc) -> Remote | None:
        """The pod's node when another node runs it (and we can pass the request on)."""
        if self.proxy is None or self.streams.has_pod(pod["metadata"].get("uid", "")):
            return None
        return await self.proxy.elsewhere(pod)

    async def serve_log(self, request: web.Request) -> web.StreamResponse:
        pod = await self._pod(request)
        name = pod["metadata"]["name"]
        remote = await self._elsewhere(pod)
        if remote is not None:
            assert self.proxy is not None
            choose_container(pod, request.query.get("container", ""))  # the apiserver's 400s
            return await self.proxy.log(request, remote)
        options = log_options(request.query, name, time.time())
        container = choose_container(pod, request.query.get("container", ""))
        uid = pod["metadata"].get("uid", "")
        if not self.streams.has_pod(uid) and not pod.get("spec", {}).get("nodeName"):
            return _text_response(b"")  # not scheduled: the apiserver streams nothing
        try:
            chunks = self.streams.logs(uid, name, container, options,
                                       waiting_reason=waiting_reason(pod, container))
            first = await anext(chunks, None)
        except LogsUnavailable as e:
            raise errors.bad_request(e.message) from None
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": "text/plain", "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            chunk = first
            while chunk is not None:
                if chunk:
                    await resp.write(chunk)
                elif _disconnected(request):
                    return resp
                chunk = await anext(chunks, None)
            await resp.write_eof()
        except ConnectionError:
            log.debug("log client went away path=%s", request.path)
        finally:
            await chunks.aclose()
        return resp

    # -- exec and attach ------------------------------------------------------------------

    async def serve_stream(self, request: web.Request, sub: str) -> web.StreamResponse:
        target = await self._stream_target(request, sub)
        if target.remote is not None:
            assert self.proxy is not None
            return await self.proxy.stream(request, target.remote)
        try:
            self.streams.running_state(target.uid, target.container)
        except ContainerNotRunning as e:  # the kubelet's answer, passed through as it is
            return web.Response(status=500, text=e.message)
        protocol = _websocket_protocol(request)
        ws = web.WebSocketResponse(protocols=[protocol.name], autoping=True)
        await ws.prepare(request)
        log.info("stream open sub=%s pod=%s container=%s protocol=%s", sub, target.pod,
                 target.container, protocol.name)
        want = target.want
        first = channels.STDOUT if want["stdout"] else (
            channels.STDERR if want["stderr"] else channels.ERROR)
        await _send(ws, protocol, first, b"")  # tells old clients the streams are open
        try:
            session = await self._open(target, sub)
        except Exception as e:  # the client learns why on the error channel
            log.warning("stream failed to start pod=%s error=%s", target.pod, e)
            status = channels.failure_status(f"error executing command in container: {e}")
            await _finish(ws, protocol, status)
            return ws
        await _bridge(ws, protocol, session, target.command, want)
        return ws

    async def _stream_target(self, request: web.Request, sub: str) -> StreamTarget:
        """The apiserver's checks of an exec/attach request."""
        pod = await self._pod(request)
        meta = pod["metadata"]
        query = request.query
        container = choose_container(pod, query.get("container", ""))
        want = {k: bool(params.flag(query, k)) for k in ("stdin", "stdout", "stderr", "tty")}
        want["tty"] = want["tty"] and sub == "exec"  # containers run without a terminal
        want["stderr"] = want["stderr"] and not want["tty"]  # a terminal has one stream
        command = query.getall("command", [])
        if sub == "exec" and not command:
            raise errors.bad_request("you must specify at least one command for the container")
        if not (want["stdin"] or want["stdout"] or want["stderr"]):
            raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
        uid = meta.get("uid", "")
        if not self.streams.has_pod(uid) and not pod.get("spec", {}).get("nodeName"):
            raise errors.bad_request(f"pod {meta['name']} does not have a host assigned")
        return StreamTarget(uid, f"{meta.get('namespace')}/{meta['name']}", container,
                            command, want, await self._elsewhere(pod))

    async def _open(self, target: StreamTarget, sub: str) -> Session:
        if sub == "exec":
            return await self.streams.exec(target.uid, target.container, target.command,
                                           stdin=target.want["stdin"], tty=target.want["tty"],
                                           stderr=target.want["stderr"])
        return self.streams.attach(target.uid, target.container, stdin=target.want["stdin"])


@dataclass(frozen=True)
class StreamTarget:
    """What an exec/attach request asks for, checked."""
    uid: str
    pod: str              # namespace/name, for the log
    container: str
    command: list[str]
    want: dict[str, bool]  # stdin, stdout, stderr, tty
    remote: Remote | None = None  # another node runs the pod: pass the request on to it


async def _bridge(ws: web.WebSocketResponse, protocol: Protocol, session: Session,
                  command: list[str], want: dict[str, bool]) -> None:
    """Client input -> session; session output -> client; then the status and the close.
    However this ends (aiohttp cancels the handler when the client goes away), a session
    that did not finish is terminated."""
    reader = asyncio.ensure_future(_client_input(ws, protocol, session))
    output = asyncio.ensure_future(_output(ws, protocol, session, want))
    finished = False
    try:
        done, _ = await asyncio.wait({reader, output}, return_when=asyncio.FIRST_COMPLETED)
        if output in done and output.exception() is None:
            code = await session.wait()
            finished = True
            status = channels.exit_status(command, code) if command else \
                channels.success_status()
            await _finish(ws, protocol, status)
    except ConnectionError:
        log.debug("stream client went away")
    finally:
        for task in (reader, output):
            task.cancel()
        if not finished:  # a task of its own: it must outlive a cancelled handler
            _background(session.terminate())


_BACKGROUND: set[asyncio.Future[None]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _output(ws: web.WebSocketResponse, protocol: Protocol, session: Session,
                  want: dict[str, bool]) -> None:
    while (item := await session.read()) is not None:
        channel, data = item
        if (channel == channels.STDOUT and want["stdout"]) or \
                (channel == channels.STDERR and want["stderr"]):
            await _send(ws, protocol, channel, data)


async def _client_input(ws: web.WebSocketResponse, protocol: Protocol,
                        session: Session) -> None:
    async for msg in ws:
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            continue
        try:
            frame = channels.decode(protocol, msg.data)
            if isinstance(frame, channels.Close):
                if frame.channel == channels.STDIN:
                    session.close_stdin()
            elif frame is None:
                continue
            elif frame.channel == channels.STDIN:
                await session.write_stdin(frame.data)
            elif frame.channel == channels.RESIZE:
                for size in channels.parse_resize(frame.data):
                    session.resize(size.width, size.height)
        except channels.ChannelError as e:
            log.debug("bad channel message error=%s", e)


async def _send(ws: web.WebSocketResponse, protocol: Protocol, channel: int,
                data: bytes) -> None:
    message = channels.encode(protocol, channel, data)
    if isinstance(message, str):
        await ws.send_str(message)
    else:
        await ws.send_bytes(message)


async def _finish(ws: web.WebSocketResponse, protocol: Protocol, status: Doc) -> None:
    payload = channels.error_payload(protocol, status)
    with contextlib.suppress(ConnectionError):
        if payload:
            await _send(ws, protocol, channels.ERROR, payload)
        await asyncio.wait_for(ws.close(), _CLOSE_TIMEOUT_S)


def _websocket_protocol(request: web.Request) -> Protocol:
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise errors.bad_request("Upgrade request required: this server streams exec and "
                                 "attach over WebSocket (v5.channel.k8s.io) only")
    offered = [p for h in request.headers.getall("Sec-WebSocket-Protocol", [])
               for p in h.split(",")]
    protocol = channels.negotiate(offered)
    if protocol is None:
        raise errors.bad_request(f"none of the offered stream protocols is supported: "
                                 f"{offered}; supported: {list(channels.PROTOCOLS)}")
    return protocol


def _disconnected(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _text_response(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": "text/plain"})


# -- the apiserver's checks (pure) ----------------------------------------------------------

def container_names(pod: Doc) -> list[str]:
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def choose_container(pod: Doc, requested: str) -> str:
    """The container a request means, worded like the apiserver's validateContainer."""
    name = pod["metadata"]["name"]
    containers = (pod.get("spec") or {}).get("containers") or []
    if not requested:
        if len(containers) == 1:
            return str(containers[0].get("name", ""))
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                 f"choose one of: [{' '.join(container_names(pod))}]")
    if requested not in container_names(pod):
        raise errors.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def waiting_reason(pod: Doc, container: str) -> str:
    """The waiting reason the pod's status shows for the container, else ContainerCreating."""
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses"):
        for cs in status.get(key) or []:
            if cs.get("name") == container:
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                if reason:
                    return str(reason)
    return "ContainerCreating"


def log_options(query: params.Query, name: str, now: float) -> LogOptions:
    """PodLogOptions from the query, checked like the apiserver (422 PodLogOptions)."""
    tail = params.integer(query, "tailLines")
    limit = params.integer(query, "limitBytes")
    since_s = params.integer(query, "sinceSeconds")
    since_time = query.get("sinceTime") or None
    problems = []
    if tail is not None and tail < 0:
        problems.append(FieldError(INVALID, "tailLines", "must be greater than or equal to 0",
                                   tail))
    if limit is not None and limit < 1:
        problems.append(FieldError(INVALID, "limitBytes", "must be greater than 0", limit))
    if since_s is not None and since_time is not None:
        problems.append(FieldError(FORBIDDEN, "", "at most one of `sinceTime` or "
                                   "`sinceSeconds` may be specified"))
    elif since_s is not None and since_s < 1:
        problems.append(FieldError(INVALID, "sinceSeconds", "must be greater than 0", since_s))
    if problems:
        text = problems[0].message() if len(problems) == 1 else \
            "[" + ", ".join(p.message() for p in problems) + "]"
        raise errors.invalid("", "PodLogOptions", name,
                             f'PodLogOptions "{name}" is invalid: {text}', problems)
    since_ns = None
    if since_s is not None:
        since_ns = int((now - since_s) * 1_000_000_000)
    elif since_time is not None:
        since_ns = _parse_time(since_time)
    return LogOptions(follow=bool(params.flag(query, "follow")),
                      previous=bool(params.flag(query, "previous")),
                      timestamps=bool(params.flag(query, "timestamps")),
                      since_ns=since_ns, tail_lines=tail, limit_bytes=limit)


def _parse_time(text: str) -> int:
    """sinceTime: RFC 3339 (kubectl sends whole seconds, UTC or with an offset)."""
    try:
        if text.endswith("Z"):
            return parse_rfc3339_nano(text)
        return int(datetime.fromisoformat(text).timestamp() * 1_000_000_000)
    except (LogFormatError, ValueError):
        raise errors.bad_request(f'invalid value for sinceTime: "{text}" is not an RFC 3339 '
                                 f"time") from None
