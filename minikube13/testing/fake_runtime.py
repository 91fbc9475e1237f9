"""An in-memory PodRuntime (the API of minikube13.runtime.pods) for tests of the node agent,
like the kubelet's container/testing/fake_runtime.go: no processes, no pod dirs.

`start` makes the pod run at once: init containers terminated with exit 0, app containers
running and ready, stage1 "alive". Tests then play stage1's part with `exit_container`,
`crash_loop`, `finish`, `kill_stage1` (a reboot or a crash), `set_ready`, and make the next
start fail with `fail_next_start(reason, message)` (e.g. ErrImagePull). `calls` records
every start/stop/remove/collect_garbage in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minikube13.runtime.errors import PodRuntimeError
from minikube13.runtime.poddir import ContainerState, Stage1State, TerminatedState
from minikube13.runtime.pods import PodInputs, RuntimePod

Object = dict[str, Any]
EventSink = Callable[[str, str, str], None]


class FakePodRuntime:
    def __init__(self, data_dir: Path | None = None, *, self_command: list[str] | None = None,
                 allowed_registries: tuple[str, ...] = ("*",),
                 backoff_initial_s: float = 10.0, backoff_max_s: float = 300.0,
                 clock: Callable[[], float] = time.time):
        self.data_dir = data_dir
        self.clock = clock
        self.calls: list[tuple[str, str]] = []
        self.inputs: dict[str, PodInputs] = {}
        self.stop_grace: dict[str, float] = {}
        self._pods: dict[str, RuntimePod] = {}
        self._images: dict[str, set[str]] = {}
        self._failures: list[PodRuntimeError] = []
        self.start_delay_s = 0.0
        self._listeners: list[Callable[[str], None]] = []

    # -- the PodRuntime API --------------------------------------------------------------

    async def start(self, pod: Object, inputs: PodInputs,
                    events: EventSink | None = None) -> None:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        uid = meta.get("uid", "")
        self.calls.append(("start", uid))
        self.inputs[uid] = inputs
        if self.start_delay_s:
            await asyncio.sleep(self.start_delay_s)
        if self._failures:
            raise self._failures.pop(0)
        current = self._pods.get(uid)
        if current is not None and (current.alive or _terminal(current)):
            return
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if events is not None and current is None:
                events("Normal", "Pulled",
                       f'Container image "{c.get("image", "")}" already present on machine')
        self._images[uid] = {c.get("image", "") for c in spec.get("containers") or []}
        self._pods[uid] = self._running(meta, spec, current)

    async def stop(self, uid: str, grace_s: float) -> None:
        self.calls.append(("stop", uid))
        self.stop_grace[uid] = grace_s
        self._stop(uid)

    def _stop(self, uid: str) -> None:
        rp = self._pods.get(uid)
        if rp is None or not rp.alive:
            return
        now = self.clock()
        states = {name: _terminate(s, 137, "Error", now) if s.state == "running" else s
                  for name, s in rp.containers.items()}
        self._pods[uid] = dataclasses.replace(rp, alive=False, containers=states)

    async def remove(self, uid: str) -> None:
        self.calls.append(("remove", uid))
        self._stop(uid)
        self._pods.pop(uid, None)
        self._images.pop(uid, None)

    def pods(self) -> list[RuntimePod]:
        return list(self._pods.values())

    def pod(self, uid: str) -> RuntimePod | None:
        return self._pods.get(uid)

    def images_in_use(self) -> set[str]:
        return set().union(*self._images.values()) if self._images else set()

    async def collect_garbage(self, known_uids: set[str]) -> None:
        self.calls.append(("collect_garbage", ""))
        for uid in [u for u in self._pods if u not in known_uids]:
            await self.remove(uid)

    def listen(self, on_change: Callable[[str], None]) -> Callable[[], None]:
        """Playing stage1 sends no notification by itself (the agent's relist finds the
        change); a test sends one with `notify`."""
        self._listeners.append(on_change)
        return lambda: self._listeners.remove(on_change)

    async def warm_up(self) -> None:
        """No stage1 to prepare."""

    def notify(self, uid: str) -> None:
        """What stage1 does after writing its pod's state (runtime.notify)."""
        for on_change in list(self._listeners):
            on_change(uid)

    # -- playing stage1 ------------------------------------------------------------------

    def fail_next_start(self, reason: str, message: str) -> None:
        self._failures.append(PodRuntimeError(reason, message))

    def exit_container(self, uid: str, name: str, exit_code: int) -> None:
        """A container exited (and was not restarted, yet)."""
        rp = self._pods[uid]
        reason = "Completed" if exit_code == 0 else "Error"
        state = _terminate(rp.containers[name], exit_code, reason, self.clock())
        self._pods[uid] = dataclasses.replace(rp, containers={**rp.containers, name: state})

    def crash_loop(self, uid: str, name: str, exit_code: int = 1) -> None:
        """A container exited and waits in back-off to be restarted."""
        rp = self._pods[uid]
        now = self.clock()
        old = rp.containers[name]
        last = TerminatedState(exit_code, "Error", started_at=old.started_at, finished_at=now)
        state = dataclasses.replace(old, state="waiting", reason="CrashLoopBackOff",
                                    message="back-off restarting failed container",
                                    ready=False, started_at=None, last_terminated=last,
                                    terminated=None)
        self._pods[uid] = dataclasses.replace(rp, containers={**rp.containers, name: state})

    def restart_container(self, uid: str, name: str) -> None:
        rp = self._pods[uid]
        old = rp.containers[name]
        state = dataclasses.replace(old, state="running", reason="", message="",
                                    started_at=self.clock(), ready=True, terminated=None,
                                    restart_count=old.restart_count + 1)
        self._pods[uid] = dataclasses.replace(rp, containers={**rp.containers, name: state})

    def set_ready(self, uid: str, name: str, ready: bool) -> None:
        rp = self._pods[uid]
        state = dataclasses.replace(rp.containers[name], ready=ready)
        self._pods[uid] = dataclasses.replace(rp, containers={**rp.containers, name: state})

    def finish(self, uid: str, exit_code: int = 0) -> None:
        """Every app container exits with `exit_code`; stage1 writes the phase and exits."""
        rp = self._pods[uid]
        now = self.clock()
        reason = "Completed" if exit_code == 0 else "Error"
        states = {n: _terminate(s, exit_code, reason, now) if not s.init else s
                  for n, s in rp.containers.items()}
        assert rp.stage1 is not None
        stage1 = dataclasses.replace(rp.stage1,
                                     phase="Succeeded" if exit_code == 0 else "Failed")
        self._pods[uid] = dataclasses.replace(rp, alive=False, stage1=stage1, containers=states)

    def kill_stage1(self, uid: str) -> None:
        """stage1 dies (a reboot): its record stays, nothing runs."""
        self._pods[uid] = dataclasses.replace(self._pods[uid], alive=False)

    def adopt(self, rp: RuntimePod) -> None:
        """A pod found on disk at start-up (left by an earlier daemon)."""
        self._pods[rp.uid] = rp

    # -- helpers -------------------------------------------------------------------------

    def _running(self, meta: Object, spec: Object, before: RuntimePod | None) -> RuntimePod:
        uid, now = meta.get("uid", ""), self.clock()
        states: dict[str, ContainerState] = {}
        for c in spec.get("initContainers") or []:
            done = TerminatedState(0, "Completed", started_at=now, finished_at=now)
            states[c["name"]] = ContainerState(c["name"], True, f"{uid}-{c['name']}",
                                               "terminated", terminated=done)
        for c in spec.get("containers") or []:
            old = before.containers.get(c["name"]) if before is not None else None
            restarts = old.restart_count + 1 if old is not None else 0
            states[c["name"]] = ContainerState(c["name"], False, f"{uid}-{c['name']}",
                                               "running", restart_count=restarts,
                                               started_at=now, ready=True, pid=1000)
        stage1 = Stage1State(stage1_pid=999, stage1_start_ticks=1, started_at=now,
                             phase="Running")
        return RuntimePod(uid=uid, namespace=meta.get("namespace", ""),
                          name=meta.get("name", ""), alive=True, stage1=stage1,
                          containers=states, pod_ip="")


def _terminate(state: ContainerState, exit_code: int, reason: str,
               now: float) -> ContainerState:
    term = TerminatedState(exit_code, reason, started_at=state.started_at, finished_at=now)
    return dataclasses.replace(state, state="terminated", terminated=term, ready=False)


def _terminal(rp: RuntimePod) -> bool:
    return rp.stage1 is not None and rp.stage1.phase in ("Succeeded", "Failed")
