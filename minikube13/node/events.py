"""Events about pods, from the agent and from the runtime (Pulling, Pulled, Created, Started,
Killing, BackOff, Failed: the kubelet's reasons), written in the background so a slow or
failing write never holds up a pod. Identical events are counted, like client-go's recorder
(controllers.executor does the writing)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from minikube13.controllers.actions import ObjectRef, RecordEvent
from minikube13.controllers.executor import ActionExecutor
from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)

Object = dict[str, Any]
SOURCE = "kubelet"
QUEUE_LIMIT = 1000


class PodEventRecorder:
    def __init__(self, registry: ObjectRegistry, node_name: str,
                 clock: Callable[[], datetime]):
        self.node_name = node_name
        self._executor = ActionExecutor(registry, clock)
        self._queue: asyncio.Queue[RecordEvent] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_all(), name="pod-events")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def record(self, pod: Object, type_: str, reason: str, message: str,
               field_path: str = "") -> None:
        meta = pod.get("metadata") or {}
        ref = ObjectRef("pods", meta.get("namespace") or "", meta.get("name") or "",
                        meta.get("uid") or "")
        extra = {"host": self.node_name}
        if field_path:
            extra["fieldPath"] = field_path
        event = RecordEvent(ref, "Pod", type_, reason, message, SOURCE, extra)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("event dropped pod=%s reason=%s", ref.name, reason)

    def sink(self, pod: Object) -> Callable[[str, str, str], None]:
        """The runtime's `events(type, reason, message)` callback for this pod."""
        def emit(type_: str, reason: str, message: str) -> None:
            self.record(pod, type_, reason, message)
        return emit

    async def flush(self) -> None:
        """Wait until every queued event is written (tests)."""
        await self._queue.join()

    async def _write_all(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._executor.run([event])
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("event not written pod=%s reason=%s error=%s",
                            event.involved.name, event.reason, e)
            finally:
                self._queue.task_done()
