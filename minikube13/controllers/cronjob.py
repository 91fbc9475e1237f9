"""The CronJob controller's decisions (pure), after Kubernetes' cronjob controller v2.
batch/v2alpha1 ScheduledJob is stored as batch/v1 CronJob, so this serves both.

`decide` picks what to start now: the most recent schedule time since status.lastScheduleTime
(or the creation time) that has come, if any. More than 100 missed times give a Warning
TooManyMissedTimes (only the latest one counts); one missed by more than
startingDeadlineSeconds is skipped (Warning MissSchedule); Forbid skips while a Job is
active (JobAlreadyActive); Replace deletes the active Jobs first; suspend starts nothing.

At most once: the Job for scheduled time T is named `<cronjob>-<T in minutes since epoch>`
(Kubernetes' getJobName). `reconcile` first writes status (CAS) with lastScheduleTime = T and
a reference to that Job, without a uid, in status.active, and only then creates it
(exists_ok). A uid-less reference whose Job does not exist is a create that was decided but
may not have happened: reconcile creates it (same name, so never twice). Once the Job is
seen its reference gets the uid; a referenced Job that is gone or finished leaves
status.active. Finished Jobs beyond the history limits are deleted, oldest first.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from minikube13.controllers.actions import (
    Action,
    CreateObject,
    DeleteObject,
    ObjectRef,
    RecordEvent,
    ReplaceStatus,
    View,
    ref_of,
)
from minikube13.controllers.job import finished_as, parse, timestamp
from minikube13.model.groups.batch_cron import next_schedule_time, split_time_zone, zone_of

Object = dict[str, Any]
Event = tuple[str, str, str]  # (type, reason, message)
SOURCE = "cronjob-controller"
SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY = 100


@dataclass(frozen=True)
class CronDecision:
    """What to do now: start a Job for `scheduled_time` (after deleting `delete`), record
    `events`, and look again at `next_time`."""

    scheduled_time: datetime | None = None
    delete: tuple[Object, ...] = ()
    events: tuple[Event, ...] = ()
    next_time: datetime | None = None


# --- schedule arithmetic -----------------------------------------------------------------


def _times(schedule: str, time_zone: str | None, start: datetime) -> Any:
    zone = zone_of(schedule, time_zone, UTC)
    from croniter import croniter  # on first use: the daemon's idle memory counts
    return croniter(split_time_zone(schedule)[1], start.astimezone(zone))


def latest_schedule_time(schedule: str, time_zone: str | None, now: datetime) -> datetime:
    """The last run at or before `now` (schedules have whole-minute times)."""
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    run = _times(schedule, time_zone, start).get_prev(datetime)
    assert isinstance(run, datetime)
    return run.astimezone(UTC)


def missed_count(schedule: str, time_zone: str | None, since: datetime, now: datetime) -> int:
    """How many runs fall in (since, now]: exact up to TOO_MANY, estimated beyond (as
    Kubernetes does, from the interval between the first two)."""
    times = _times(schedule, time_zone, since)
    first = times.get_next(datetime)
    n, at = 0, first
    while at <= now:
        n += 1
        if n > TOO_MANY:
            second = _times(schedule, time_zone, first).get_next(datetime)
            return int((now - first) / (second - first)) + 1
        at = times.get_next(datetime)
    return n


def job_name(cron_job_name: str, scheduled: datetime) -> str:
    """getJobName: `<cronjob>-<scheduled time in minutes since the epoch>`."""
    return f"{cron_job_name}-{int(scheduled.timestamp()) // 60}"


def scheduled_time_of(cron_job_name: str, name: str) -> datetime | None:
    """The scheduled time a Job name of this CronJob stands for, or None."""
    match = re.fullmatch(re.escape(cron_job_name) + r"-(\d+)", name)
    return datetime.fromtimestamp(int(match.group(1)) * 60, UTC) if match else None


def rfc3339(at: datetime) -> str:
    """Go's time.RFC3339 ("Z" for UTC)."""
    text = at.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# --- the decision ------------------------------------------------------------------------


def _earliest(cron_job: Object, now: datetime) -> datetime:
    status, meta = cron_job.get("status") or {}, cron_job.get("metadata") or {}
    return parse(status.get("lastScheduleTime")) or parse(meta.get("creationTimestamp")) or now


