"""PodRuntime: what the node agent calls to run, stop, remove and list pods on this node.

start = resolve/pull images, stage0 (pod dir) and a detached stage1; the pod then lives
without the daemon. Everything known about a pod is read back from its pod dir, so a
restarted daemon sees exactly what the old one left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from minikube13.model.groups.core_pod import init_containers_from_annotations
from minikube13.runtime import gc, notify, stage0
from minikube13.runtime.errors import PodRuntimeError, create_error
from minikube13.runtime.imagepull import ImagePuller, ImageSource
from minikube13.runtime.poddir import (
    PODS_SUBDIR,
    ContainerState,
    PodDir,
    Stage1State,
    StopRequest,
)
from minikube13.runtime.podenv import PodFacts
from minikube13.runtime.procfs import stage1_alive

__all__ = ["PodInputs", "PodNetwork", "PodRuntime", "PodRuntimeError", "RuntimePod"]
log = logging.getLogger(__name__)
Events = Callable[[str, str, str], None]
TERMINAL = ("Succeeded", "Failed")
STAGE1_START_TIMEOUT_S = 20.0
POLL_S = 0.005


class PodNetwork(Protocol):
    """The node's pod network (net.node_network.NodeNetwork); blocking calls."""

    def allocate(self, uid: str) -> str: ...

    def setup_pod(self, uid: str, netns_path: str, pod: dict[str, Any]) -> tuple[str, str]: ...

    def teardown_pod(self, uid: str) -> None: ...

    def collect(self, live_uids: set[str]) -> list[str]: ...


@dataclass(frozen=True)
class PodInputs:
    """What the agent resolved from the API for stage0."""
    secrets: dict[str, dict[str, str]]
    config_maps: dict[str, dict[str, str]]
    node_name: str
    host_ip: str
    pod_ip: str = ""
    dns_servers: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    pull_auth: list[dict[str, Any]] = field(default_factory=list)
    resolv_conf: str | None = None   # the pod's resolv.conf as rendered by the node (pod
    #                                  network on); None: from dns_servers/dns_search
    service_env: dict[str, str] = field(default_factory=dict)  # node.service_env


@dataclass(frozen=True)
class RuntimePod:
    """One pod on disk."""
    uid: str
    namespace: str
    name: str
    alive: bool
    stage1: Stage1State | None
    containers: dict[str, ContainerState]
    pod_ip: str
    image_digests: dict[str, str] = field(default_factory=dict)  # container -> digest


