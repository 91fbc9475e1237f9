"""WATCH: store events turned into Kubernetes watch events for one request.

From resourceVersion ""/"0" the current state comes first as synthetic ADDED events; from N,
every change after N. Selectors filter like the apiserver's watch cache: an object that
stops matching is sent as DELETED (its previous content), one that starts matching as ADDED.
Bookmarks carry only a resourceVersion; with sendInitialEvents one marks the end of the
initial state (annotation `k8s.io/initial-events-end: "true"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from minikube13.model.kinds import ResourceInfo
from minikube13.registry import facade
from minikube13.registry.errors import gone
from minikube13.registry.metadata import decode, parse_resource_version, prefix
from minikube13.registry.options import ListOptions
from minikube13.registry.paging import Matcher, matcher
from minikube13.store.interface import (
    Compacted,
    EventType,
    StoreClosed,
    WatchEvent,
    WatchLagged,
)
from minikube13.store.interface import Store as StoreProtocol

log = logging.getLogger(__name__)

Object = dict[str, Any]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class WatchSettings:
    bookmark_interval: float = 60.0


def _too_old(requested: int, compacted: int) -> Exception:
    return gone(f"too old resource version: {requested} ({compacted})")


class _Pump:
    """Copies store events into a queue, so waiting for the next one can time out
    (for bookmarks and timeoutSeconds) without closing the store's iterator."""

    def __init__(self, store: StoreProtocol, key_prefix: str, after: int):
        self.store, self.prefix, self.after = store, key_prefix, after
        self.queue: asyncio.Queue[WatchEvent | BaseException] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                try:
                    async for event in self.store.watch(self.prefix, self.after):
                        self.after = event.revision
                        self.queue.put_nowait(event)
                    return
                except WatchLagged as lagged:
                    # The store dropped us for being slow: resume where we were.
                    log.info("watch lagged, resuming prefix=%s after=%d", self.prefix,
                             lagged.last_revision)
                    self.after = max(self.after, lagged.last_revision)
        except Exception as err:  # handed to the consumer, which raises it
            self.queue.put_nowait(err)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


def _event(kind: str, info: ResourceInfo, obj: Object) -> dict[str, Any]:
    return {"type": kind, "object": facade.from_storage(info, obj)}


def bookmark(info: ResourceInfo, revision: int, initial_end: bool = False) -> dict[str, Any]:
    meta: Object = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"type": "BOOKMARK",
            "object": {"apiVersion": info.api_version, "kind": info.kind, "metadata": meta}}


def translate(info: ResourceInfo, match: Matcher, event: WatchEvent) -> dict[str, Any] | None:
    """The watch event a store event becomes for this watcher, or None if it sees nothing."""
    current = decode(event.kv)
    if event.type is EventType.DELETE:
        return _event("DELETED", info, current) if match(current) else None
    now_matches = match(current)
    before = decode(event.prev) if event.prev is not None else None
    was_matching = before is not None and (match.everything or match(before))
    if now_matches:
        return _event("MODIFIED" if was_matching else "ADDED", info, current)
    if was_matching and before is not None:
        before["metadata"]["resourceVersion"] = str(event.revision)
        return _event("DELETED", info, before)
    return None


async def watch_objects(store: StoreProtocol, info: ResourceInfo, namespace: str,
                        opts: ListOptions, settings: WatchSettings) -> AsyncIterator[dict[str, Any]]:
    match = matcher(info, opts)
    key_prefix = prefix(info, namespace)
    rv = opts.resource_version
    initial = opts.send_initial_events if opts.send_initial_events is not None else (
        rv in ("", "0"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.timeout_seconds if opts.timeout_seconds else None
    if rv not in ("", "0"):
        start = parse_resource_version(rv)
        compacted = await store.compacted_revision()
        if start < compacted:
            raise _too_old(start, compacted)
    else:
        start = 0
    if initial:
        listed = await store.list(key_prefix)  # the state now: "not older than" any RV given
        for kv in listed.items:
            obj = decode(kv)
            if match(obj):
                yield _event("ADDED", info, obj)
        start = listed.revision
        if opts.send_initial_events and opts.allow_bookmarks:
            yield bookmark(info, start, initial_end=True)
    elif start == 0:
        start = await store.current_revision()
    live = _follow(store, info, match, key_prefix, start, opts, settings, deadline)
    try:
        async for item in live:
            yield item
    finally:
        await live.aclose()  # now, not whenever the loop finalizes it: it owns a task


async def _follow(store: StoreProtocol, info: ResourceInfo, match: Matcher, key_prefix: str,
                  start: int, opts: ListOptions, settings: WatchSettings,
                  deadline: float | None) -> AsyncGenerator[dict[str, Any], None]:
    loop = asyncio.get_running_loop()
    pump = _Pump(store, key_prefix, start)
    last_revision = start
    next_bookmark = loop.time() + settings.bookmark_interval
    try:
        while True:
            now = loop.time()
            waits = [next_bookmark - now] if opts.allow_bookmarks else []
            if deadline is not None:
                waits.append(deadline - now)
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                # that arrives as the queue hands over an item, leaving a watcher hung.
                async with asyncio.timeout(max(0.0, min(waits)) if waits else None):
                    item = await pump.queue.get()
            except TimeoutError:
                if deadline is not None and loop.time() >= deadline:
                    return
                yield bookmark(info, last_revision)
                next_bookmark = loop.time() + settings.bookmark_interval
                continue
            if isinstance(item, Compacted):
                raise _too_old(item.requested, item.compacted)
            if isinstance(item, StoreClosed):
                return
            if isinstance(item, BaseException):
                raise item
            last_revision = item.revision
            out = translate(info, match, item)
            if out is not None:
                yield out
    finally:
        await pump.close()
