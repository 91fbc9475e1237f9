"""A fake node agent for tests and benchmarks, like kubemark's hollow node: it registers a
Node, renews its Lease in kube-node-lease, and plays the kubelet's part for the pods bound to
it, in-process over the ObjectRegistry (no containers).

* A bound pod becomes Running at once: Initialized/Ready/ContainersReady/PodScheduled True,
  a podIP, every container running since now with restartCount 0.
* A pod with restartPolicy Never or OnFailure (Job pods) finishes after `finish_after_s`:
  Succeeded, or Failed when its annotation `minikube13.test/exit-code` is not "0".
* A pod with a deletionTimestamp is deleted with grace 0 (the kubelet's final delete).
* `stop()` makes the node die (no heartbeats, no pod handling); `resume()` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions

log = logging.getLogger(__name__)

Object = dict[str, Any]



def _info(group: str, version: str, plural: str) -> ResourceInfo:
    info = kinds.find(group, version, plural)
    assert info is not None
    return info


NODES = _info("", "v1", "nodes")
PODS = _info("", "v1", "pods")
LEASES = _info("coordination.k8s.io", "v1", "leases")
LEASE_NAMESPACE = "kube-node-lease"
EXIT_CODE = "minikube13.test/exit-code"
ZONE_LABELS = ("failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone")
_W = WriteOptions(field_validation="Ignore")


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HollowNode:
    def __init__(self, registry: ObjectRegistry, name: str, *, zone: str | None = None,
                 heartbeat_s: float = 2.0, finish_after_s: float = 0.2,
                 capacity: dict[str, str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.registry = registry
        self.name = name
        self.zone = zone
        self.heartbeat_s = heartbeat_s
        self.finish_after_s = finish_after_s
        self.capacity = capacity or {"cpu": "4", "memory": "8Gi", "pods": "110"}
        self.clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self._finishing: dict[str, asyncio.Task[None]] = {}
        self._subnet = zlib.crc32(name.encode()) % 250
        self._next_ip = 0

    @property
    def alive(self) -> bool:
        return bool(self._tasks)

    async def start(self) -> None:
        """Register the Node and its Lease, then heartbeat and run pods."""
        await self.registry.ensure_namespace(LEASE_NAMESPACE)
        await self._register()
        await self.renew()
        self._spawn()

    def stop(self) -> None:
        """The node dies: heartbeats and pod handling stop (the objects stay)."""
        for task in [*self._tasks, *self._finishing.values()]:
            task.cancel()
        self._tasks = []
        self._finishing = {}

    async def resume(self) -> None:
        """The node comes back: renews its Lease at once and handles its pods again."""
        if not self.alive:
            await self.renew()
            self._spawn()

    async def close(self) -> None:
        tasks = [*self._tasks, *self._finishing.values()]
        self.stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self) -> None:
        self._tasks = [asyncio.create_task(self._heartbeats(), name=f"{self.name}-lease"),
                       asyncio.create_task(self._pods(), name=f"{self.name}-pods")]

    # -- the node and its lease ------------------------------------------------------------

    def node_object(self) -> Object:
        labels = {"kubernetes.io/hostname": self.name, "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64"}
        if self.zone:
            labels.update({label: self.zone for label in ZONE_LABELS})
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": labels},
                "spec": {}, "status": self.node_status()}

    def node_status(self) -> Object:
        now = _time(self.clock())

        def cond(kind: str, status: str, reason: str, message: str) -> Object:
            return {"type": kind, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": now}

        return {
            "capacity": dict(self.capacity), "allocatable": dict(self.capacity),
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                     "kubelet has no disk pressure"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")],
            "addresses": [{"type": "InternalIP", "address": f"10.240.{self._subnet}.1"},
                          {"type": "Hostname", "address": self.name}],
            "nodeInfo": {"kubeletVersion": "v1.3.0-hollow", "kubeProxyVersion": "v1.3.0",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "hollow://1.0", "osImage": "hollow",
                         "kernelVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""},
        }

    async def _register(self) -> None:
        try:
            await self.registry.create(NODES, "", self.node_object(), _W)
        except StatusError as err:
            if err.code != 409:
                raise
        current = (await self.registry.get(NODES, "", self.name)).object
        current["status"] = self.node_status()
        current["metadata"].pop("resourceVersion", None)
        await self.registry.update(NODES, "", self.name, current, _W, "status")

    async def renew(self) -> None:
        """Renew the Lease (creating it the first time)."""
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40,
                "renewTime": _micro(self.clock())}
        try:
            await self.registry.patch(LEASES, LEASE_NAMESPACE, self.name,
                                      "application/merge-patch+json", {"spec": spec}, _W)
        except StatusError as err:
            if err.code != 404:
                raise
            lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                     "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE},
                     "spec": spec}
            await self.registry.create(LEASES, LEASE_NAMESPACE, lease, _W)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.renew()
            except StatusError:
                log.warning("hollow node lease renewal failed node=%s", self.name,
                            exc_info=True)

    # -- pods ------------------------------------------------------------------------------

    async def _pods(self) -> None:
        opts = ListOptions(field_selector=f"spec.nodeName={self.name}",
                           send_initial_events=True, allow_bookmarks=True)
        while True:
            stream = self.registry.watch(PODS, "", opts)
            try:
                async for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        await self._handle(event["object"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("hollow node pod watch failed node=%s", self.name, exc_info=True)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()
            await asyncio.sleep(0.2)

    async def _handle(self, pod: Object) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if meta.get("deletionTimestamp"):
            await self._delete(pod)
            return
        if phase in ("Succeeded", "Failed"):
            return
        if phase != "Running":
            await self._set_status(pod, self._running(pod))
        key = f"{meta.get('namespace')}/{meta.get('name')}/{meta.get('uid')}"
        if spec.get("restartPolicy") in ("Never", "OnFailure") and key not in self._finishing:
            self._finishing[key] = asyncio.create_task(self._finish_later(key, pod))

    async def _delete(self, pod: Object) -> None:
        meta = pod["metadata"]
        try:
            await self.registry.delete(PODS, meta.get("namespace", ""), meta["name"],
                                       DeleteOptions(grace_period_seconds=0,
                                                     precondition_uid=meta.get("uid")))
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    def _running(self, pod: Object) -> Object:
        now = _time(self.clock())
        self._next_ip += 1
        conditions = [{"type": kind, "status": "True", "lastTransitionTime": now}
                      for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
        containers = [{"name": c.get("name", ""), "image": c.get("image", ""),
                       "imageID": f"hollow://{c.get('image', '')}",
                       "containerID": f"hollow://{self.name}-{self._next_ip}-{c.get('name')}",
                       "ready": True, "restartCount": 0, "started": True,
                       "state": {"running": {"startedAt": now}}}
                      for c in (pod.get("spec") or {}).get("containers") or []]
        return {"phase": "Running", "conditions": conditions, "hostIP": f"10.240.{self._subnet}.1",
                "podIP": f"10.244.{self._subnet}.{self._next_ip % 254 + 1}",
                "startTime": now, "containerStatuses": containers}

    async def _finish_later(self, key: str, pod: Object) -> None:
        try:
            await asyncio.sleep(self.finish_after_s)
            await self._finish(pod)
        finally:
            if self._finishing.get(key) is asyncio.current_task():
                del self._finishing[key]

    async def _finish(self, pod: Object) -> None:
        meta = pod["metadata"]
        code = int((meta.get("annotations") or {}).get(EXIT_CODE, "0") or 0)
        try:
            current = (await self.registry.get(PODS, meta.get("namespace", ""),
                                               meta["name"])).object
        except StatusError:
            return
        if current["metadata"].get("uid") != meta.get("uid") or \
                current["metadata"].get("deletionTimestamp"):
            return
        await self._set_status(current, self._finished(current, code))

    def _finished(self, pod: Object, code: int) -> Object:
        now = _time(self.clock())
        status = copy.deepcopy(pod.get("status") or {})
        status["phase"] = "Succeeded" if code == 0 else "Failed"
        for cond in status.get("conditions") or []:
            if cond.get("type") in ("Ready", "ContainersReady"):
                cond.update(status="False", reason="PodCompleted", lastTransitionTime=now)
        reason = "Completed" if code == 0 else "Error"
        for cs in status.get("containerStatuses") or []:
            started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", now)
            cs.update(ready=False, started=False, state={"terminated": {
                "exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now,
                "containerID": cs.get("containerID", "")}})
        return status

    async def _set_status(self, pod: Object, status: Object) -> None:
        """Write the pod's status (CAS on the version seen; a lost race is left to the
        next watch event)."""
        body = dict(pod, status=status)
        meta = pod["metadata"]
        try:
            await self.registry.update(PODS, meta.get("namespace", ""), meta["name"], body,
                                       _W, "status")
        except StatusError as err:
            if err.code not in (404, 409):
                raise