class PodRuntime:
    def __init__(self, data_dir: Path, *, self_command: list[str],
                 allowed_registries: Sequence[str] = ("*",), backoff_initial_s: float = 10.0,
                 backoff_max_s: float = 300.0, pids_limit: int = 4096,
                 images: ImageSource | None = None, network: PodNetwork | None = None):
        """`network`: pods get a veth and an address from it (None: lo only)."""
        self.data_dir = Path(data_dir)
        self.network = network
        self.self_command = list(self_command)
        self.options = stage0.Stage0Options(pids_limit=pids_limit,
                                            backoff_initial_s=backoff_initial_s,
                                            backoff_max_s=backoff_max_s)
        self.puller = ImagePuller(self.data_dir, images, tuple(allowed_registries))
        self._locks: dict[str, asyncio.Lock] = {}
        self._plans: dict[str, tuple[int, stage0.Stage0Record | None, list[str]]] = {}

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, pod: dict[str, Any], inputs: PodInputs,
                    events: Events | None = None) -> None:
        """Idempotent: prepare the pod dir if absent, start stage1 if it is not running."""
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        if not uid or "/" in uid or uid.startswith("."):
            raise create_error(f"pod has no usable uid: {uid!r}")
        async with self._lock(uid):
            pd = PodDir.of(self.data_dir, uid)
            if pd.plan_path.exists():
                await self._resume(pd, pod)
                return
            if pd.root.exists():  # a prepare that died half-way
                await self._teardown(uid)
            self._plans.pop(uid, None)
            pod = init_containers_from_annotations(pod)
            images = await self.puller.images_for(pod, inputs, events)
            host_network = self.network is not None and bool(
                (pod.get("spec") or {}).get("hostNetwork"))
            pod_ip = await self._pod_ip(uid, inputs, host_network)
            facts = _facts(inputs, pod_ip)
            options = stage0.Stage0Options(
                pids_limit=self.options.pids_limit,
                backoff_initial_s=self.options.backoff_initial_s,
                backoff_max_s=self.options.backoff_max_s,
                dns_servers=inputs.dns_servers, dns_search=inputs.dns_search,
                host_network=host_network, resolv_conf=inputs.resolv_conf)
            try:
                plan = await asyncio.to_thread(stage0.prepare, pd, pod, facts, images, options,
                                               self._attach_hook(uid, pod))
            except BaseException as e:
                await self._teardown(uid)
                if isinstance(e, OSError):
                    raise create_error(str(e)) from e
                raise
            await self._launch(pd, "" if host_network else plan.netns, None)

    async def _pod_ip(self, uid: str, inputs: PodInputs, host_network: bool) -> str:
        """The node's address for hostNetwork pods, else one from the pod network."""
        if self.network is None:
            return inputs.pod_ip
        if host_network:
            return inputs.host_ip
        try:
            return await asyncio.to_thread(self.network.allocate, uid)
        except Exception as e:
            raise create_error(f"pod network: {e}") from e

    def _attach_hook(self, uid: str, pod: dict[str, Any]) -> stage0.Attach | None:
        """What stage0 calls once the pod's netns exists (blocking, in its thread)."""
        network = self.network
        if network is None:
            return None

        def attach(netns_path: str) -> None:
            try:
                network.setup_pod(uid, netns_path, pod)
            except Exception as e:
                raise create_error(f"pod network: {e}") from e
        return attach

    async def _teardown(self, uid: str) -> None:
        """Remove the pod's host state, then its veth, address and hostPort rules."""
        await asyncio.to_thread(gc.teardown_pod, self.data_dir, uid)
        if self.network is not None:
            try:
                await asyncio.to_thread(self.network.teardown_pod, uid)
            except Exception:
                log.exception("pod network teardown failed uid=%s", uid)

    async def _resume(self, pd: PodDir, pod: dict[str, Any]) -> None:
        """A complete pod dir: nothing to do unless stage1 died before the pod finished."""
        state = pd.read_pod_state()
        if stage1_alive(state) or pd.stop_path.exists():
            return
        if state is not None and state.phase in TERMINAL:
            return
        record = stage0.read_record(pd)
        plan = pd.read_plan()
        if record is None or plan is None:
            raise create_error(f"pod dir {pd.root} is incomplete")
        log.info("restarting stage1 uid=%s", pd.uid)
        await asyncio.to_thread(stage0.restore, pd, record, self._attach_hook(pd.uid, pod))
        await self._launch(pd, "" if record.host_network else plan.netns, state)

    async def _launch(self, pd: PodDir, netns_file: str, old: Stage1State | None) -> None:
        await asyncio.to_thread(stage0.launch_stage1, pd, self.self_command, netns_file)
        deadline = time.monotonic() + STAGE1_START_TIMEOUT_S
        while time.monotonic() < deadline:
            state = pd.read_pod_state()
            if state is not None and state != old and stage1_alive(state):
                return
            if state is not None and state != old and state.phase in TERMINAL:
                return  # it already ran to the end (fast pods)
            await asyncio.sleep(POLL_S)
        raise create_error(f"stage1 did not start: {stage0.stage1_log_tail(pd)}")

    async def stop(self, uid: str, grace_s: float) -> None:
        """Write `stop`, SIGTERM stage1, wait until it is gone (SIGKILL after grace + 5 s)."""
        pd = PodDir.of(self.data_dir, uid)
        if not pd.root.exists():
            return
        pd.write_stop(StopRequest(grace_s=grace_s))
        state = pd.read_pod_state()
        if not stage1_alive(state) or state is None:
            return
        _signal(state.stage1_pid, signal.SIGTERM)
        deadline = time.monotonic() + max(grace_s, 0.0) + 5.0
        while stage1_alive(state):
            if time.monotonic() > deadline:
                log.warning("stage1 ignored SIGTERM uid=%s pid=%s", uid, state.stage1_pid)
                _signal(state.stage1_pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
            await asyncio.sleep(0.01)

    async def remove(self, uid: str) -> None:
        """Stop if alive, then tear down processes, runc state, mounts, cgroups, netns, dir."""
        async with self._lock(uid):
            await self.stop(uid, 0.0)
            await self._teardown(uid)
            self._plans.pop(uid, None)

    async def collect_garbage(self, known_uids: set[str]) -> None:
        """Remove pod dirs of unknown pods, then orphaned netns, cgroups and runc state."""
        for uid in gc.pod_uids(self.data_dir):
            if uid not in known_uids and not self._lock(uid).locked():
                log.info("removing orphaned pod uid=%s", uid)
                await self.remove(uid)
        on_disk = set(gc.pod_uids(self.data_dir))
        for uid in [u for u, lock in self._locks.items() if u not in on_disk and not lock.locked()]:
            del self._locks[uid]
        for uid in [u for u in self._plans if u not in on_disk]:
            del self._plans[uid]
        removed = await asyncio.to_thread(gc.collect_orphans, self.data_dir)
        if self.network is not None:
            live = set(gc.pod_uids(self.data_dir)) | {
                u for u, lock in self._locks.items() if lock.locked()}
            try:
                removed += await asyncio.to_thread(self.network.collect, live)
            except Exception:
                log.exception("pod network garbage collection failed")
        if removed:
            log.info("orphans removed count=%d what=%s", len(removed), ",".join(removed))

    async def warm_up(self) -> None:
        """Compile stage1's bytecode ahead of the first pod (stage0.warm_stage1)."""
        await asyncio.to_thread(stage0.warm_stage1, self.self_command)

    def listen(self, on_change: Callable[[str], None]) -> Callable[[], None]:
        """Call `on_change(uid)` (on this event loop) when a pod's stage1 says it wrote its
        state (runtime.notify); returns the function that stops listening."""
        listener = notify.Listener(self.data_dir, on_change)
        listener.start()
        return listener.close

    # -- reading ----------------------------------------------------------------------------

    def pods(self) -> list[RuntimePod]:
        out = []
        for uid in gc.pod_uids(self.data_dir):
            pod = self.pod(uid)
            if pod is not None:
                out.append(pod)
        return out

    def pod(self, uid: str) -> RuntimePod | None:
        pd = PodDir.of(self.data_dir, uid)
        if not pd.root.is_dir():
            return None
        record, names = self._static(pd)
        state = pd.read_pod_state()
        containers = {}
        for name in names:
            cs = pd.read_container_state(name)
            if cs is not None:
                containers[name] = cs
        return RuntimePod(
            uid=uid, namespace=record.namespace if record else "",
            name=record.name if record else "", alive=stage1_alive(state), stage1=state,
            containers=containers, pod_ip=record.pod_ip if record else "",
            image_digests=_image_digests(record))

    def _static(self, pd: PodDir) -> tuple[stage0.Stage0Record | None, list[str]]:
        """stage0.json and the container names of plan.json: written once, so cached by
        the plan's mtime (the relist reads every pod every second)."""
        try:
            stamp = pd.plan_path.stat().st_mtime_ns
        except FileNotFoundError:
            return stage0.read_record(pd), []
        cached = self._plans.get(pd.uid)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2]
        record, plan = stage0.read_record(pd), pd.read_plan()
        names = [c.name for c in (plan.init_containers + plan.containers)] if plan else []
        self._plans[pd.uid] = (stamp, record, names)
        return record, names

    def images_in_use(self) -> set[str]:
        """Image ids and manifest digests of every pod on disk."""
        used: set[str] = set()
        for uid in gc.pod_uids(self.data_dir):
            record = stage0.read_record(PodDir.of(self.data_dir, uid))
            for refs in (record.images.values() if record else ()):
                used.update(r for r in refs if r)
        return used

    @property
    def pods_dir(self) -> Path:
        return self.data_dir / PODS_SUBDIR


def _image_digests(record: stage0.Stage0Record | None) -> dict[str, str]:
    """Each container's image digest (its manifest's; the config's for a local image)."""
    out = {}
    for name, (image_id, digest) in (record.images if record else {}).items():
        out[name] = digest or (image_id if image_id.startswith("sha256:")
                               else f"sha256:{image_id}")
    return out


def _facts(inputs: PodInputs, pod_ip: str) -> PodFacts:
    return PodFacts(secrets=inputs.secrets, config_maps=inputs.config_maps,
                    node_name=inputs.node_name, host_ip=inputs.host_ip, pod_ip=pod_ip,
                    service_env=inputs.service_env,
                    node_cpu_millis=(os.cpu_count() or 1) * 1000,
                    node_memory_bytes=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
