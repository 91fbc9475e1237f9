"""The agent's decisions (pure): what to do with one pod, given the API's object and the
runtime's record, and the pod lifecycle events a relist reveals (the kubelet's PLEG: relist
the pod dirs, diff against the last relist)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minikube13.node.status import TERMINAL_PHASES, RuntimePodView
from minikube13.runtime.poddir import ContainerState

Object = dict[str, Any]
DEFAULT_GRACE_S = 30.0


class Step(enum.Enum):
    NOTHING = "nothing"          # report status only
    START = "start"              # stage0: prepare the dir if needed, start stage1 if dead
    TERMINATE = "terminate"      # graceful deletion: stop, remove, then the final delete
    FINAL_DELETE = "final-delete"  # nothing runs any more: delete the object (grace 0)
    REMOVE = "remove"            # the API has no such pod: tear down what is on disk


def plan_pod(pod: Object | None, rp: RuntimePodView | None) -> Step:
    """The one thing to do now for a pod (the agent repeats until NOTHING)."""
    if pod is None:
        return Step.REMOVE if rp is not None else Step.NOTHING
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Step.TERMINATE if rp is not None else Step.FINAL_DELETE
    if status.get("phase") in TERMINAL_PHASES:
        return Step.NOTHING  # kept (logs, status) until deleted; stage1 has exited
    if rp is None:
        return Step.START
    if rp.alive:
        return Step.NOTHING
    if rp.stage1 is not None and rp.stage1.phase in TERMINAL_PHASES:
        return Step.NOTHING  # stage1 finished the pod: the status says so next
    return Step.START  # a dead stage1 (reboot, crash): start it again on the same dir


def grace_seconds(pod: Object) -> float:
    """How long the containers get between SIGTERM and SIGKILL."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for value in (meta.get("deletionGracePeriodSeconds"),
                  spec.get("terminationGracePeriodSeconds")):
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    return DEFAULT_GRACE_S


# -- relist ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodEvent:
    """A Kubernetes Event the relist found: Created/Started/BackOff of a container."""

    uid: str
    type: str
    reason: str
    message: str
    container: str = ""


def fingerprint(rp: RuntimePodView) -> tuple[Any, ...]:
    """What, when it changes, means the pod's status must be computed again."""
    return (rp.alive, rp.stage1, rp.pod_ip, tuple(sorted(rp.containers.items())))


def container_events(uid: str, old: Mapping[str, ContainerState],
                     new: Mapping[str, ContainerState]) -> list[PodEvent]:
    """Created+Started when a container (re)starts; BackOff when it enters back-off."""
    out: list[PodEvent] = []
    for name, state in sorted(new.items()):
        before = old.get(name)
        path = name
        started = state.state == "running" and (
            before is None or before.state != "running"
            or before.restart_count != state.restart_count
            or before.started_at != state.started_at)
        if started:
            out.append(PodEvent(uid, "Normal", "Created", f"Created container {name}", path))
            out.append(PodEvent(uid, "Normal", "Started", f"Started container {name}", path))
        backoff = state.state == "waiting" and state.reason == "CrashLoopBackOff" and (
            before is None or before.reason != "CrashLoopBackOff"
            or before.restart_count != state.restart_count)
        if backoff:
            out.append(PodEvent(uid, "Warning", "BackOff",
                                "Back-off restarting failed container", path))
    return out


@dataclass(frozen=True)
class Relist:
    changed: set[str]          # uids whose runtime record changed (or appeared/vanished)
    events: list[PodEvent]
    seen: dict[str, tuple[Any, ...]]   # the fingerprints to pass to the next relist


def relist(previous: Mapping[str, tuple[Any, ...]],
           previous_states: Mapping[str, Mapping[str, ContainerState]],
           current: Iterable[tuple[str, RuntimePodView]]) -> Relist:
    """Diff this relist against the last one."""
    seen: dict[str, tuple[Any, ...]] = {}
    changed: set[str] = set()
    events: list[PodEvent] = []
    for uid, rp in current:
        fp = seen[uid] = fingerprint(rp)
        if previous.get(uid) != fp:
            changed.add(uid)
            events += container_events(uid, previous_states.get(uid) or {}, rp.containers)
    changed |= set(previous) - set(seen)
    return Relist(changed, events, seen)


def field_paths(pod: Object) -> dict[str, str]:
    """Each container's fieldPath for events, e.g. spec.containers{app}."""
    spec = pod.get("spec") or {}
    out = {c.get("name", ""): f"spec.initContainers{{{c.get('name', '')}}}"
           for c in spec.get("initContainers") or []}
    out.update({c.get("name", ""): f"spec.containers{{{c.get('name', '')}}}"
                for c in spec.get("containers") or []})
    return out
