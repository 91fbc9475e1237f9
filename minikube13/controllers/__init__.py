"""Controllers: pure `reconcile(key, view, now) -> actions` functions and the runner that
feeds them from watches and carries out their actions (see controllers.runner).

`run_controllers` runs the garbage collector, the namespace and node lifecycle controllers,
and every workload controller whose module is present (WORKLOADS).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minikube13.controllers.runner import Controller
    from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workload:
    """A workload controller: module minikube13.controllers.<module>, its `reconcile` over
    the keys of `storage`, the changes of other objects that concern it (mapping.py), and
    the module attribute (if any) giving a time to reconcile again."""

    name: str
    module: str
    storage: str
    related: tuple[tuple[str, str], ...] = ()  # (owner storage, child storage) via owned_by
    pods_to_deployment: bool = False
    requeue_attrs: tuple[str, ...] = ("requeue_after", "requeue_at", "next_reconcile")


WORKLOADS = [
    Workload("replicaset", "replicaset", "replicasets", (("replicasets", "pods"),)),
    Workload("replicationcontroller", "replicaset", "replicationcontrollers",
             (("replicationcontrollers", "pods"),)),
    Workload("deployment", "deployment", "deployments", (("deployments", "replicasets"),),
             pods_to_deployment=True),
    Workload("job", "job", "jobs", (("jobs", "pods"),)),
    Workload("cronjob", "cronjob", "cronjobs", (("cronjobs", "jobs"),)),
]


def available(module: str) -> bool:
    return importlib.util.find_spec(f"minikube13.controllers.{module}") is not None


def workload_controllers() -> list[Controller]:
    """A Controller for each workload whose module is present and imports."""
    from minikube13.controllers import mapping
    from minikube13.controllers.runner import Controller

    found: list[Controller] = []
    for w in WORKLOADS:
        if not available(w.module):
            continue
        try:
            module = importlib.import_module(f"minikube13.controllers.{w.module}")
        except ImportError:
            log.warning("controller module does not import module=%s", w.module, exc_info=True)
            continue
        mappers = [mapping.owned_by(owner, child) for owner, child in w.related]
        if w.pods_to_deployment:
            mappers.append(mapping.pod_to_deployment)
        requeue = next((getattr(module, a) for a in w.requeue_attrs if hasattr(module, a)),
                       None)
        found.append(Controller(w.name, w.storage, module.reconcile,
                                related=mapping.both(*mappers),
                                requeue_after=_seconds_after(requeue)))
    return found


def _seconds_after(requeue: Callable[..., Any] | None) -> Callable[..., float | None] | None:
    """A requeue hook (key, view, now) -> seconds, from one taking (key, view, now) or
    (object, now) and giving seconds, a timedelta or a datetime."""
    if requeue is None:
        return None

    on_object = len(inspect.signature(requeue).parameters) == 2  # (obj, now)

    def seconds(key: Any, view: Any, now: datetime) -> float | None:
        if on_object:
            obj = view.get(key)
            when = None if obj is None else requeue(obj, now)
        else:
            when = requeue(key, view, now)
        if when is None:
            return None
        if isinstance(when, datetime):
            return (when - now).total_seconds()
        total = getattr(when, "total_seconds", None)
        return float(total()) if total is not None else float(when)

    return seconds


def all_controllers(*, node_grace_s: float = 40.0,
                    eviction_timeout_s: float = 300.0) -> list[Controller]:
    from minikube13.controllers import mapping
    from minikube13.controllers.node_lifecycle import NodeLifecycle
    from minikube13.controllers.runner import GARBAGE_COLLECTOR, NAMESPACE, Controller

    nodes = NodeLifecycle(node_grace_s, eviction_timeout_s)
    node = Controller("node-lifecycle", "nodes", nodes.reconcile, related=mapping.node_related,
                      requeue_after=nodes.next_check)
    return [GARBAGE_COLLECTOR, NAMESPACE, node, *workload_controllers()]


async def run_controllers(registry: ObjectRegistry, stop: asyncio.Event, *,
                          node_grace_s: float = 40.0,
                          eviction_timeout_s: float = 300.0) -> None:
    """Run every controller until `stop` is set (the namespace kube-node-lease made first)."""
    from minikube13.controllers.node_lifecycle import LEASE_NAMESPACE
    from minikube13.controllers.runner import ControllerRunner

    await registry.ensure_namespace(LEASE_NAMESPACE)
    controllers = all_controllers(node_grace_s=node_grace_s,
                                  eviction_timeout_s=eviction_timeout_s)
    log.info("controllers %s", ",".join(c.name for c in controllers))
    await ControllerRunner(registry, controllers).run(stop)
