"""One pod's sync against the runtime and the API: start it (stage0), stop and tear it down
on graceful deletion then delete the object for good, remove what the API no longer knows,
and write its status when it changed (the kubelet's syncPod / killPod / status manager).
The decision is pleg.plan_pod's; this module carries it out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from minikube13.dns.resolvconf import pod_resolv_conf
from minikube13.model import kinds
from minikube13.model.kinds import ResourceInfo
from minikube13.node import inputs as pod_inputs
from minikube13.node.events import PodEventRecorder
from minikube13.node.pleg import Step, field_paths, grace_seconds, plan_pod
from minikube13.node.service_env import MASTER_NAMESPACE, MASTER_SERVICE, service_env
from minikube13.node.status import RuntimePodView, SyncError, pod_status
from minikube13.registry.errors import StatusError
from minikube13.registry.objects import ObjectRegistry
from minikube13.registry.options import DeleteOptions, ListOptions, WriteOptions
from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.pods import PodInputs

log = logging.getLogger(__name__)

Object = dict[str, Any]
_W = WriteOptions(field_validation="Ignore")
BACKOFF_SHOWN = timedelta(seconds=1)  # ErrImagePull reads ImagePullBackOff after this
LAUNCH_GRACE = timedelta(seconds=10)   # a launched stage1 writes its state within this


def _info(plural: str) -> ResourceInfo:
    info = kinds.find("", "v1", plural)
    assert info is not None
    return info


PODS, SECRETS, CONFIG_MAPS = _info("pods"), _info("secrets"), _info("configmaps")
SERVICES = _info("services")


class RuntimePodRecord(RuntimePodView, Protocol):
    @property
    def uid(self) -> str: ...


class PodRuntimePort(Protocol):
    """The part of runtime.pods.PodRuntime the agent uses (FakePodRuntime has it too)."""

    async def start(self, pod: Object, inputs: Any,
                    events: Callable[[str, str, str], None] | None = None) -> None: ...

    async def stop(self, uid: str, grace_s: float) -> None: ...

    async def remove(self, uid: str) -> None: ...

    def pods(self) -> Sequence[RuntimePodRecord]: ...

    def pod(self, uid: str) -> RuntimePodRecord | None: ...

    async def collect_garbage(self, known_uids: set[str]) -> None: ...

    def listen(self, on_change: Callable[[str], None]) -> Callable[[], None]: ...

    async def warm_up(self) -> None: ...


@dataclass(frozen=True)
class PodDns:
    """What a pod's resolv.conf is made of when the pod network is on."""
    nameserver: str                  # the node's DNS address (the bridge gateway)
    cluster_domain: str = "cluster.local"
    host_resolv_conf: Path = Path("/etc/resolv.conf")  # upstreams, for dnsPolicy Default

    def resolv_conf(self, pod: Object) -> str:
        spec, namespace = pod.get("spec") or {}, _meta(pod).get("namespace") or "default"
        try:
            host_text = self.host_resolv_conf.read_text()
        except OSError:
            host_text = ""
        return pod_resolv_conf(spec.get("dnsPolicy") or "ClusterFirst",
                               bool(spec.get("hostNetwork")), self.nameserver, namespace,
                               self.cluster_domain, host_text, spec.get("dnsConfig"))


@dataclass(frozen=True)
class StartFailure:
    error: SyncError
    failed_at: datetime
    retry_at: datetime
    delay_s: float


def _meta(pod: Object) -> Object:
    return pod.get("metadata") or {}


