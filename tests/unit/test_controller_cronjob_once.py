"""The CronJob controller's at-most-once promise: a crash between recording a run and
creating its Job, after the create, or two leaders on one snapshot, never gives two Jobs
for one scheduled time nor loses a recorded one."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from test_controller_cronjob import KEY, T0, Cluster, name_at, new_cron

from minikube13.controllers import cronjob as cron
from minikube13.controllers.actions import CreateObject, ObjectRef
from minikube13.controllers.job import timestamp


def test_crash_between_status_write_and_create_creates_exactly_one_job() -> None:
    """The daemon dies after recording 12:00 but before creating the Job: on restart the
    Job hello-29539440 is created, once."""
    cluster = Cluster()
    new_cron(cluster)
    actions = cron.reconcile(KEY, cluster.view, T0)
    cluster.apply(actions, T0, limit=1)  # only the status write happened
    assert cluster.jobs() == {}
    assert cluster.cron_job()["status"]["lastScheduleTime"] == timestamp(T0)
    restarted = cluster.step(T0 + timedelta(seconds=40))
    creates = [a for a in restarted if isinstance(a, CreateObject)]
    assert [c.obj["metadata"]["name"] for c in creates] == [name_at(T0)]
    assert cluster.created == [name_at(T0)]
    for second in range(41, 60):
        cluster.step(T0 + timedelta(seconds=second))
    assert cluster.created == [name_at(T0)]


def test_crash_after_the_create_makes_no_second_job() -> None:
    """The daemon dies right after creating the Job: nothing more is created on restart."""
    cluster = Cluster()
    new_cron(cluster)
    cluster.apply(cron.reconcile(KEY, cluster.view, T0), T0, limit=2)
    restarted = cluster.step(T0 + timedelta(seconds=40))
    assert not any(isinstance(a, CreateObject) for a in restarted)
    assert cluster.created == [name_at(T0)]


def test_two_controllers_on_one_snapshot_create_one_job() -> None:
    """Two leaders deciding from the same view: the second status write conflicts, so
    only one Job exists."""
    cluster = Cluster()
    new_cron(cluster)
    first = cron.reconcile(KEY, cluster.view, T0)
    second = cron.reconcile(KEY, cluster.view, T0 + timedelta(seconds=1))
    assert cluster.apply(first, T0)
    assert not cluster.apply(second, T0)
    assert cluster.created == [name_at(T0)]


def test_job_deleted_by_hand_is_not_recreated() -> None:
    """Deleting a CronJob's running Job removes it from status.active; no new copy."""
    cluster = Cluster()
    new_cron(cluster)
    cluster.step(T0)
    cluster.step(T0 + timedelta(seconds=1))
    cluster.view.remove_key(ObjectRef("jobs", "ns", name_at(T0)))
    cluster.step(T0 + timedelta(seconds=2))
    assert "active" not in cluster.cron_job()["status"]
    assert cluster.created == [name_at(T0)]


@settings(max_examples=40, deadline=None)
@given(policy=st.sampled_from(["Allow", "Forbid", "Replace"]),
       steps=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 4), st.booleans()),
                      min_size=1, max_size=25))
def test_at_most_once_whatever_the_crashes(
        policy: str, steps: list[tuple[int, int, bool]]) -> None:
    """Crashing after any action of any reconcile never gives two runs of one time, never
    loses a recorded run, only creates Jobs for scheduled times, and Forbid/Replace never
    have two Jobs running."""
    cluster = Cluster()
    new_cron(cluster, schedule="*/2 * * * *", successfulJobsHistoryLimit=100,
             concurrencyPolicy=policy)
    now = T0
    for seconds, crash_after, finish in steps:
        now += timedelta(seconds=seconds)
        cluster.apply(cron.reconcile(KEY, cluster.view, now), now, limit=crash_after)
        running = [n for n, j in cluster.jobs().items() if not j.get("status")]
        if policy != "Allow":
            assert len(running) <= 1
        if finish and running:
            cluster.finish(running[0], "Complete", now)
    cluster.step(now)
    assert len(cluster.created) == len(set(cluster.created))
    for name in cluster.created:
        at = cron.scheduled_time_of("hello", name)
        assert at is not None and at.minute % 2 == 0 and at <= now
    last = cluster.cron_job().get("status", {}).get("lastScheduleTime")
    if last:
        assert name_at(datetime.fromisoformat(last.replace("Z", "+00:00"))) in cluster.jobs()


def test_job_names_round_trip() -> None:
    """A Job name stands for its scheduled time, like Kubernetes' getJobName."""
    assert cron.job_name("hello", T0) == "hello-29539440"
    assert cron.scheduled_time_of("hello", "hello-29539440") == T0
    assert cron.scheduled_time_of("hello", "other-29539440") is None


def test_croniter_is_loaded_only_when_needed() -> None:
    """Importing the controllers does not load croniter (the idle daemon stays small)."""
    import subprocess
    import sys
    code = ("import sys, minikube13.controllers.cronjob, minikube13.controllers.job; "
            "assert 'croniter' not in sys.modules, 'croniter imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)
