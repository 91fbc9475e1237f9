"""The CronJob (ScheduledJob) controller's pure core: when Jobs start, concurrency policies,
deadlines, catch-up, time zones and history limits (at-most-once: test_controller_cronjob_once)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.controllers import cronjob as cron
from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    RecordEvent,
    ReplaceStatus,
)
from minikube13.controllers.job import timestamp
from minikube13.controllers.object_cache import ObjectCache
from minikube13.model.groups.batch_cronjob import default_cron_job

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # a */5 schedule time; 29539440 minutes
KEY = ObjectRef("cronjobs", "ns", "hello")


class Conflict(Exception):
    """What the registry answers a stale resourceVersion or an unwanted AlreadyExists."""


@dataclass
class Cluster:
    """A tiny in-memory apiserver that takes actions in order and stops at the first
    failure, like the runner."""

    view: ObjectCache = field(default_factory=ObjectCache)
    serial: int = 0
    events: list[tuple[str, str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def add(self, storage: str, obj: dict[str, Any], now: datetime = T0) -> dict[str, Any]:
        self.serial += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(self.serial)
        meta.setdefault("creationTimestamp", timestamp(now))
        self.view.put(storage, obj)
        return obj

    def apply(self, actions: Sequence[Action], now: datetime = T0, limit: int | None = None) -> bool:
        """Take the first `limit` actions (all by default); False at a failure."""
        try:
            for action in actions[:limit]:
                self._take(action, now)
        except Conflict:
            return False
        return True

    def _take(self, action: Action, now: datetime) -> None:
        if isinstance(action, CreateObject):
            name = action.obj["metadata"]["name"]
            if self.view.get(ObjectRef(action.storage, action.namespace, name)) is not None:
                if action.exists_ok:
                    return
                raise Conflict(name)
            self.created.append(name)
            self.add(action.storage, copy.deepcopy(action.obj), now)
        elif isinstance(action, ReplaceStatus):
            obj = copy.deepcopy(self.view.get(action.ref))
            assert obj is not None
            if action.resource_version and action.resource_version != \
                    obj["metadata"]["resourceVersion"]:
                raise Conflict(action.ref.name)
            obj["status"] = copy.deepcopy(action.status)
            self.serial += 1
            obj["metadata"]["resourceVersion"] = str(self.serial)
            self.view.put(action.ref.storage, obj)
        elif isinstance(action, DeleteObject):
            self.view.remove_key(action.ref.key)
        elif isinstance(action, RecordEvent):
            self.events.append((action.type, action.reason, action.message))

    def step(self, now: datetime) -> list[Action]:
        actions = cron.reconcile(KEY, self.view, now)
        self.apply(actions, now)
        return actions

    def cron_job(self) -> dict[str, Any]:
        found = self.view.get(KEY)
        assert found is not None
        return found

    def jobs(self) -> dict[str, dict[str, Any]]:
        return {j["metadata"]["name"]: j for j in self.view.objects("jobs", "ns")}

    def finish(self, name: str, kind: str, at: datetime) -> None:
        job = copy.deepcopy(self.jobs()[name])
        job["status"] = {"startTime": job["metadata"]["creationTimestamp"],
                         "conditions": [{"type": kind, "status": "True"}]}
        if kind == "Complete":
            job["status"]["completionTime"] = timestamp(at)
        self.view.put("jobs", job)

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


def new_cron(cluster: Cluster, schedule: str = "*/5 * * * *",
             created: datetime = T0 - timedelta(minutes=2), **spec: Any) -> dict[str, Any]:
    obj = {"apiVersion": "batch/v1", "kind": "CronJob",
           "metadata": {"name": "hello", "namespace": "ns", "uid": "cron-uid",
                        "creationTimestamp": timestamp(created)},
           "spec": {"schedule": schedule, "jobTemplate": {
               "metadata": {"labels": {"app": "hello"}},
               "spec": {"template": {"spec": {"restartPolicy": "OnFailure", "containers": [
                   {"name": "hello", "image": "busybox"}]}}}}, **spec}}
    return cluster.add("cronjobs", default_cron_job(obj), created)


def name_at(at: datetime) -> str:
    return f"hello-{int(at.timestamp()) // 60}"


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def test_first_run_records_the_decision_then_creates_the_job() -> None:
    """At 12:00 the Job hello-29539440 appears, owned by the CronJob, annotated with its time."""
    cluster = Cluster()
    new_cron(cluster)
    actions = cluster.step(T0 + timedelta(seconds=10))
    assert kinds(actions) == ["ReplaceStatus", "CreateObject", "RecordEvent"]
    status = actions[0]
    assert isinstance(status, ReplaceStatus) and status.resource_version == "1"
    assert status.status["lastScheduleTime"] == "2026-03-01T12:00:00Z"
    assert status.status["active"] == [{"apiVersion": "batch/v1", "kind": "Job",
                                        "name": "hello-29539440", "namespace": "ns"}]
    create = actions[1]
    assert isinstance(create, CreateObject) and create.exists_ok
    meta = create.obj["metadata"]
    assert meta["name"] == "hello-29539440" == name_at(T0)
    assert meta["labels"] == {"app": "hello"}
    assert meta["annotations"][cron.SCHEDULED_ANNOTATION] == "2026-03-01T12:00:00Z"
    assert meta["ownerReferences"] == [{"apiVersion": "batch/v1", "kind": "CronJob",
                                        "name": "hello", "uid": "cron-uid",
                                        "controller": True, "blockOwnerDeletion": True}]
    assert create.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    assert ("Normal", "SuccessfulCreate", "Created job hello-29539440") in cluster.events
    # The next look sees the Job: its reference gets the uid, nothing is created.
    again = cluster.step(T0 + timedelta(seconds=20))
    assert kinds(again) == ["ReplaceStatus"]
    assert cluster.cron_job()["status"]["active"][0]["uid"] == "uid-hello-29539440"
    assert cluster.step(T0 + timedelta(seconds=30)) == []


def test_nothing_before_the_first_schedule_time_and_requeue_at_the_next() -> None:
    """Created at 11:58 and looked at 11:59: no Job yet; the runner is told to come back
    at 12:00."""
    cluster = Cluster()
    new_cron(cluster)
    now = T0 - timedelta(minutes=1)
    assert cluster.step(now) == []
    assert cron.requeue_after(cluster.cron_job(), now) == timedelta(minutes=1)
    assert cron.requeue_after(cluster.cron_job(), T0 + timedelta(seconds=10)) == \
        timedelta(minutes=4, seconds=50)


def test_allow_keeps_both_jobs_running() -> None:
    """concurrencyPolicy Allow: the 12:05 Job starts while the 12:00 one still runs."""
    cluster = Cluster()
    new_cron(cluster, concurrencyPolicy="Allow")
    cluster.step(T0)
    cluster.step(T0 + timedelta(minutes=5))
    assert set(cluster.jobs()) == {name_at(T0), name_at(T0 + timedelta(minutes=5))}
    cluster.step(T0 + timedelta(minutes=5, seconds=1))
    active = cluster.cron_job()["status"]["active"]
    assert [r["name"] for r in active] == sorted(cluster.jobs())
    assert all(r.get("uid") for r in active)


def test_forbid_skips_while_a_job_runs() -> None:
    """concurrencyPolicy Forbid: no second Job (event JobAlreadyActive); once the first
    finishes the missed run starts."""
    cluster = Cluster()
    new_cron(cluster, concurrencyPolicy="Forbid")
    cluster.step(T0)
    later = T0 + timedelta(minutes=5)
    actions = cluster.step(later)
    assert not any(isinstance(a, CreateObject) for a in actions)
    assert "JobAlreadyActive" in cluster.reasons()
    assert cluster.cron_job()["status"]["lastScheduleTime"] == timestamp(T0)
    cluster.finish(name_at(T0), "Complete", later + timedelta(seconds=30))
    cluster.step(later + timedelta(seconds=40))
    assert name_at(later) in cluster.jobs()
    status = cluster.cron_job()["status"]
    assert status["lastSuccessfulTime"] == timestamp(later + timedelta(seconds=30))
    assert [r["name"] for r in status["active"]] == [name_at(later)]


def test_replace_deletes_the_old_job_first() -> None:
    """concurrencyPolicy Replace: the running Job is deleted (background) before the new
    one is recorded and created."""
    cluster = Cluster()
    new_cron(cluster, concurrencyPolicy="Replace")
    cluster.step(T0)
    cluster.step(T0 + timedelta(seconds=1))
    later = T0 + timedelta(minutes=5)
    actions = cluster.step(later)
    assert kinds(actions)[:3] == ["DeleteObject", "ReplaceStatus", "CreateObject"]
    delete = actions[0]
    assert isinstance(delete, DeleteObject) and delete.policy == "Background"
    assert delete.ref.name == name_at(T0)
    assert set(cluster.jobs()) == {name_at(later)}
    assert ("Normal", "SuccessfulDelete", f"Deleted job {name_at(T0)}") in cluster.events


def test_suspend_starts_nothing_and_leaves_running_jobs() -> None:
    """spec.suspend: no new Job at 12:05, the 12:00 one keeps running, no requeue."""
    cluster = Cluster()
    new_cron(cluster)
    cluster.step(T0)
    suspended = copy.deepcopy(cluster.cron_job())
    suspended["spec"]["suspend"] = True
    cluster.view.put("cronjobs", suspended)
    actions = cluster.step(T0 + timedelta(minutes=5))
    assert not any(isinstance(a, CreateObject | DeleteObject) for a in actions)
    assert set(cluster.jobs()) == {name_at(T0)}
    assert cron.requeue_after(cluster.cron_job(), T0 + timedelta(minutes=5)) is None


def test_deadline_missed_skips_with_miss_schedule() -> None:
    """Looked at 30s after 12:00 with startingDeadlineSeconds 10: no Job, event MissSchedule."""
    cluster = Cluster()
    new_cron(cluster, startingDeadlineSeconds=10)
    actions = cluster.step(T0 + timedelta(seconds=30))
    assert not any(isinstance(a, CreateObject | ReplaceStatus) for a in actions)
    assert ("Warning", "MissSchedule", "Missed scheduled time to start a job: "
            "Sun, 01 Mar 2026 12:00:00 +0000") in cluster.events
    assert cluster.jobs() == {}


def test_catch_up_after_downtime_starts_only_the_latest_missed_run() -> None:
    """Down from 12:01 to 12:17 without a deadline: one Job, for 12:15."""
    cluster = Cluster()
    new_cron(cluster)
    cluster.step(T0)
    cluster.finish(name_at(T0), "Complete", T0 + timedelta(seconds=30))
    cluster.step(T0 + timedelta(minutes=17))
    latest = T0 + timedelta(minutes=15)
    assert set(cluster.jobs()) == {name_at(T0), name_at(latest)}
    assert cluster.cron_job()["status"]["lastScheduleTime"] == timestamp(latest)


def test_catch_up_within_the_deadline_runs() -> None:
    """Back at 12:17 with startingDeadlineSeconds 300: 12:15 is within it, so it runs."""
    cluster = Cluster()
    new_cron(cluster, startingDeadlineSeconds=300)
    cluster.step(T0)
    cluster.step(T0 + timedelta(minutes=17))
    assert name_at(T0 + timedelta(minutes=15)) in cluster.jobs()


def test_catch_up_beyond_the_deadline_is_skipped() -> None:
    """Back at 12:17 with startingDeadlineSeconds 60: 12:15 is too late (MissSchedule);
    12:20 runs on time."""
    cluster = Cluster()
    new_cron(cluster, startingDeadlineSeconds=60)
    cluster.step(T0)
    cluster.step(T0 + timedelta(minutes=17))
    assert set(cluster.jobs()) == {name_at(T0)}
    assert "MissSchedule" in cluster.reasons()
    cluster.step(T0 + timedelta(minutes=20, seconds=5))
    assert name_at(T0 + timedelta(minutes=20)) in cluster.jobs()


def test_more_than_100_missed_times_warns_and_runs_the_latest() -> None:
    """Every-minute schedule missed for 200 minutes: Warning TooManyMissedTimes, one Job."""
    cluster = Cluster()
    new_cron(cluster, schedule="* * * * *", created=T0 - timedelta(minutes=200))
    cluster.step(T0 + timedelta(seconds=5))
    warning = [e for e in cluster.events if e[1] == "TooManyMissedTimes"]
    assert warning == [("Warning", "TooManyMissedTimes", "too many missed start times: 200. "
                        "Set or decrease .spec.startingDeadlineSeconds or check clock skew")]
    assert list(cluster.jobs()) == [name_at(T0)]


def test_a_deadline_bounds_the_missed_times_counted() -> None:
    """With startingDeadlineSeconds the long outage gives no TooManyMissedTimes warning."""
    cluster = Cluster()
    new_cron(cluster, schedule="* * * * *", created=T0 - timedelta(minutes=200),
             startingDeadlineSeconds=120)
    cluster.step(T0 + timedelta(seconds=5))
    assert "TooManyMissedTimes" not in cluster.reasons()
    assert list(cluster.jobs()) == [name_at(T0)]


def test_finished_job_leaves_active_with_an_event() -> None:
    """A completed Job leaves status.active; lastSuccessfulTime shows when it finished."""
    cluster = Cluster()
    new_cron(cluster)
    cluster.step(T0)
    cluster.step(T0 + timedelta(seconds=1))
    cluster.finish(name_at(T0), "Complete", T0 + timedelta(minutes=1))
    cluster.step(T0 + timedelta(minutes=1, seconds=5))
    status = cluster.cron_job()["status"]
    assert "active" not in status
    assert status["lastSuccessfulTime"] == timestamp(T0 + timedelta(minutes=1))
    assert ("Normal", "SawCompletedJob", f"Saw completed job: {name_at(T0)}, condition: "
            "Complete") in cluster.events


def test_time_zone_field() -> None:
    """`0 9 * * *` with timeZone Europe/Paris runs at 08:00 UTC in March, annotated +01:00."""
    cluster = Cluster()
    new_cron(cluster, schedule="0 9 * * *", timeZone="Europe/Paris",
             created=datetime(2026, 2, 28, 20, 0, tzinfo=UTC))
    assert cluster.step(datetime(2026, 3, 1, 7, 59, tzinfo=UTC)) == []
    at = datetime(2026, 3, 1, 8, 0, 30, tzinfo=UTC)
    actions = cluster.step(at)
    create = next(a for a in actions if isinstance(a, CreateObject))
    assert create.obj["metadata"]["name"] == name_at(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    assert create.obj["metadata"]["annotations"][cron.SCHEDULED_ANNOTATION] == \
        "2026-03-01T09:00:00+01:00"
    assert cron.requeue_after(cluster.cron_job(), at) == timedelta(hours=23, minutes=59,
                                                                    seconds=30)


def test_time_zone_follows_daylight_saving() -> None:
    """09:00 Paris time is 08:00 UTC before the March change and 07:00 UTC after it."""
    cluster = Cluster()
    new_cron(cluster, schedule="0 9 * * *", timeZone="Europe/Paris",
             created=datetime(2026, 3, 28, 9, 0, tzinfo=UTC))
    after = datetime(2026, 3, 29, 7, 0, 10, tzinfo=UTC)
    cluster.step(after)
    assert list(cluster.jobs()) == [name_at(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))]
    job = cluster.jobs()[name_at(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))]
    assert job["metadata"]["annotations"][cron.SCHEDULED_ANNOTATION] == \
        "2026-03-29T09:00:00+02:00"


def test_time_zone_prefix_in_schedule() -> None:
    """`CRON_TZ=America/New_York 30 6 * * *` runs at 11:30 UTC in winter."""
    cluster = Cluster()
    new_cron(cluster, schedule="CRON_TZ=America/New_York 30 6 * * *",
             created=datetime(2026, 2, 28, 20, 0, tzinfo=UTC))
    assert cluster.step(datetime(2026, 3, 1, 11, 29, tzinfo=UTC)) == []
    cluster.step(datetime(2026, 3, 1, 11, 31, tzinfo=UTC))
    assert list(cluster.jobs()) == [name_at(datetime(2026, 3, 1, 11, 30, tzinfo=UTC))]


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    """Keep 2 successful and 1 failed finished Job; older ones are deleted, running ones stay."""
    cluster = Cluster()
    new_cron(cluster, successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1)
    now = T0
    for run in range(7):
        now = T0 + timedelta(minutes=5 * run)
        cluster.step(now)
        kind = "Failed" if run in (1, 3) else "Complete"
        if run < 6:
            cluster.finish(name_at(now), kind, now + timedelta(minutes=1))
    cluster.step(now + timedelta(seconds=30))
    kept = sorted(cluster.jobs())
    runs = [name_at(T0 + timedelta(minutes=5 * r)) for r in range(7)]
    assert kept == sorted([runs[3], runs[4], runs[5], runs[6]])


def test_missing_or_deleting_cron_job_does_nothing() -> None:
    """A CronJob that is gone, or being deleted, starts no Job."""
    cluster = Cluster()
    assert cron.reconcile(KEY, cluster.view, T0) == []
    new_cron(cluster)
    cluster.apply(cron.reconcile(KEY, cluster.view, T0), T0, limit=1)  # a pending create
    obj = cluster.cron_job()
    obj["metadata"]["deletionTimestamp"] = timestamp(T0)
    assert cron.reconcile("ns/hello", cluster.view, T0) == []


def test_decide_is_pure() -> None:
    """decide alone: Replace names the active Jobs to delete and the time to start."""
    obj = default_cron_job({"metadata": {"name": "hello", "creationTimestamp":
                                         timestamp(T0 - timedelta(minutes=2))},
                            "spec": {"schedule": "*/5 * * * *",
                                     "concurrencyPolicy": "Replace"}})
    running = {"metadata": {"name": "old", "uid": "u1"}}
    decision = cron.decide(obj, [running], T0)
    assert decision == cron.CronDecision(T0, (running,), (), T0 + timedelta(minutes=5))


def test_runner_requeue_hook() -> None:
    """The runner is told to come back at the next run, in seconds (nothing for no object)."""
    cluster = Cluster()
    assert cron.requeue_seconds(KEY, cluster.view, T0) is None
    new_cron(cluster)
    assert cron.requeue_seconds(KEY, cluster.view, T0 + timedelta(seconds=10)) == 290.0
