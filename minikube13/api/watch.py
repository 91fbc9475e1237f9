"""Watch streaming: one JSON event per line over a chunked HTTP response.

The stream ends when the client's timeoutSeconds runs out, when the registry's iterator
ends, or when the client goes away. aiohttp does not cancel a handler whose client
disconnected (unless the runner asks it to), so an idle watch checks its transport now and
then; every exit path cancels the pending read and closes the registry's iterator, so no
task or store watcher outlives the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from minikube13.api import codec
from minikube13.registry import errors
from minikube13.registry.errors import StatusError

log = logging.getLogger(__name__)

Event = dict[str, Any]
# How long to wait for the registry's first event before sending the headers: long enough
# that an expired resourceVersion (410) is answered as a plain error response.
FIRST_EVENT_GRACE_S = 0.05
DISCONNECT_POLL_S = 1.0
DEFAULT_TIMEOUT_S = 1800.0


class _Reader:
    """The registry's iterator with at most one read in flight."""

    def __init__(self, events: AsyncIterator[Event]):
        self.events = events
        self.pending: asyncio.Future[Event] = asyncio.ensure_future(self._read())

    async def _read(self) -> Event:
        return await self.events.__anext__()

    def advance(self) -> None:
        self.pending = asyncio.ensure_future(self._read())

    async def wait(self, timeout: float) -> bool:
        done, _ = await asyncio.wait({self.pending}, timeout=timeout)
        return bool(done)

    def result(self) -> Event | None:
        """The finished read as an event; the end of the stream is None, an error an ERROR."""
        try:
            return self.pending.result()
        except StopAsyncIteration:
            return None
        except StatusError as e:
            return {"type": "ERROR", "object": e.status()}

    async def close(self) -> None:
        self.pending.cancel()
        with contextlib.suppress(BaseException):
            await self.pending
        close = getattr(self.events, "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def _rendered(render: Callable[[Event, bool], Event], event: Event, first: bool) -> Event:
    """The event as the client asked for it; a failure is the stream's last (ERROR) event."""
    try:
        return render(event, first)
    except StatusError as e:
        return {"type": "ERROR", "object": e.status()}
    except Exception:
        log.exception("watch event could not be rendered")
        return {"type": "ERROR", "object": errors.internal("watch event could not be "
                                                           "rendered").status()}


def _disconnected(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def serve(request: web.Request, events: AsyncIterator[Event],
                render: Callable[[Event, bool], Event], timeout_s: float | None) -> \
        web.StreamResponse:
    """Stream `events`, each passed through `render(event, is_first)`."""
    reader = _Reader(events)
    try:
        await reader.wait(FIRST_EVENT_GRACE_S)
        if reader.pending.done():
            error = reader.pending.exception()
            if isinstance(error, StatusError):
                raise error  # the stream has not started: answer with a plain error
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": codec.JSON, "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await _pump(request, resp, reader, render, timeout_s or DEFAULT_TIMEOUT_S)
        return resp
    finally:
        await reader.close()


async def _pump(request: web.Request, resp: web.StreamResponse, reader: _Reader,
                render: Callable[[Event, bool], Event], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    first = True
    try:
        while (remaining := deadline - loop.time()) > 0:
            if not await reader.wait(min(remaining, DISCONNECT_POLL_S)):
                if _disconnected(request):
                    return
                continue
            event = reader.result()
            if event is None:
                break
            event = _rendered(render, event, first)
            await resp.write(codec.encode_line(event))
            if event.get("type") == "ERROR":
                break
            first = first and event.get("type") == "BOOKMARK"
            reader.advance()
        await resp.write_eof()
    except ConnectionError:
        log.debug("watch client went away path=%s", request.path)
