"""The Job controller's pure core: pods run to completion, failures, deadlines, suspend."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from minikube13.controllers import job as jobc
from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    RecordEvent,
    ReplaceStatus,
)
from minikube13.controllers.object_cache import ObjectCache
from minikube13.model.groups.batch import CONTROLLER_UID, JOB_NAME, default_job

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = ObjectRef("jobs", "ns", "pi")


@dataclass
class Cluster:
    """A tiny in-memory apiserver: applies actions in order, like the runner."""

    view: ObjectCache = field(default_factory=ObjectCache)
    serial: int = 0
    events: list[tuple[str, str]] = field(default_factory=list)

    def add(self, storage: str, obj: dict[str, Any], now: datetime = T0) -> dict[str, Any]:
        self.serial += 1
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = f"{meta['generateName']}{self.serial:05d}"
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(self.serial)
        meta.setdefault("creationTimestamp", jobc.timestamp(now))
        self.view.put(storage, obj)
        return obj

    def apply(self, actions: Sequence[Action], now: datetime = T0) -> None:
        for action in actions:
            if isinstance(action, CreateObject):
                self.add(action.storage, copy.deepcopy(action.obj), now)
            elif isinstance(action, ReplaceStatus):
                obj = copy.deepcopy(self.view.get(action.ref))
                assert obj is not None
                rv = obj["metadata"]["resourceVersion"]
                assert not action.resource_version or action.resource_version == rv
                obj["status"] = copy.deepcopy(action.status)
                self.serial += 1
                obj["metadata"]["resourceVersion"] = str(self.serial)
                self.view.put(action.ref.storage, obj)
            elif isinstance(action, DeleteObject):
                self.view.remove_key(action.ref.key)
            elif isinstance(action, RecordEvent):
                self.events.append((action.reason, action.message))

    def pods(self) -> list[dict[str, Any]]:
        return self.view.objects("pods", "ns")

    def job(self) -> dict[str, Any]:
        job = self.view.get(KEY)
        assert job is not None
        return job

    def step(self, now: datetime = T0) -> list[Action]:
        actions = jobc.reconcile(KEY, self.view, now)
        self.apply(actions, now)
        return actions

    def finish(self, pod: dict[str, Any], phase: str) -> None:
        pod = copy.deepcopy(pod)
        pod["status"] = {"phase": phase}
        self.view.put("pods", pod)


def new_job(cluster: Cluster, **spec: Any) -> dict[str, Any]:
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "pi", "namespace": "ns", "uid": "job-uid"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "pi", "image": "perl"}]}},
                    **spec}}
    return cluster.add("jobs", default_job(job))


def active(cluster: Cluster) -> list[dict[str, Any]]:
    return [p for p in cluster.pods() if (p.get("status") or {}).get("phase")
            not in ("Succeeded", "Failed")]


def cond(job: dict[str, Any], kind: str) -> dict[str, Any]:
    found = jobc.condition(job, kind)
    assert found is not None, f"no {kind} condition in {job.get('status')}"
    return found


def test_completions_five_parallelism_two_reaches_five_succeeded() -> None:
    """`kubectl get jobs` shows 5/5 after pods finish two at a time; never more than 2 run."""
    cluster = Cluster()
    new_job(cluster, completions=5, parallelism=2)
    now = T0
    for _ in range(10):
        cluster.step(now)
        running = active(cluster)
        assert len(running) <= 2
        for pod in running[:1]:
            cluster.finish(pod, "Succeeded")
        now += timedelta(seconds=10)
    status = cluster.job()["status"]
    assert status["succeeded"] == 5
    assert "active" not in status
    assert cond(cluster.job(), "Complete")["status"] == "True"
    assert status["completionTime"] and status["startTime"] == jobc.timestamp(T0)
    assert len(cluster.pods()) == 5
    assert ("Completed", "Job completed") in cluster.events
    assert cluster.step(now) == []  # finished: nothing more


def test_pods_come_from_the_template_and_are_owned_by_the_job() -> None:
    """The Job's pods are named `pi-xxxxx`, carry the job-name labels and are owned by it."""
    cluster = Cluster()
    new_job(cluster, completions=3, parallelism=3)
    actions = cluster.step()
    creates = [a for a in actions if isinstance(a, CreateObject)]
    assert len(creates) == 3
    pod = creates[0].obj
    assert pod["metadata"]["generateName"] == "pi-"
    assert pod["metadata"]["labels"][CONTROLLER_UID] == "job-uid"
    assert pod["metadata"]["labels"][JOB_NAME] == "pi"
    assert pod["metadata"]["ownerReferences"] == [{
        "apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "job-uid",
        "controller": True, "blockOwnerDeletion": True}]
    assert pod["spec"]["containers"][0]["image"] == "perl"
    assert cluster.job()["status"]["active"] == 3
    assert cluster.job()["status"]["ready"] == 0


