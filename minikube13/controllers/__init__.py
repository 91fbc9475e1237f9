"""Controllers: pure `reconcile(key, view, now) -> actions` functions and the runner that
feeds them from watches and carries out their actions (see controllers.runner).

`all_controllers` is the one list of what runs: the garbage collector, namespaces, node
lifecycle, the pod GC, endpoints and the workload controllers.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minikube13.controllers.node_lifecycle import GossipLiveness
    from minikube13.controllers.runner import Controller
    from minikube13.registry.objects import ObjectRegistry

log = logging.getLogger(__name__)


def workload_controllers() -> list[Controller]:
    """ReplicaSet, ReplicationController, Deployment, Job and CronJob."""
    from minikube13.controllers import cronjob, deployment, job, replicaset
    from minikube13.controllers.mapping import both, owned_by, pod_to_deployment
    from minikube13.controllers.runner import Controller

    return [
        Controller("replicaset", "replicasets", replicaset.reconcile,
                   related=owned_by("replicasets", "pods"),
                   requeue_after=_seconds_after(replicaset.requeue_at)),
        Controller("replicationcontroller", "replicationcontrollers", replicaset.reconcile,
                   related=owned_by("replicationcontrollers", "pods"),
                   requeue_after=_seconds_after(replicaset.requeue_at)),
        Controller("deployment", "deployments", deployment.reconcile,
                   related=both(owned_by("deployments", "replicasets"), pod_to_deployment),
                   requeue_after=_seconds_after(deployment.requeue_at)),
        Controller("job", "jobs", job.reconcile, related=owned_by("jobs", "pods"),
                   requeue_after=_seconds_after(job.requeue_after)),
        Controller("cronjob", "cronjobs", cronjob.reconcile,
                   related=owned_by("cronjobs", "jobs"),
                   requeue_after=_seconds_after(cronjob.requeue_after)),
    ]


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


def all_controllers(*, node_grace_s: float = 40.0, eviction_timeout_s: float = 300.0,
                    terminated_pod_threshold: int = 12_500,
                    cluster_cidr: str = "10.42.0.0/16",
                    node_cidr_mask: int = 24,
                    liveness: GossipLiveness | None = None) -> list[Controller]:
    from minikube13.controllers import mapping, podgc
    from minikube13.controllers.node_lifecycle import NodeLifecycle
    from minikube13.controllers.nodeipam import NodeIpam
    from minikube13.controllers.runner import GARBAGE_COLLECTOR, NAMESPACE, Controller

    nodes = NodeLifecycle(node_grace_s, eviction_timeout_s, liveness)
    node = Controller("node-lifecycle", "nodes", nodes.reconcile, related=mapping.node_related,
                      requeue_after=nodes.next_check)

    def collect_pods(key: Any, view: Any, now: datetime) -> list[Any]:
        return podgc.reconcile(key, view, now, terminated_pod_threshold)

    pod_gc = Controller("pod-garbage-collector", "pods", collect_pods,
                        related=mapping.pods_of_node,
                        requeue_after=_seconds_after(podgc.requeue_at))
    ipam = Controller("node-ipam", "nodes", NodeIpam(cluster_cidr, node_cidr_mask).reconcile)
    return [GARBAGE_COLLECTOR, NAMESPACE, node, ipam, pod_gc, _endpoints_controller(),
            *workload_controllers()]


def _endpoints_controller() -> Controller:
    from minikube13.controllers import endpoints
    from minikube13.controllers.runner import Controller

    return Controller("endpoints", "services", endpoints.reconcile, related=endpoints.related)


async def run_controllers(registry: ObjectRegistry, stop: asyncio.Event, *,
                          node_grace_s: float = 40.0,
                          eviction_timeout_s: float = 300.0,
                          cluster_cidr: str = "10.42.0.0/16",
                          node_cidr_mask: int = 24,
                          liveness: GossipLiveness | None = None,
                          node_changes: asyncio.Queue[str] | None = None) -> None:
    """Run every controller until `stop` is set (the namespace kube-node-lease made first).

    With gossip, `liveness` decides Ready/NotReady and `node_changes` names the nodes whose
    gossip state changed: their Lease writes may have stopped, so nothing else requeues them."""
    from minikube13.controllers.node_lifecycle import LEASE_NAMESPACE
    from minikube13.controllers.runner import ControllerRunner

    await registry.ensure_namespace(LEASE_NAMESPACE)
    controllers = all_controllers(node_grace_s=node_grace_s,
                                  eviction_timeout_s=eviction_timeout_s,
                                  cluster_cidr=cluster_cidr, node_cidr_mask=node_cidr_mask,
                                  liveness=liveness)
    log.info("controllers %s", ",".join(c.name for c in controllers))
    runner = ControllerRunner(registry, controllers)
    feed = None if node_changes is None else \
        asyncio.create_task(_requeue_nodes(runner, node_changes), name="gossip-node-changes")
    try:
        await runner.run(stop)
    finally:
        if feed is not None:
            feed.cancel()


async def _requeue_nodes(runner: Any, names: asyncio.Queue[str]) -> None:
    from minikube13.controllers.garbage_collector import ObjectRef
    while True:
        name = await names.get()
        runner.queues["node-lifecycle"].add(ObjectRef("nodes", "", name).key)
