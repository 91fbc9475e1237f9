"""Keep the local copy in line with the servers: for each kept kind, list then watch from
the current server while online (like client-go's reflector), writing into the copy.

Every time the agent comes online (and after a watch expired), each kind is listed again and
the copy replaced by the list: what vanished meanwhile is dropped, what changed is
rewritten, what is the same is left alone, so pods that kept running keep their local
version and the node agent sees no change for them. When every kind has been listed in one
online stretch the copy is `synced`, and the `on_synced` callbacks run (the daemon
re-reports its Node then).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from minikube13.cluster import policy
from minikube13.cluster.copy import LocalCopy
from minikube13.cluster.policy import Kept
from minikube13.cluster.upstream import Epoch, EpochEnded, Unreachable, Upstream
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError

log = logging.getLogger(__name__)

Object = dict[str, Any]
RETRY_S = 1.0
LIST_PAGE = 500
WATCH_TIMEOUT_S = 300  # the server ends each watch after this; we resume from its version


class Expired(Exception):
    """The server no longer has history back to our version (410): list again."""


def _status_error(code: int, body: Any) -> StatusError:
    if isinstance(body, dict) and body.get("kind") == "Status":
        return StatusError(code, str(body.get("reason") or ""), str(body.get("message") or ""),
                           body.get("details"))
    return StatusError(code, "InternalError", f"the server answered {code}")


def info_of(kept: Kept) -> ResourceInfo:
    info = kinds.find(kept.group, kept.version, kept.plural)
    assert info is not None, kept
    return info


class Mirror:
    def __init__(self, upstream: Upstream, copy: LocalCopy,
                 kept: Sequence[Kept] = policy.KEPT):
        self.upstream = upstream
        self.copy = copy
        self.kept = list(kept)
        self.synced = asyncio.Event()
        self._listed: dict[int, set[str]] = {}  # epoch number -> kinds listed in it
        self._on_synced: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._callbacks: set[asyncio.Task[None]] = set()
        upstream.add_listener(self._on_link)

    def on_synced(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._on_synced.append(callback)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._follow(k), name=f"mirror-{k.plural}")
                       for k in self.kept]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def _on_link(self, online: bool) -> None:
        if not online:
            self.synced.clear()

    # -- one kind -------------------------------------------------------------------------

    async def _follow(self, kept: Kept) -> None:
        info = info_of(kept)
        while True:
            epoch = await self.upstream.wait_online()
            try:
                await self.upstream.within(epoch, self._list_and_watch(kept, info, epoch))
            except EpochEnded:
                continue
            except Expired:
                log.info("watch expired, listing again resource=%s", kept.plural)
                continue
            except Unreachable as e:
                log.info("mirror lost the server resource=%s error=%s", kept.plural, e)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mirror failed resource=%s", kept.plural)
            await asyncio.sleep(RETRY_S)

    async def _list_and_watch(self, kept: Kept, info: ResourceInfo, epoch: Epoch) -> None:
        version = await self.relist(kept, info)
        self._listed_in(epoch, kept)
        while True:
            version = await self._watch(kept, info, version)

    async def relist(self, kept: Kept, info: ResourceInfo) -> str:
        """List the kind from the server and make the copy match; the list's version."""
        items: list[Object] = []
        query = self._query(kept)
        version = ""
        cont = ""
        while True:
            page_query = dict(query, limit=str(LIST_PAGE), **({"continue": cont} if cont else {}))
            reply = await self.upstream.request("GET", kept.path, query=page_query)
            doc = reply.json()
            if reply.status != 200:
                raise _status_error(reply.status, doc)
            meta = doc.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            items.extend(doc.get("items") or [])
            cont = str(meta.get("continue") or "")
            if not cont:
                break
        written, dropped = await self.copy.replace(info, items)
        log.info("copy listed resource=%s items=%d written=%d dropped=%d version=%s",
                 kept.plural, len(items), written, dropped, version)
        return version

    async def _watch(self, kept: Kept, info: ResourceInfo, version: str) -> str:
        """Follow one watch until the server ends it; the last version seen."""
        query = dict(self._query(kept), watch="1", resourceVersion=version,
                     allowWatchBookmarks="true", timeoutSeconds=str(WATCH_TIMEOUT_S))
        async with self.upstream.stream("GET", kept.path, query=query) as resp:
            if resp.status == 410:
                raise Expired()
            if resp.status != 200:
                raise _status_error(resp.status, await _json_or_none(resp))
            async for line in json_lines(resp):
                version = await self._apply(info, json.loads(line)) or version
        return version

    async def _apply(self, info: ResourceInfo, event: Object) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Expired()
            raise _status_error(int(obj.get("code") or 500), obj)
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind in ("ADDED", "MODIFIED"):
            await self.copy.put(info, obj)
        elif kind == "DELETED":
            await self.copy.drop(info, obj)
        return version

    @staticmethod
    def _query(kept: Kept) -> dict[str, str]:
        return {"fieldSelector": kept.selector} if kept.selector else {}

    # -- synced --------------------------------------------------------------------------

    def _listed_in(self, epoch: Epoch, kept: Kept) -> None:
        listed = self._listed.setdefault(epoch.number, set())
        listed.add(kept.plural)
        for old in [n for n in self._listed if n < epoch.number]:
            del self._listed[old]
        if len(listed) == len(self.kept) and not self.synced.is_set() and \
                not epoch.ended.is_set():
            log.info("copy synced server=%s epoch=%d", epoch.url, epoch.number)
            self.synced.set()
            for callback in self._on_synced:
                task = asyncio.create_task(_run(callback), name="mirror-synced")
                self._callbacks.add(task)
                task.add_done_callback(self._callbacks.discard)


async def _run(callback: Callable[[], Awaitable[None]]) -> None:
    try:
        await callback()
    except Exception:
        log.exception("synced callback failed")


async def json_lines(resp: Any) -> AsyncIterator[bytes]:
    """The non-empty lines of a watch stream, however long (aiohttp's own line reader
    refuses lines over 128 KiB; a ConfigMap may be 1 MiB)."""
    buffer = b""
    async for chunk in resp.content.iter_any():
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


async def _json_or_none(resp: Any) -> Any:
    with contextlib.suppress(Exception):
        return json.loads(await resp.read())
    return None
