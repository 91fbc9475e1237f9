"""List+watch one resource forever, like client-go's reflector: the shared way controllers
and the scheduler keep an in-memory view current through the ObjectRegistry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

from minikube13.model.kinds import ResourceInfo
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import ListOptions
from minikube13.registry.watch import INITIAL_EVENTS_END

log = logging.getLogger(__name__)

Object = dict[str, Any]
RELIST_DELAY_S = 1.0


async def reflect(registry: ObjectRegistry, info: ResourceInfo, *,
                  key_of: Callable[[Object], Hashable],
                  on_event: Callable[[str, Object], None],
                  on_listed: Callable[[set[Any]], None]) -> None:
    """Feed every watch event of `info` (all namespaces) to `on_event`. After each (re)list,
    `on_listed` gets the keys the list held, so the caller drops what is gone. A broken
    watch relists after a short pause; only cancellation ends this."""
    opts = ListOptions(allow_bookmarks=True, send_initial_events=True)
    while True:
        seen: set[Any] | None = set()
        stream = registry.watch(info, "", opts)
        try:
            async for event in stream:
                obj = event["object"]
                if event["type"] == "BOOKMARK":
                    if seen is not None and _initial_end(obj):
                        on_listed(seen)
                        seen = None
                    continue
                if seen is not None:
                    seen.add(key_of(obj))
                on_event(event["type"], obj)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("watch failed resource=%s", info.plural, exc_info=True)
        finally:
            await _close(stream)
        await asyncio.sleep(RELIST_DELAY_S)


async def _close(stream: AsyncIterator[Object]) -> None:
    """End a watch now (its pump task with it) rather than at garbage collection."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _initial_end(obj: Object) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return annotations.get(INITIAL_EVENTS_END) == "true"