def test_a_steady_job_writes_no_status() -> None:
    """Reconciling an unchanged running Job asks for nothing (no status churn)."""
    cluster = Cluster()
    new_job(cluster, completions=2, parallelism=2)
    cluster.step()
    assert cluster.step(T0 + timedelta(seconds=5)) == []


def test_ready_pods_are_counted() -> None:
    """status.ready counts active pods whose Ready condition is True."""
    cluster = Cluster()
    new_job(cluster, completions=2, parallelism=2)
    cluster.step()
    pod = copy.deepcopy(cluster.pods()[0])
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    cluster.view.put("pods", pod)
    cluster.step()
    assert cluster.job()["status"]["ready"] == 1


def test_nil_completions_stops_at_first_success_and_lets_others_finish() -> None:
    """Work-queue Job: after one pod succeeds no new pods start; done when the rest finish."""
    cluster = Cluster()
    new_job(cluster, parallelism=3)
    job = cluster.job()
    job["spec"].pop("completions", None)
    cluster.step()
    assert len(active(cluster)) == 3
    cluster.finish(active(cluster)[0], "Succeeded")
    cluster.step()
    assert len(active(cluster)) == 2  # no replacement, nobody killed
    assert jobc.finished_as(cluster.job()) is None
    for pod in active(cluster):
        cluster.finish(pod, "Succeeded")
    cluster.step()
    assert cond(cluster.job(), "Complete")["status"] == "True"
    assert cluster.job()["status"]["succeeded"] == 3


