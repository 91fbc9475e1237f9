"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minikube13.testing.memory_store import MemoryStore


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    """A started in-memory store, closed after the test."""
    s = MemoryStore()
    await s.start()
    yield s
    await s.close()
