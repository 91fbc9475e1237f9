"""The store's in-process pieces: event fan-out to watchers and prefix ranges."""

from __future__ import annotations

import asyncio

import pytest

from minikube13.store.fanout import Fanout
from minikube13.store.interface import (
    EventType,
    KeyValue,
    StoreClosed,
    WatchEvent,
    WatchLagged,
)
from minikube13.store.schema import prefix_end


def _event(key: str, rev: int) -> WatchEvent:
    return WatchEvent(EventType.PUT, KeyValue(key, b"v", rev, rev), None)


async def test_events_reach_matching_prefixes_only() -> None:
    """A watcher of one namespace sees its events and none of another's."""
    fanout = Fanout(max_buffered=10)
    pods = fanout.subscribe("/registry/pods/a/")
    everything = fanout.subscribe("/registry/")
    fanout.publish([_event("/registry/pods/a/x", 1), _event("/registry/pods/ab/y", 2)])
    assert (await pods.next()).revision == 1
    assert [(await everything.next()).revision for _ in range(2)] == [1, 2]
    waiting = asyncio.ensure_future(pods.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    fanout.publish([_event("/registry/pods/a/z", 3)])
    assert (await waiting).revision == 3


async def test_full_buffer_ends_watcher_after_what_it_holds() -> None:
    """A watcher that stops reading gets its buffered events, then WatchLagged."""
    fanout = Fanout(max_buffered=3)
    slow = fanout.subscribe("/")
    fanout.publish([_event("/k", r) for r in range(1, 10)])
    assert slow.lagged
    assert [(await slow.next()).revision for _ in range(3)] == [1, 2, 3]
    with pytest.raises(WatchLagged):
        await slow.next()


async def test_close_wakes_watchers_with_store_closed() -> None:
    """Closing the store ends every open watch with StoreClosed."""
    fanout = Fanout(max_buffered=3)
    sub = fanout.subscribe("/")
    waiting = asyncio.ensure_future(sub.next())
    await asyncio.sleep(0)
    fanout.close()
    with pytest.raises(StoreClosed):
        await waiting
    assert len(fanout) == 0


def test_unsubscribe_forgets_the_watcher() -> None:
    """A closed watch costs the writer nothing afterwards."""
    fanout = Fanout(max_buffered=3)
    sub = fanout.subscribe("/a/")
    fanout.unsubscribe(sub)
    fanout.unsubscribe(sub)
    fanout.publish([_event("/a/x", 1)])
    assert len(fanout) == 0


@pytest.mark.parametrize("prefix, end", [
    ("/registry/pods/", "/registry/pods0"),
    ("a", "b"),
    ("", None),
    ("x\U0010ffff", "y"),
    ("\U0010ffff", None),
    ("a\ud7ff", "a\ue000"),
])
def test_prefix_end_bounds_every_key_under_prefix(prefix: str, end: str | None) -> None:
    """A prefix list covers exactly the keys that start with the prefix."""
    assert prefix_end(prefix) == end
    if end is not None:
        assert prefix + "\U0010fffe" * 3 < end
