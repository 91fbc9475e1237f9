"""In-process fan-out of committed events to watchers, on the event loop.

The writer thread never touches a watcher: it hands each committed batch to the loop, and
`publish` only appends to bounded per-watcher buffers. A watcher whose buffer is full is
marked lagged and gets no more events; once it has drained what it holds it sees
WatchLagged and may re-watch from its last revision (reading the gap back from the table).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from minikube13.store.interface import StoreClosed, WatchEvent, WatchLagged

log = logging.getLogger(__name__)


class Subscription:
    """One watcher's bounded buffer of live events."""

    def __init__(self, prefix: str, max_buffered: int):
        self.prefix = prefix
        self._max = max_buffered
        self._events: deque[WatchEvent] = deque()
        self._wakeup = asyncio.Event()
        self.lagged = False
        self.closed = False

    def offer(self, event: WatchEvent) -> None:
        if self.lagged or self.closed:
            return
        if len(self._events) >= self._max:
            self.lagged = True
            log.warning("watcher lagged prefix=%s buffered=%d", self.prefix, len(self._events))
        else:
            self._events.append(event)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def next(self) -> WatchEvent:
        """The next buffered event; WatchLagged once a lagged buffer is drained."""
        while True:
            if self._events:
                return self._events.popleft()
            if self.lagged:
                raise WatchLagged(0)
            if self.closed:
                raise StoreClosed("store closed")
            self._wakeup.clear()
            await self._wakeup.wait()


class Fanout:
    """Routes each committed event to the subscriptions whose prefix it falls under."""

    def __init__(self, max_buffered: int):
        self._max_buffered = max_buffered
        self._by_prefix: dict[str, set[Subscription]] = {}

    def subscribe(self, prefix: str) -> Subscription:
        sub = Subscription(prefix, self._max_buffered)
        self._by_prefix.setdefault(prefix, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._by_prefix.get(sub.prefix)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._by_prefix[sub.prefix]

    def publish(self, events: Iterable[WatchEvent]) -> None:
        if not self._by_prefix:
            return
        for event in events:
            key = event.kv.key
            for prefix, subs in self._by_prefix.items():
                if key.startswith(prefix):
                    for sub in subs:
                        sub.offer(event)

    def close(self) -> None:
        for subs in self._by_prefix.values():
            for sub in subs:
                sub.close()
        self._by_prefix.clear()

    def __len__(self) -> int:
        return sum(len(s) for s in self._by_prefix.values())
