"""Waiting in tests for what asynchronous parts will do, without fixed sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0,
                     interval: float = 0.02) -> Any:
    """Await `check()` until it returns something true, and return that; fail the test
    when `timeout` seconds pass first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(interval)
