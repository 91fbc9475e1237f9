"""Controllers: pure `reconcile(key, view, now) -> actions` functions and the runner that
feeds them from watches and carries out their actions (see controllers.runner)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from minikube13.registry.objects import ObjectRegistry


async def run_controllers(registry: ObjectRegistry, stop: asyncio.Event) -> None:
    """Run the garbage collector and the namespace controller until `stop` is set."""
    from minikube13.controllers.runner import run_controllers as run

    await run(registry, stop)
