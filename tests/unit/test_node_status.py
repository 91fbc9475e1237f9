"""A pod's status from the runtime's record (pure), as `kubectl get pod` will show it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.model.groups.core_pod_kind import pod_cells
from minikube13.node.status import SyncError, pod_status
from minikube13.runtime.poddir import ContainerState, Stage1State, TerminatedState

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
T0 = NOW.timestamp() - 60


@dataclass(frozen=True)
class RP:
    alive: bool = True
    stage1: Stage1State | None = field(
        default_factory=lambda: Stage1State(10, 1, T0, "Running"))
    containers: dict[str, ContainerState] = field(default_factory=dict)
    pod_ip: str = ""
    image_digests: dict[str, str] = field(default_factory=dict)


def pod(init: int = 0, apps: int = 1, policy: str = "Always") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": "n1", "restartPolicy": policy,
        "containers": [{"name": f"app{i}", "image": "busybox"} for i in range(apps)]}
    if init:
        spec["initContainers"] = [{"name": f"init{i}", "image": "busybox"} for i in range(init)]
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1",
                         "creationTimestamp": "2026-11-26T11:00:00Z"},
            "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}}


def running(name: str, init: bool = False, ready: bool = True,
            restarts: int = 0) -> ContainerState:
    return ContainerState(name, init, f"u1-{name}", "running", restart_count=restarts,
                          started_at=T0, ready=ready)


def exited(name: str, code: int, init: bool = False) -> ContainerState:
    reason = "Completed" if code == 0 else "Error"
    return ContainerState(name, init, f"u1-{name}", "terminated",
                          terminated=TerminatedState(code, reason, started_at=T0,
                                                     finished_at=T0 + 1))


def column(p: dict[str, Any], rp: RP | None, error: SyncError | None = None) -> tuple[str, str]:
    """(READY, STATUS) of `kubectl get pod` after the agent wrote the status."""
    shown = dict(p, status=pod_status(p, rp, error, NOW, "10.0.0.5"))
    cells = pod_cells(shown, NOW)
    return cells[1], cells[2]


def cond(status: dict[str, Any], kind: str) -> str:
    return next(c["status"] for c in status["conditions"] if c["type"] == kind)


def test_a_pod_not_started_yet_is_container_creating() -> None:
    """No pod dir yet: Pending, ContainerCreating, scheduled but not ready."""
    status = pod_status(pod(), None, None, NOW, "10.0.0.5")
    assert status["phase"] == "Pending"
    assert status["hostIP"] == "10.0.0.5" and status["qosClass"] == "BestEffort"
    assert cond(status, "PodScheduled") == "True" and cond(status, "Ready") == "False"
    assert cond(status, "Initialized") == "True"
    assert column(pod(), None) == ("0/1", "ContainerCreating")


def test_a_failed_pull_shows_its_reason() -> None:
    """The runtime's error becomes the containers' waiting reason: ErrImagePull."""
    err = SyncError("ErrImagePull", "pulling from docker.io not allowed")
    status = pod_status(pod(), None, err, NOW, "")
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {"reason": "ErrImagePull", "message": "pulling from docker.io not allowed"}
    assert column(pod(), None, err) == ("0/1", "ErrImagePull")
    assert column(pod(init=1), None, err)[1] == "Init:ErrImagePull"


def test_running_and_ready() -> None:
    """All containers running and ready: Running, Ready True, podIP and startTime set."""
    rp = RP(containers={"app0": running("app0"), "app1": running("app1")}, pod_ip="10.1.0.2")
    status = pod_status(pod(apps=2), rp, None, NOW, "10.0.0.5")
    assert status["phase"] == "Running" and cond(status, "Ready") == "True"
    assert status["podIP"] == "10.1.0.2" and status["startTime"] == "2026-11-26T12:00:00Z"
    cs = status["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": "2026-11-26T11:59:00Z"}}
    assert cs["containerID"] == "rkt-style://u1-app0" and cs["ready"] is True
    assert column(pod(apps=2), rp) == ("2/2", "Running")


def test_not_ready_container_keeps_the_pod_unready() -> None:
    """A failing readiness probe: Running but Ready False naming the container."""
    rp = RP(containers={"app0": running("app0", ready=False)})
    status = pod_status(pod(), rp, None, NOW, "")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["message"] == \
        "containers with unready status: [app0]"
    assert column(pod(), rp) == ("0/1", "Running")


def test_init_containers_progress_through_the_status_column() -> None:
    """Two init containers: Init:0/2, Init:1/2, PodInitializing, then Running."""
    p = pod(init=2, apps=2)
    creating = ContainerState("init0", True, "u1-init0", "waiting", reason="ContainerCreating")
    assert column(p, RP(containers={"init0": creating})) == ("0/2", "Init:0/2")
    first = RP(containers={"init0": running("init0", True)})
    assert column(p, first) == ("0/2", "Init:0/2")
    assert pod_status(p, first, None, NOW, "")["phase"] == "Pending"
    second = RP(containers={"init0": exited("init0", 0, True),
                            "init1": running("init1", True)})
    assert column(p, second) == ("0/2", "Init:1/2")
    done = RP(containers={"init0": exited("init0", 0, True), "init1": exited("init1", 0, True)})
    assert column(p, done) == ("0/2", "PodInitializing")
    status = pod_status(p, done, None, NOW, "")
    assert cond(status, "Initialized") == "True"
    assert [s["name"] for s in status["initContainerStatuses"]] == ["init0", "init1"]
    apps = RP(containers={**done.containers, "app0": running("app0"), "app1": running("app1")})
    assert column(p, apps) == ("2/2", "Running")


def test_a_failing_init_container_with_never_fails_the_pod() -> None:
    """restartPolicy Never: an init container exiting 1 makes the pod Failed (Init:Error)."""
    p = pod(init=2, policy="Never")
    rp = RP(alive=False, stage1=Stage1State(10, 1, T0, "Failed", "init0 failed"),
            containers={"init0": exited("init0", 1, True)})
    status = pod_status(p, rp, None, NOW, "")
    assert status["phase"] == "Failed" and cond(status, "Initialized") == "False"
    assert column(p, rp)[1] == "Init:Error"
    no_verdict = RP(containers={"init0": exited("init0", 1, True)})
    assert pod_status(p, no_verdict, None, NOW, "")["phase"] == "Failed"


def test_never_pods_complete_or_fail() -> None:
    """Exit 0 with Never: Succeeded / Completed; exit 1: Failed / Error."""
    ok = RP(alive=False, stage1=Stage1State(10, 1, T0, "Succeeded"),
            containers={"app0": exited("app0", 0)})
    status = pod_status(pod(policy="Never"), ok, None, NOW, "")
    assert status["phase"] == "Succeeded"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "PodCompleted"
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["finishedAt"] == "2026-11-26T11:59:01Z"
    assert column(pod(policy="Never"), ok) == ("0/1", "Completed")
    bad = RP(containers={"app0": exited("app0", 1)})
    assert pod_status(pod(policy="Never"), bad, None, NOW, "")["phase"] == "Failed"
    assert column(pod(policy="Never"), bad)[1] == "Error"
    assert pod_status(pod(policy="OnFailure"), bad, None, NOW, "")["phase"] == "Running"


def test_crash_loop_back_off() -> None:
    """A container waiting to restart: CrashLoopBackOff, restarts and lastState shown."""
    state = ContainerState("app0", False, "u1-app0", "waiting", restart_count=3,
                           reason="CrashLoopBackOff", message="back-off 40s",
                           last_terminated=TerminatedState(2, "Error", started_at=T0,
                                                           finished_at=T0 + 5))
    rp = RP(containers={"app0": state})
    status = pod_status(pod(), rp, None, NOW, "")
    cs = status["containerStatuses"][0]
    assert status["phase"] == "Running"
    assert cs["restartCount"] == 3 and cs["lastState"]["terminated"]["exitCode"] == 2
    assert column(pod(), rp) == ("0/1", "CrashLoopBackOff")


def test_a_dead_stage1_shows_no_running_container() -> None:
    """After a reboot the recorded 'running' containers are not running."""
    rp = RP(alive=False, containers={"app0": running("app0")})
    cs = pod_status(pod(), rp, None, NOW, "")["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}} and not cs["ready"]


def test_the_status_is_stable_once_written() -> None:
    """Computing again later changes nothing (no write loop): times come from the old status."""
    p = pod(init=1)
    rp = RP(containers={"init0": exited("init0", 0, True), "app0": running("app0")})
    first = pod_status(p, rp, None, NOW, "10.0.0.5")
    again = pod_status(dict(p, status=first), rp, None, NOW + timedelta(minutes=5), "10.0.0.5")
    assert again == first


def test_a_condition_keeps_its_transition_time_until_it_changes() -> None:
    """lastTransitionTime moves only when the condition's status does."""
    p = pod()
    before = pod_status(p, RP(containers={"app0": running("app0", ready=False)}), None,
                        NOW, "")
    later = NOW + timedelta(minutes=1)
    after = pod_status(dict(p, status=before), RP(containers={"app0": running("app0")}),
                       None, later, "")
    times = {c["type"]: c["lastTransitionTime"] for c in after["conditions"]}
    assert times["Ready"] == "2026-11-26T12:01:00Z"
    assert times["PodScheduled"] == "2026-11-26T12:00:00Z"


def test_image_id_names_the_repository_and_digest() -> None:
    """A started container shows imageID repository@digest, as containerd reports it."""
    digest = "sha256:" + "ab" * 32
    rp = RP(containers={"app0": running("app0")}, image_digests={"app0": digest})
    status = pod_status(pod(), rp, None, NOW, "10.0.0.5")
    assert status["containerStatuses"][0]["imageID"] == f"docker.io/library/busybox@{digest}"
    waiting = pod_status(pod(), RP(image_digests={"app0": digest}), None, NOW, "10.0.0.5")
    assert waiting["containerStatuses"][0]["imageID"] == ""
