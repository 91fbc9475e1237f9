"""A pod's status from what the pod runtime recorded on disk (pure).

`pod_status(pod, runtime_pod, error, now, host_ip)` is the kubelet's generateAPIPodStatus:
phase, conditions (PodScheduled, Initialized, ContainersReady, Ready),
initContainerStatuses, containerStatuses, hostIP, podIP and startTime. The 1.3/1.4
annotations `pod.{alpha,beta}.kubernetes.io/init-container-statuses` are not written here:
the model serves them from `status.initContainerStatuses` (core_pod.init_containers_to_
annotations), so every client version sees one truth.

`kubectl get pod`'s STATUS column (model/groups/core_pod_kind.pod_cells) is computed from
these statuses: a running first init container of two gives `Init:0/2`, the second `Init:1/2`;
app containers waiting for their first start after init give `PodInitializing`; all running
gives `Running`; a Never pod whose container exited 0 gives `Completed`, non-zero `Error`;
a container in back-off `CrashLoopBackOff`; a failed pull (the runtime's error) `ErrImagePull`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from minikube13.runtime.images.reference import InvalidReference, parse_reference
from minikube13.runtime.poddir import ContainerState, Stage1State, TerminatedState

Object = dict[str, Any]

CONTAINER_ID_SCHEME = "rkt-style://"
TERMINAL_PHASES = ("Succeeded", "Failed")


class RuntimePodView(Protocol):
    """What the status needs of runtime.pods.RuntimePod (and the fake's)."""

    @property
    def alive(self) -> bool: ...

    @property
    def stage1(self) -> Stage1State | None: ...

    @property
    def containers(self) -> Mapping[str, ContainerState]: ...

    @property
    def image_digests(self) -> Mapping[str, str]: ...

    @property
    def pod_ip(self) -> str: ...


@dataclass(frozen=True)
class SyncError:
    """Why the runtime could not start the pod: a Kubernetes waiting reason
    (ErrImagePull, ImagePullBackOff, CreateContainerConfigError, ...) and its message."""

    reason: str
    message: str


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(seconds: float | None, fallback: datetime) -> str:
    if seconds is None:
        return stamp(fallback)
    return stamp(datetime.fromtimestamp(seconds, UTC))


def is_terminal(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


# -- container statuses ------------------------------------------------------------------


def _terminated(term: TerminatedState, container_id: str, now: datetime) -> Object:
    out: Object = {"exitCode": term.exit_code, "reason": term.reason,
                   "startedAt": _epoch(term.started_at, now),
                   "finishedAt": _epoch(term.finished_at, now),
                   "containerID": container_id}
    if term.message:
        out["message"] = term.message
    if term.signal:
        out["signal"] = term.signal
    return out


def _waiting(reason: str, message: str = "") -> Object:
    out: Object = {"reason": reason}
    if message:
        out["message"] = message
    return {"waiting": out}


def image_id(image: str, digest: str) -> str:
    """`docker.io/library/busybox@sha256:...`, as containerd reports an imageID."""
    if not digest:
        return ""
    try:
        return f"{parse_reference(image).name}@{digest}"
    except InvalidReference:
        return digest


def container_status(spec: Object, state: ContainerState | None, alive: bool,
                     default_reason: str, error: SyncError | None, now: datetime,
                     digest: str = "") -> Object:
    """One ContainerStatus. No state yet: waiting with the runtime's error, or with
    `default_reason` (ContainerCreating / PodInitializing)."""
    name = spec.get("name", "")
    image = spec.get("image", "")
    out: Object = {"name": name, "image": image,
                   "imageID": image_id(image, digest) if state is not None else "",
                   "ready": False, "restartCount": 0, "started": False}
    if state is None:
        out["state"] = (_waiting(error.reason, error.message) if error is not None
                        else _waiting(default_reason))
        out["lastState"] = {}
        return out
    container_id = CONTAINER_ID_SCHEME + state.runc_id
    out["restartCount"] = state.restart_count
    out["lastState"] = ({"terminated": _terminated(state.last_terminated, container_id, now)}
                        if state.last_terminated is not None else {})
    if state.state == "running" and alive:
        out["containerID"] = container_id
        out["state"] = {"running": {"startedAt": _epoch(state.started_at, now)}}
        out["ready"] = state.ready
        out["started"] = True
    elif state.state == "terminated" and state.terminated is not None:
        out["containerID"] = container_id
        out["state"] = {"terminated": _terminated(state.terminated, container_id, now)}
    elif state.state == "running":  # stage1 is gone: the container is too; it restarts
        out["state"] = _waiting("ContainerCreating")
    elif not state.reason or (state.reason == "ContainerCreating"
                              and state.last_terminated is None):
        # being (re)created: the kubelet's default reason, so a pod with init containers
        # reads Init:N/M and then PodInitializing, never Init:ContainerCreating
        out["state"] = _waiting(default_reason, state.message)
    else:
        out["state"] = _waiting(state.reason, state.message)
    return out


def _statuses(specs: list[Object], rp: RuntimePodView | None, default_reason: str,
              error: SyncError | None, now: datetime) -> list[Object]:
    states = rp.containers if rp is not None else {}
    alive = rp.alive if rp is not None else False
    digests = rp.image_digests if rp is not None else {}
    return [container_status(c, states.get(c.get("name", "")), alive, default_reason, error,
                             now, digests.get(c.get("name", ""), "")) for c in specs]


def _init_done(statuses: list[Object]) -> bool:
    return all(((s.get("state") or {}).get("terminated") or {}).get("exitCode", 1) == 0
               and "terminated" in (s.get("state") or {}) for s in statuses)


# -- phase ---------------------------------------------------------------------------------


def pod_phase(restart_policy: str, init: list[Object], app: list[Object],
              stage1: Stage1State | None) -> str:
    """The kubelet's getPhase; stage1's own verdict wins once it has one."""
    if stage1 is not None and stage1.phase in TERMINAL_PHASES:
        return stage1.phase
    if not _init_done(init):
        failed = any((s.get("state") or {}).get("terminated", {}).get("exitCode", 0) != 0
                     for s in init)
        return "Failed" if failed and restart_policy == "Never" else "Pending"
    waiting = running = stopped = succeeded = 0
    for s in app:
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif s.get("lastState", {}).get("terminated"):
            stopped += 1  # waiting to restart
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Running" if restart_policy == "OnFailure" else "Failed"


# -- conditions ----------------------------------------------------------------------------


def _condition(kind: str, ok: bool, reason: str, message: str, old: Mapping[str, Object],
               now: datetime) -> Object:
    status = "True" if ok else "False"
    previous = old.get(kind)
    since = (previous.get("lastTransitionTime") if previous is not None
             and previous.get("status") == status else None) or stamp(now)
    out: Object = {"type": kind, "status": status, "lastProbeTime": None,
                   "lastTransitionTime": since}
    if not ok:
        out["reason"] = reason
        if message:
            out["message"] = message
    return out


def _names(statuses: list[Object], ok: Any) -> list[str]:
    return [s["name"] for s in statuses if not ok(s)]


def pod_conditions(phase: str, init: list[Object], app: list[Object],
                   old: list[Object], now: datetime) -> list[Object]:
    previous = {c.get("type", ""): c for c in old}
    pending_init = _names(init, lambda s: "terminated" in s["state"]
                          and s["state"]["terminated"].get("exitCode") == 0)
    unready = _names(app, lambda s: s.get("ready"))
    completed = phase in TERMINAL_PHASES
    ready_reason = "PodCompleted" if completed else "ContainersNotReady"
    ready_message = "" if completed else \
        f"containers with unready status: [{' '.join(unready)}]"
    ready = not unready and not completed
    init_message = f"containers with incomplete status: [{' '.join(pending_init)}]"
    return [
        _condition("Initialized", not pending_init, "ContainersNotInitialized",
                   init_message, previous, now),
        _condition("Ready", ready, ready_reason, ready_message, previous, now),
        _condition("ContainersReady", ready, ready_reason, ready_message, previous, now),
        _condition("PodScheduled", True, "", "", previous, now),
    ]


# -- the pod status ------------------------------------------------------------------------


def pod_status(pod: Object, rp: RuntimePodView | None, error: SyncError | None,
               now: datetime, host_ip: str) -> Object:
    """The status the agent writes for `pod` (served v1 form, canonical fields)."""
    spec, old = pod.get("spec") or {}, pod.get("status") or {}
    init_specs = spec.get("initContainers") or []
    init = _statuses(init_specs, rp, "PodInitializing", error, now)
    app_default = "PodInitializing" if init_specs else "ContainerCreating"
    app = _statuses(spec.get("containers") or [], rp, app_default,
                    error if _init_done(init) else None, now)
    stage1 = rp.stage1 if rp is not None else None
    phase = pod_phase(spec.get("restartPolicy") or "Always", init, app, stage1)
    out: Object = {"phase": phase,
                   "conditions": pod_conditions(phase, init, app,
                                                old.get("conditions") or [], now),
                   "hostIP": host_ip,
                   "startTime": old.get("startTime") or stamp(now),
                   "containerStatuses": app}
    if host_ip:
        out["hostIPs"] = [{"ip": host_ip}]
    if init_specs:
        out["initContainerStatuses"] = init
    pod_ip = (rp.pod_ip if rp is not None else "") or old.get("podIP") or ""
    if pod_ip:
        out["podIP"] = pod_ip
        out["podIPs"] = [{"ip": pod_ip}]
    if stage1 is not None and phase == "Failed" and stage1.message:
        out["message"] = stage1.message
    for kept in ("qosClass", "nominatedNodeName"):
        if old.get(kept):
            out[kept] = copy.deepcopy(old[kept])
    return out


def status_changed(pod: Object, new_status: Object) -> bool:
    """Whether writing `new_status` would change the stored pod (write only on change)."""
    return (pod.get("status") or {}) != new_status
