"""The one leader switch: the scheduler and the controllers run only while this server
leads. A lone server leads from its start; with several servers an election would call
lead() and step_down()."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube13.controllers.node_lifecycle import GossipLiveness
    from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)

CONTROLLERS_GRACE_S = 5.0


@dataclass
class ControllerSettings:
    node_grace_s: float = 40.0
    eviction_timeout_s: float = 300.0
    cluster_cidr: str = "10.42.0.0/16"
    node_cidr_mask: int = 24
    liveness: GossipLiveness | None = None         # gossip decides Ready (servers in a pool)
    node_changes: asyncio.Queue[str] | None = None  # ... and names the nodes to look at again


class Leadership:
    def __init__(self, registry: ObjectRegistry, settings: ControllerSettings | None = None):
        self.registry = registry
        self.settings = settings or ControllerSettings()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def leading(self) -> bool:
        return bool(self._tasks)

    def lead(self) -> None:
        if self.leading:
            return
        from minikube13.controllers import run_controllers
        from minikube13.scheduler.runner import run_scheduler
        s = self.settings
        self._stop = asyncio.Event()
        controllers = run_controllers(
            self.registry, self._stop, node_grace_s=s.node_grace_s,
            eviction_timeout_s=s.eviction_timeout_s, cluster_cidr=s.cluster_cidr,
            node_cidr_mask=s.node_cidr_mask, liveness=s.liveness, node_changes=s.node_changes)
        self._tasks = [
            asyncio.create_task(controllers, name="controllers"),
            asyncio.create_task(run_scheduler(self.registry, self._stop), name="scheduler")]
        log.info("leading: controllers and scheduler started")

    async def step_down(self) -> None:
        self._stop.set()
        for task in self._tasks:
            await finish(task, task.get_name(), CONTROLLERS_GRACE_S)
        self._tasks = []


async def finish(work: asyncio.Future[None], what: str, grace: float) -> None:
    try:
        await asyncio.wait_for(work, grace)
    except TimeoutError:
        log.warning("did not stop in time part=%s grace_s=%.0f", what, grace)
    except Exception:
        log.exception("failed while stopping part=%s", what)