def decide(cron_job: Object, active_jobs: list[Object], now: datetime) -> CronDecision:
    """What the CronJob should do at `now`, given its active (unfinished) Jobs."""
    spec = cron_job.get("spec") or {}
    if spec.get("suspend") or (cron_job.get("metadata") or {}).get("deletionTimestamp"):
        return CronDecision()
    schedule, zone = str(spec.get("schedule") or ""), spec.get("timeZone")
    try:
        next_time = next_schedule_time(schedule, zone, now.astimezone(UTC))
        latest = latest_schedule_time(schedule, zone, now)
    except (ValueError, KeyError) as err:
        return CronDecision(events=(("Warning", "UnparseableSchedule",
                                     f"unparseable schedule: {schedule!r} : {err}"),))
    earliest = _earliest(cron_job, now)
    if latest <= earliest:
        return CronDecision(next_time=next_time)
    events: list[Event] = []
    deadline = spec.get("startingDeadlineSeconds")
    since = earliest if deadline is None else max(earliest, now - timedelta(seconds=deadline))
    missed = missed_count(schedule, zone, since, now)
    if missed > TOO_MANY:
        events.append(("Warning", "TooManyMissedTimes", f"too many missed start times: "
                       f"{missed}. Set or decrease .spec.startingDeadlineSeconds or check "
                       "clock skew"))
    if deadline is not None and latest + timedelta(seconds=deadline) < now:
        events.append(("Warning", "MissSchedule", "Missed scheduled time to start a job: "
                       + latest.strftime("%a, %d %b %Y %H:%M:%S +0000")))
        return CronDecision(events=tuple(events), next_time=next_time)
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active_jobs:
        events.append(("Normal", "JobAlreadyActive", "Not starting job because prior "
                       "execution is running and concurrency policy is Forbid"))
        return CronDecision(events=tuple(events), next_time=next_time)
    delete = tuple(active_jobs) if policy == "Replace" else ()
    return CronDecision(latest, delete, tuple(events), next_time)


def requeue_after(cron_job: Object, now: datetime) -> timedelta | None:
    """How long until the CronJob's next scheduled run (None when suspended or broken)."""
    decision = decide(cron_job, [], now)
    return None if decision.next_time is None else max(timedelta(0), decision.next_time - now)


# --- Jobs ---------------------------------------------------------------------------------