def test_backoff_limit_fails_the_job_and_deletes_active_pods() -> None:
    """More failures than backoffLimit: Failed/BackoffLimitExceeded, running pods deleted."""
    cluster = Cluster()
    new_job(cluster, completions=4, parallelism=2, backoffLimit=1)
    cluster.step()
    cluster.finish(active(cluster)[0], "Failed")
    cluster.step()
    assert len(active(cluster)) == 2  # a replacement after one failure
    assert jobc.finished_as(cluster.job()) is None
    cluster.finish(active(cluster)[0], "Failed")
    actions = cluster.step()
    assert sum(isinstance(a, DeleteObject) for a in actions) == 1
    failed = cond(cluster.job(), "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert failed["lastTransitionTime"] == failed["lastProbeTime"] == jobc.timestamp(T0)
    assert active(cluster) == []
    assert cluster.job()["status"]["failed"] == 3
    assert "completionTime" not in cluster.job()["status"]
    assert cluster.step() == []


def test_active_deadline_fails_the_job() -> None:
    """activeDeadlineSeconds after startTime: Failed/DeadlineExceeded and pods deleted."""
    cluster = Cluster()
    new_job(cluster, completions=1, activeDeadlineSeconds=30)
    cluster.step()
    assert jobc.requeue_after(cluster.job(), T0 + timedelta(seconds=10)) == \
        timedelta(seconds=20)
    assert cluster.step(T0 + timedelta(seconds=29)) == []
    cluster.step(T0 + timedelta(seconds=30))
    failed = cond(cluster.job(), "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert cluster.pods() == [] and cluster.job()["status"]["failed"] == 1
    assert jobc.requeue_after(cluster.job(), T0 + timedelta(seconds=40)) is None


def test_suspend_deletes_pods_and_resume_starts_again() -> None:
    """Suspending removes running pods (condition Suspended); resuming starts them again."""
    cluster = Cluster()
    new_job(cluster, completions=2, parallelism=2)
    cluster.step()
    job = copy.deepcopy(cluster.job())
    job["spec"]["suspend"] = True
    cluster.view.put("jobs", job)
    cluster.step(T0 + timedelta(seconds=5))
    assert cluster.pods() == []
    status = cluster.job()["status"]
    assert cond(cluster.job(), "Suspended")["reason"] == "JobSuspended"
    assert "startTime" not in status and "active" not in status
    assert cluster.step(T0 + timedelta(seconds=6)) == []
    job = copy.deepcopy(cluster.job())
    job["spec"]["suspend"] = False
    cluster.view.put("jobs", job)
    cluster.step(T0 + timedelta(seconds=60))
    assert len(active(cluster)) == 2
    resumed = cond(cluster.job(), "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
    assert cluster.job()["status"]["startTime"] == jobc.timestamp(T0 + timedelta(seconds=60))


def test_created_suspended_job_starts_no_pods() -> None:
    """A Job created with suspend: true runs nothing until resumed."""
    cluster = Cluster()
    new_job(cluster, completions=1, suspend=True)
    actions = cluster.step()
    assert not any(isinstance(a, CreateObject) for a in actions)
    assert cond(cluster.job(), "Suspended")["status"] == "True"


def test_pods_of_others_are_ignored() -> None:
    """A pod with matching labels but another controller is not the Job's."""
    cluster = Cluster()
    job = new_job(cluster, completions=1)
    labels = job["spec"]["template"]["metadata"]["labels"]
    cluster.add("pods", {"metadata": {"name": "stray", "namespace": "ns", "labels": labels},
                         "status": {"phase": "Succeeded"}})
    cluster.step()
    assert len(active(cluster)) == 1
    assert "succeeded" not in cluster.job()["status"]


def test_missing_or_deleting_job_does_nothing() -> None:
    """A deleted Job, or one being deleted, gets no pods."""
    cluster = Cluster()
    assert jobc.reconcile(KEY, cluster.view, T0) == []
    job = new_job(cluster, completions=1)
    job["metadata"]["deletionTimestamp"] = jobc.timestamp(T0)
    assert jobc.reconcile("ns/pi", cluster.view, T0) == []


@settings(max_examples=40, deadline=None)
@given(completions=st.integers(1, 6), parallelism=st.integers(1, 4),
       finishing=st.lists(st.integers(0, 3), min_size=1, max_size=30))
def test_never_more_than_parallelism_or_completions(
        completions: int, parallelism: int, finishing: list[int]) -> None:
    """Whatever order pods finish in, at most parallelism run and exactly completions
    succeed before the Job is Complete."""
    cluster = Cluster()
    new_job(cluster, completions=completions, parallelism=parallelism)
    for n in finishing + [9] * (completions + 1):
        cluster.step()
        running = active(cluster)
        assert len(running) <= parallelism
        done = sum(1 for p in cluster.pods() if (p.get("status") or {}).get("phase") == "Succeeded")
        assert len(running) + done <= completions
        for pod in running[:n]:
            cluster.finish(pod, "Succeeded")
    cluster.step()
    assert jobc.finished_as(cluster.job()) == "Complete"
    assert cluster.job()["status"]["succeeded"] == completions


def test_a_stale_view_cannot_over_create() -> None:
    """Reconciling again before the new pods are seen asks for the same pod names, so the
    Job never runs more pods than parallelism."""
    cluster = Cluster()
    new_job(cluster, completions=4, parallelism=2)
    first = [a for a in jobc.reconcile(KEY, cluster.view, T0) if isinstance(a, CreateObject)]
    again = [a for a in jobc.reconcile(KEY, cluster.view, T0) if isinstance(a, CreateObject)]
    names = [a.obj["metadata"]["name"] for a in first]
    assert names == [a.obj["metadata"]["name"] for a in again]
    assert len(set(names)) == 2 and all(n.startswith("pi-") and len(n) == 8 for n in names)
    assert all(a.exists_ok for a in first)
    cluster.apply(first)
    cluster.finish(active(cluster)[0], "Succeeded")
    replacement = [a for a in jobc.reconcile(KEY, cluster.view, T0)
                   if isinstance(a, CreateObject)]
    assert len(replacement) == 1 and replacement[0].obj["metadata"]["name"] not in names


def test_runner_requeue_hook() -> None:
    """A Job with a deadline is looked at again when the deadline passes."""
    cluster = Cluster()
    assert jobc.requeue_seconds(KEY, cluster.view, T0) is None
    new_job(cluster, completions=1, activeDeadlineSeconds=30)
    cluster.step()
    assert jobc.requeue_seconds("ns/pi", cluster.view, T0 + timedelta(seconds=5)) == 25.0