class PodSync:
    def __init__(self, registry: ObjectRegistry, runtime: PodRuntimePort, node_name: str,
                 host_ip: str, clock: Callable[[], datetime], events: PodEventRecorder, *,
                 backoff_initial_s: float = 10.0, backoff_max_s: float = 300.0,
                 on_started: Callable[[str], None] | None = None):
        self.registry = registry
        self.on_started = on_started
        self.runtime = runtime
        self.node_name = node_name
        self.host_ip = host_ip
        self.clock = clock
        self.events = events
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.failures: dict[str, StartFailure] = {}
        self.dns: PodDns | None = None   # set once the pod network is up
        self._written: dict[str, tuple[str, Object]] = {}
        self._launched: dict[str, datetime] = {}
        self._starting: set[str] = set()

    def forget(self, uid: str) -> None:
        self.failures.pop(uid, None)
        self._written.pop(uid, None)
        self._launched.pop(uid, None)

    async def sync(self, uid: str, pod: Object | None) -> Object | None:
        """Do what the pod needs now; the pod as stored after a status write, else None."""
        rp = self.runtime.pod(uid)
        step = plan_pod(pod, rp)
        if step is Step.REMOVE:
            log.info("removing pod unknown to the API uid=%s", uid)
            await self.runtime.remove(uid)
            self.forget(uid)
            return None
        if pod is None:
            self.forget(uid)
            return None
        if step is Step.FINAL_DELETE:
            await self.final_delete(pod)
            return None
        if step is Step.TERMINATE:
            assert rp is not None
            await self.terminate(pod, rp)
            return None
        if step is Step.START:
            if not (pod.get("status") or {}).get("containerStatuses"):
                pod = await self.report(pod) or pod  # ContainerCreating while stage0 works
            await self.start(pod)
        return await self.report(pod)

    # -- start ---------------------------------------------------------------------------

    async def start(self, pod: Object) -> None:
        uid, now = _meta(pod).get("uid", ""), self.clock()
        failure = self.failures.get(uid)
        if failure is not None and failure.retry_at > now:
            return
        launched = self._launched.get(uid)
        rp = self.runtime.pod(uid)
        if launched is not None and rp is not None and rp.stage1 is None and \
                now < launched + LAUNCH_GRACE:
            return  # stage1 was just launched and has not written its state yet
        self._starting.add(uid)
        began = self.clock()
        try:
            inputs = await self.inputs(pod)
            await self.runtime.start(pod, inputs, self.events.sink(pod))
        except PodRuntimeError as err:
            delay = (self.backoff_initial_s if failure is None
                     else min(failure.delay_s * 2, self.backoff_max_s))
            self.failures[uid] = StartFailure(SyncError(err.reason, err.message), now,
                                              now + timedelta(seconds=delay), delay)
            log.info("pod start failed pod=%s/%s reason=%s retry_s=%.0f",
                     _meta(pod).get("namespace"), _meta(pod).get("name"), err.reason, delay)
            self.events.record(pod, "Warning", "Failed", err.message)
            return
        finally:
            self._starting.discard(uid)
        self.failures.pop(uid, None)
        self._launched[uid] = now
        log.debug("pod started pod=%s/%s start_ms=%.0f", _meta(pod).get("namespace"),
                  _meta(pod).get("name"), (self.clock() - began).total_seconds() * 1000)
        if self.on_started is not None:
            self.on_started(uid)

    def starting(self, uid: str) -> bool:
        """Whether the runtime is starting this pod right now."""
        return uid in self._starting

    async def inputs(self, pod: Object) -> PodInputs:
        """What stage0 needs from the API: the secrets, config maps and pull credentials
        the pod names (missing ones are left out: the runtime names what it missed)."""
        namespace = _meta(pod).get("namespace") or ""
        secret_names, config_map_names = pod_inputs.referenced_names(pod)
        pull_names = pod_inputs.pull_secret_names(pod)
        secrets = await self._get_all(SECRETS, namespace, secret_names | set(pull_names))
        config_maps = await self._get_all(CONFIG_MAPS, namespace, config_map_names)
        return PodInputs(
            secrets={n: pod_inputs.secret_data(s) for n, s in secrets.items()
                     if n in secret_names},
            config_maps={n: pod_inputs.config_map_data(c) for n, c in config_maps.items()},
            node_name=self.node_name, host_ip=self.host_ip,
            resolv_conf=self.dns.resolv_conf(pod) if self.dns is not None else None,
            pull_auth=pod_inputs.pull_auth([secrets[n] for n in pull_names if n in secrets]),
            service_env=service_env(await self._services(namespace), namespace))

    async def _services(self, namespace: str) -> list[Object]:
        """The namespace's Services and default/kubernetes (for the Service variables)."""
        found = (await self.registry.list(SERVICES, namespace, ListOptions()))["items"]
        if namespace != MASTER_NAMESPACE:
            found += list((await self._get_all(SERVICES, MASTER_NAMESPACE,
                                               {MASTER_SERVICE})).values())
        return list(found)

    async def _get_all(self, info: ResourceInfo, namespace: str,
                       names: set[str]) -> dict[str, Object]:
        out: dict[str, Object] = {}
        for name in sorted(names):
            try:
                out[name] = (await self.registry.get(info, namespace, name)).object
            except StatusError as err:
                if err.code != 404:
                    raise
        return out

    def shown_error(self, uid: str, now: datetime) -> SyncError | None:
        """The start failure as the pod's waiting reason: a failed pull reads ErrImagePull,
        then ImagePullBackOff while the agent waits to try again (like the kubelet)."""
        failure = self.failures.get(uid)
        if failure is None:
            return None
        if failure.error.reason == "ErrImagePull" and now >= failure.failed_at + BACKOFF_SHOWN:
            return SyncError("ImagePullBackOff", failure.error.message)
        return failure.error

    # -- stop and delete -----------------------------------------------------------------

    async def terminate(self, pod: Object, rp: RuntimePodRecord) -> None:
        """Graceful deletion: stop the containers (grace, then KILL), tear the pod down,
        then delete the object for good."""
        uid = _meta(pod).get("uid", "")
        if rp.alive:
            paths = field_paths(pod)
            for name, state in sorted(rp.containers.items()):
                if state.state == "running":
                    self.events.record(pod, "Normal", "Killing", f"Stopping container {name}",
                                       paths.get(name, ""))
            await self.runtime.stop(uid, grace_seconds(pod))
        await self.runtime.remove(uid)
        await self.final_delete(pod)

    async def final_delete(self, pod: Object) -> None:
        meta = _meta(pod)
        self.forget(meta.get("uid", ""))
        try:
            await self.registry.delete(PODS, meta.get("namespace") or "", meta["name"],
                                       DeleteOptions(grace_period_seconds=0,
                                                     precondition_uid=meta.get("uid")))
            log.info("pod deleted pod=%s/%s", meta.get("namespace"), meta.get("name"))
        except StatusError as err:
            if err.code not in (404, 409):
                raise

    # -- status --------------------------------------------------------------------------

    async def report(self, pod: Object) -> Object | None:
        """Write the pod's status if it changed (compare-and-swap on the version seen: a
        lost race waits for the watch to bring the newer pod)."""
        meta = _meta(pod)
        uid, now = meta.get("uid", ""), self.clock()
        status = pod_status(pod, self.runtime.pod(uid), self.shown_error(uid, now), now,
                            self.host_ip)
        version = str(meta.get("resourceVersion") or "")
        if status == (pod.get("status") or {}) or self._written.get(uid) == (version, status):
            return None
        try:
            result = await self.registry.update(PODS, meta.get("namespace") or "",
                                                meta["name"], dict(pod, status=status), _W,
                                                "status")
        except StatusError as err:
            if err.code in (404, 409):
                return None
            raise
        stored = result.object
        self._written[uid] = (str(_meta(stored).get("resourceVersion") or ""), status)
        return stored