def job_from_template(cron_job: Object, scheduled: datetime) -> Object:
    """getJobFromTemplate2: the template's labels, annotations and spec, the deterministic
    name, the scheduled-timestamp annotation and the CronJob as controller owner."""
    meta, spec = cron_job.get("metadata") or {}, cron_job.get("spec") or {}
    template = spec.get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    zone = spec.get("timeZone")
    local = scheduled.astimezone(zone_of("", zone, UTC))
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_ANNOTATION] = rfc3339(local)
    job_meta: Object = {
        "name": job_name(meta.get("name", ""), scheduled),
        "namespace": meta.get("namespace") or "",
        "annotations": annotations,
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob",
                             "name": meta.get("name"), "uid": meta.get("uid"),
                             "controller": True, "blockOwnerDeletion": True}]}
    if tmeta.get("labels"):
        job_meta["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": job_meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def owned_jobs(cron_job: Object, view: View) -> list[Object]:
    meta = cron_job.get("metadata") or {}
    uid = str(meta.get("uid") or "")
    if not uid:
        return []
    return [j for ref, j in view.dependents(uid) if ref.storage == "jobs"
            and any(o.get("uid") == uid and o.get("controller")
                   for o in (j.get("metadata") or {}).get("ownerReferences") or [])]


def job_ref(job: Object) -> Object:
    meta = job.get("metadata") or {}
    ref = {"apiVersion": "batch/v1", "kind": "Job", "name": meta.get("name", ""),
           "namespace": meta.get("namespace") or ""}
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    return ref


# --- reconcile ----------------------------------------------------------------------------


@dataclass
class _State:
    """What reconcile found: the CronJob's Jobs by name, and the status it is building."""

    cron_job: Object
    jobs: dict[str, Object]
    status: Object
    events: list[Event]


def _key(key: ObjectRef | str) -> ObjectRef:
    if isinstance(key, ObjectRef):
        return ObjectRef("cronjobs", key.namespace, key.name)
    namespace, _, name = key.rpartition("/")
    return ObjectRef("cronjobs", namespace, name)


def _is_active(job: Object) -> bool:
    return finished_as(job) is None and not (job.get("metadata") or {}).get("deletionTimestamp")


def _observe(cron_job: Object, jobs: list[Object]) -> _State:
    """status.active from what exists (pending creates kept), lastSuccessfulTime, and the
    SawCompletedJob events."""
    status = dict(cron_job.get("status") or {})
    by_name = {(j.get("metadata") or {}).get("name", ""): j for j in jobs}
    state = _State(cron_job, by_name, status, [])
    listed = {r.get("name"): r for r in status.get("active") or []}
    refs = [job_ref(j) for j in jobs if _is_active(j)]
    refs += [r for name, r in listed.items() if not r.get("uid") and name not in by_name]
    for name in listed:
        job = by_name.get(name)
        if job is not None and finished_as(job) is not None:
            state.events.append(("Normal", "SawCompletedJob", f"Saw completed job: {name}, "
                                 f"condition: {finished_as(job)}"))
    _set(status, "active", sorted(refs, key=lambda r: str(r.get("name"))))
    success = [t for t in (parse((j.get("status") or {}).get("completionTime"))
                           for j in jobs if finished_as(j) == "Complete") if t is not None]
    last = parse(status.get("lastSuccessfulTime"))
    if success and (last is None or max(success) > last):
        status["lastSuccessfulTime"] = timestamp(max(success))
    return state


def _set(status: Object, key: str, value: Any) -> None:
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def _pending(state: _State) -> list[Object]:
    """References of Jobs decided on (status written) but not seen to exist."""
    return [r for r in state.status.get("active") or [] if not r.get("uid")]


def _create(state: _State, name: str) -> list[Action]:
    cron_job = state.cron_job
    scheduled = scheduled_time_of((cron_job.get("metadata") or {}).get("name", ""), name)
    if scheduled is None:
        return []
    job = job_from_template(cron_job, scheduled)
    return [CreateObject("jobs", job["metadata"]["namespace"], job, exists_ok=True),
            _event(cron_job, ("Normal", "SuccessfulCreate", f"Created job {name}"))]


def _event(cron_job: Object, event: Event) -> RecordEvent:
    return RecordEvent(ref_of("cronjobs", cron_job), "CronJob", *event, source=SOURCE)


def _start(state: _State, decision: CronDecision) -> list[Action]:
    """Replace's deletes (a pending create it replaces is just dropped), then the durable
    decision (status), then the create."""
    assert decision.scheduled_time is not None
    cron_job = state.cron_job
    name = job_name((cron_job.get("metadata") or {}).get("name", ""), decision.scheduled_time)
    actions: list[Action] = []
    gone = set()
    for job in decision.delete:
        old = (job.get("metadata") or {}).get("name")
        gone.add(old)
        if (job.get("metadata") or {}).get("uid"):  # not a pending create: it is dropped
            actions.append(DeleteObject(ref_of("jobs", job), "Background"))
            state.events.append(("Normal", "SuccessfulDelete", f"Deleted job {old}"))
    active = [r for r in state.status.get("active") or [] if r.get("name") not in gone]
    if name not in state.jobs and all(r.get("name") != name for r in active):
        active.append(job_ref({"metadata": {"name": name, "namespace": (
            cron_job.get("metadata") or {}).get("namespace") or ""}}))
    _set(state.status, "active", sorted(active, key=lambda r: str(r.get("name"))))
    state.status["lastScheduleTime"] = timestamp(decision.scheduled_time)
    return actions


def _history(state: _State) -> list[Action]:
    """Delete the oldest finished Jobs beyond successfulJobsHistoryLimit and
    failedJobsHistoryLimit."""
    spec = state.cron_job.get("spec") or {}
    actions: list[Action] = []
    for kind, field in (("Complete", "successfulJobsHistoryLimit"),
                        ("Failed", "failedJobsHistoryLimit")):
        limit = spec.get(field)
        finished = [j for j in state.jobs.values() if finished_as(j) == kind
                    and not (j.get("metadata") or {}).get("deletionTimestamp")]
        if limit is None or len(finished) <= limit:
            continue
        finished.sort(key=_started)
        for job in finished[:len(finished) - limit]:
            actions.append(DeleteObject(ref_of("jobs", job), "Background"))
    return actions


def _started(job: Object) -> tuple[int, datetime, str]:
    started = parse((job.get("status") or {}).get("startTime"))
    name = (job.get("metadata") or {}).get("name", "")
    return (0, started, name) if started else (1, datetime.min.replace(tzinfo=UTC), name)


def reconcile(key: ObjectRef | str, view: View, now: datetime) -> list[Action]:
    """The actions for CronJob `key` (an ObjectRef, or "namespace/name") right now, in the
    order the runner must take them (it stops at the first failure)."""
    cron_job = view.get(_key(key))
    if cron_job is None or (cron_job.get("metadata") or {}).get("deletionTimestamp"):
        return []  # being deleted: the garbage collector takes its Jobs
    state = _observe(cron_job, owned_jobs(cron_job, view))
    active = [j for j in state.jobs.values() if _is_active(j)]
    decision = decide(cron_job, active + [{"metadata": dict(r)} for r in _pending(state)], now)
    actions: list[Action] = []
    if decision.scheduled_time is not None:
        actions += _start(state, decision)
    events = [_event(cron_job, e) for e in (*decision.events, *state.events)]
    if state.status != (cron_job.get("status") or {}):
        meta = cron_job.get("metadata") or {}
        actions.append(ReplaceStatus(ref_of("cronjobs", cron_job), state.status,
                                     meta.get("resourceVersion") or ""))
    for ref in _pending(state):
        actions += _create(state, str(ref.get("name")))
    return actions + events + _history(state)


def requeue_seconds(key: ObjectRef | str, view: View, now: datetime) -> float | None:
    """The runner's `requeue_after(key, view, now)`: seconds until the next scheduled run."""
    cron_job = view.get(_key(key))
    delay = None if cron_job is None else requeue_after(cron_job, now)
    return None if delay is None else delay.total_seconds()
