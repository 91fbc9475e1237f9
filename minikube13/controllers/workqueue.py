"""A work queue in the shape of client-go's: a key is queued at most once, one worker holds
a key at a time (per-key serialisation), and a failing key comes back after an exponential,
capped delay."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, base_delay: float = 0.05, max_delay: float = 30.0):
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._waiting: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self.base_delay = base_delay
        self.max_delay = max_delay

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds; an earlier pending time for it wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
            self._timers.discard(pending[1])
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self._waiting.pop(key, None)
            self.add(key)

        handle = loop.call_at(when, fire)
        self._timers.add(handle)
        self._waiting[key] = (when, handle)

    def add_rate_limited(self, key: K) -> None:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.add_after(key, min(self.max_delay, self.base_delay * 2 ** failures))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> K:
        key = await self._ready.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._ready.put_nowait(key)

    def idle(self) -> bool:
        return not self._dirty and not self._processing and not self._timers

    def shutdown(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._waiting.clear()

    def __len__(self) -> int:
        return len(self._dirty)
