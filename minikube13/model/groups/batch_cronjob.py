"""batch/v1 CronJob, and batch/v2alpha1 ScheduledJob: its 1.3 name, stored as a CronJob.

The two have the same fields (ScheduledJob simply never grew timeZone or the history
limits in 1.3); a ScheduledJob is served with whatever its stored CronJob has, so reading
and writing either spelling loses nothing.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups import batch_cron
from minikube13.model.groups import workload as w
from minikube13.model.groups.batch import JOB_SPEC, validate_job_spec
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    NAME_COLUMN,
    OBJECT_META,
    OBJECT_REFERENCE,
    TIME,
    age,
    name_of,
    obj,
    object_age,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import Arr, boolean, integer, string
from minikube13.model.validation import validate_annotations, validate_labels

_API = "io.k8s.api.batch.v1"
CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"]
# Job names are the CronJob's name plus an 11-character suffix and must stay DNS labels.
MAX_NAME_LENGTH = 52

JOB_TEMPLATE_SPEC = obj(f"{_API}.JobTemplateSpec", "JobTemplateSpec describes the data a Job "
                        "should have when created from a template", {
    "metadata": OBJECT_META.with_description("Standard object's metadata of the jobs created "
                                             "from this template."),
    "spec": JOB_SPEC.with_description("Specification of the desired behavior of the job."),
})

CRON_JOB_SPEC = obj(f"{_API}.CronJobSpec", "CronJobSpec describes how the job execution will "
                    "look like and when it will actually run.", {
    "schedule": string("The schedule in Cron format, see "
                       "https://en.wikipedia.org/wiki/Cron."),
    "timeZone": string("The time zone name for the given schedule. If not specified, this "
                       "will default to the time zone of the kube-controller-manager process."),
    "startingDeadlineSeconds": INT64.with_description(
        "Optional deadline in seconds for starting the job if it misses scheduled time for "
        "any reason. Missed jobs executions will be counted as failed ones."),
    "concurrencyPolicy": string("Specifies how to treat concurrent executions of a Job. "
                                "Valid values are: \"Allow\" (default), \"Forbid\", "
                                "\"Replace\".", enum=tuple(CONCURRENCY_POLICIES)),
    "suspend": boolean("This flag tells the controller to suspend subsequent executions, it "
                       "does not apply to already started executions. Defaults to false."),
    "jobTemplate": JOB_TEMPLATE_SPEC.with_description("Specifies the job that will be created "
                                                      "when executing a CronJob."),
    "successfulJobsHistoryLimit": integer("The number of successful finished jobs to retain. "
                                          "Defaults to 3."),
    "failedJobsHistoryLimit": integer("The number of failed finished jobs to retain. Defaults "
                                      "to 1."),
}, required=("schedule", "jobTemplate"))

CRON_JOB_STATUS = obj(f"{_API}.CronJobStatus", "CronJobStatus represents the current state of "
                      "a cron job.", {
    "active": Arr(items=OBJECT_REFERENCE, list_type="atomic",
                  description="A list of pointers to currently running jobs."),
    "lastScheduleTime": TIME.with_description("Information when was the last time the job "
                                              "was successfully scheduled."),
    "lastSuccessfulTime": TIME.with_description("Information when was the last time the job "
                                                "successfully completed."),
})

CRON_JOB = top_level(f"{_API}.CronJob", "CronJob represents the configuration of a single "
                     "cron job.", {
    "spec": CRON_JOB_SPEC.with_description("Specification of the desired behavior of a cron "
                                           "job, including the schedule."),
    "status": CRON_JOB_STATUS.with_description("Current status of a cron job."),
})


def default_cron_job(cron_job: Object) -> Object:
    out = copy.deepcopy(cron_job)
    spec = w.ensure(out, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = w.section(w.section(spec, "jobTemplate"), "spec")
    w.default_template(job_spec.get("template"))
    return out


def _validate_job_template(template: Any, path: str) -> list[FieldError]:
    if not isinstance(template, dict):
        return [fe.required(path)]
    meta = w.section(template, "metadata")
    out = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    out += validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations")
    spec = w.section(template, "spec")
    out += validate_job_spec(spec, f"{path}.spec")
    if spec.get("selector") is not None:
        out.append(fe.invalid(f"{path}.spec.selector", spec["selector"],
                              "`selector` will be auto-generated"))
    if spec.get("manualSelector") is True:
        out.append(fe.not_supported(f"{path}.spec.manualSelector", True, ["nil", "false"]))
    return out


def validate_cron_job(new: Object, old: Object | None) -> list[FieldError]:
    spec = w.section(new, "spec")
    name = w.section(new, "metadata").get("name") or ""
    out: list[FieldError] = []
    if len(name) > MAX_NAME_LENGTH:
        out.append(fe.invalid("metadata.name", name,
                              f"must be no more than {MAX_NAME_LENGTH} characters"))
    out += batch_cron.validate_schedule(spec.get("schedule"), spec.get("timeZone"),
                                        "spec.schedule")
    out += batch_cron.validate_time_zone(spec.get("timeZone"), "spec.timeZone")
    out += w.non_negative(spec, ("startingDeadlineSeconds", "successfulJobsHistoryLimit",
                                 "failedJobsHistoryLimit"), "spec")
    policy = spec.get("concurrencyPolicy")
    if not policy:
        out.append(fe.required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        out.append(fe.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    out += _validate_job_template(spec.get("jobTemplate"), "spec.jobTemplate")
    return out


# --- printing -------------------------------------------------------------------------


def _bool_text(value: Any) -> str:
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def cron_job_cells(cron_job: Object, now: datetime) -> list[Any]:
    spec, status = w.section(cron_job, "spec"), w.section(cron_job, "status")
    last = status.get("lastScheduleTime")
    job_spec = w.section(w.section(spec, "jobTemplate"), "spec")
    return [name_of(cron_job), spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            _bool_text(spec.get("suspend")), len(status.get("active") or []),
            age(last, now) if last else "<none>", object_age(cron_job, now),
            *w.container_cells(job_spec.get("template")),
            w.format_selector(job_spec.get("selector"))]


CRON_JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Schedule", description="The schedule in Cron format."),
    Column("Timezone", description="The time zone name for the given schedule."),
    Column("Suspend", "boolean", description="This flag tells the controller to suspend "
           "subsequent executions."),
    Column("Active", "integer", description="A list of pointers to currently running jobs."),
    Column("Last Schedule", description="Information when was the last time the job was "
           "successfully scheduled."),
    AGE_COLUMN, w.CONTAINERS_COLUMN, w.IMAGES_COLUMN,
    w.selector_column("A label query over pods that should match the pod count."),
)

objects.register(KindSpec("cronjobs", CRON_JOB, default=default_cron_job,
                          validate=validate_cron_job, columns=CRON_JOB_COLUMNS,
                          cells=cron_job_cells))

_template_in, _template_out = w.templates_in(("spec", "jobTemplate", "spec", "template"))
for _version, _kind in (("batch/v1", "CronJob"), ("batch/v2alpha1", "ScheduledJob")):
    objects.TO_STORAGE[(_version, _kind)] = _template_in
    objects.FROM_STORAGE[(_version, _kind)] = _template_out
