"""batch/v1 Job: run pods to completion.

Like the apiserver, a Job without `manualSelector: true` gets a generated selector on the
`batch.kubernetes.io/controller-uid` label, and its template gets that label, the legacy
`controller-uid` one and both `job-name` labels, so its pods can only ever be its own. The
registry assigns metadata.uid before defaulting, so the uid is known here.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minikube13.model import errors as fe
from minikube13.model import objects
from minikube13.model.errors import FieldError
from minikube13.model.groups import core_pod
from minikube13.model.groups import workload as w
from minikube13.model.groups.meta import (
    AGE_COLUMN,
    INT64,
    LABEL_SELECTOR,
    NAME_COLUMN,
    TIME,
    human_duration,
    name_of,
    obj,
    object_age,
    parse_time,
    top_level,
)
from minikube13.model.objects import Column, KindSpec, Object
from minikube13.model.schema import AnyValue, Arr, boolean, integer, string
from minikube13.model.validation import validate_immutable, validate_label_selector

_API = "io.k8s.api.batch.v1"
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_MODES = ["NonIndexed", "Indexed"]
REPLACEMENT_POLICIES = ["TerminatingOrFailed", "Failed"]
_RESTART_POLICY_DETAIL = 'valid values: "OnFailure", "Never"'

JOB_SPEC = obj(f"{_API}.JobSpec", "JobSpec describes how the job execution will look like.", {
    "parallelism": integer("Specifies the maximum desired number of pods the job should run "
                           "at any given time."),
    "completions": integer("Specifies the desired number of successfully finished pods the "
                           "job should be run with."),
    "activeDeadlineSeconds": INT64.with_description(
        "Specifies the duration in seconds relative to the startTime that the job may be "
        "continuously active before the system tries to terminate it."),
    "podFailurePolicy": AnyValue(), "successPolicy": AnyValue(),
    "backoffLimit": integer("Specifies the number of retries before marking this job failed. "
                            "Defaults to 6"),
    "backoffLimitPerIndex": integer(), "maxFailedIndexes": integer(),
    "selector": LABEL_SELECTOR.with_description("A label query over pods that should match "
                                                "the pod count."),
    "manualSelector": boolean("manualSelector controls generation of pod labels and pod "
                              "selectors."),
    "template": core_pod.POD_TEMPLATE_SPEC.with_description(
        "Describes the pod that will be created when executing a job."),
    "ttlSecondsAfterFinished": integer(),
    "completionMode": string(enum=tuple(COMPLETION_MODES)),
    "suspend": boolean("suspend specifies whether the Job controller should create Pods or "
                       "not."),
    "podReplacementPolicy": string(enum=tuple(REPLACEMENT_POLICIES)),
    "managedBy": string(),
}, required=("template",))

JOB_CONDITION = obj(f"{_API}.JobCondition", "JobCondition describes current state of a job.", {
    "type": string("Type of job condition, Complete or Failed."),
    "status": string("Status of the condition, one of True, False, Unknown."),
    "lastProbeTime": TIME, "lastTransitionTime": TIME,
    "reason": string(), "message": string(),
}, required=("type", "status"))

JOB_STATUS = obj(f"{_API}.JobStatus", "JobStatus represents the current state of a Job.", {
    "conditions": Arr(items=JOB_CONDITION, list_type="atomic"),
    "startTime": TIME, "completionTime": TIME,
    "active": integer(), "succeeded": integer(), "failed": integer(),
    "terminating": integer(), "ready": integer(),
    "completedIndexes": string(), "failedIndexes": string(),
    "uncountedTerminatedPods": obj(f"{_API}.UncountedTerminatedPods", "", {
        "succeeded": Arr(items=string(), list_type="set"),
        "failed": Arr(items=string(), list_type="set")}),
})

JOB = top_level(f"{_API}.Job", "Job represents the configuration of a single job.", {
    "spec": JOB_SPEC.with_description("Specification of the desired behavior of a job."),
    "status": JOB_STATUS.with_description("Current status of a job."),
})


# --- defaults -------------------------------------------------------------------------


def default_job_spec(spec: w.Json) -> None:
    """SetDefaults_Job on the spec (a Job's; a CronJob's job template gets pod defaults only)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2**31 - 1 if spec.get("backoffLimitPerIndex") is not None
                    else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") is not None else
                    "TerminatingOrFailed")


def generate_selector(job: Object) -> None:
    """The apiserver's generateSelector: labels the template (keeping labels the user set, so
    that validation can name a conflict) and selects the controller-uid label."""
    meta = w.section(job, "metadata")
    uid, name = meta.get("uid"), meta.get("name")
    if not uid:
        return
    spec = w.ensure(job, "spec")
    labels = w.ensure(w.ensure(w.ensure(spec, "template"), "metadata"), "labels")
    for key, value in ((LEGACY_JOB_NAME, name), (JOB_NAME, name),
                       (LEGACY_CONTROLLER_UID, uid), (CONTROLLER_UID, uid)):
        if value:
            labels.setdefault(key, value)
    selector = w.ensure(spec, "selector")
    w.ensure(selector, "matchLabels").setdefault(CONTROLLER_UID, uid)


def default_job(job: Object) -> Object:
    out = copy.deepcopy(job)
    spec = w.ensure(out, "spec")
    default_job_spec(spec)
    if spec.get("manualSelector") is not True:
        generate_selector(out)
    w.default_template(spec.get("template"))
    # The apiserver shows the template's labels (generated ones included) as the Job's own
    # when it has none.
    labels = w.template_labels(w.section(spec, "template"))
    meta = w.ensure(out, "metadata")
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    return out


# --- validation -----------------------------------------------------------------------


def validate_job_spec(spec: w.Json, path: str) -> list[FieldError]:
    """What a Job and a CronJob's job template share (not the selector)."""
    out = w.non_negative(spec, ("parallelism", "completions", "activeDeadlineSeconds",
                                "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes",
                                "ttlSecondsAfterFinished"), path)
    mode = spec.get("completionMode")
    if mode is not None and mode not in COMPLETION_MODES:
        out.append(fe.not_supported(f"{path}.completionMode", mode, COMPLETION_MODES))
    if mode == "Indexed" and spec.get("completions") is None:
        out.append(fe.required(f"{path}.completions", "when completion mode is Indexed"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None and replacement not in REPLACEMENT_POLICIES:
        out.append(fe.not_supported(f"{path}.podReplacementPolicy", replacement,
                                    REPLACEMENT_POLICIES))
    template = spec.get("template")
    out += core_pod.validate_pod_template(template, f"{path}.template")
    policy = w.section(w.section(spec, "template"), "spec").get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        out.append(fe.required(f"{path}.template.spec.restartPolicy", _RESTART_POLICY_DETAIL))
    return out


def _validate_generated_selector(job: Object) -> list[FieldError]:
    spec, meta = w.section(job, "spec"), w.section(job, "metadata")
    selector = spec.get("selector")
    if spec.get("manualSelector") is True or not isinstance(selector, dict):
        return []
    uid, name = meta.get("uid") or "", meta.get("name") or ""
    out = [] if uid else [fe.required("metadata.uid")]
    labels = w.template_labels(w.section(spec, "template"))
    expected = {LEGACY_CONTROLLER_UID: uid, CONTROLLER_UID: uid,
                LEGACY_JOB_NAME: name, JOB_NAME: name}
    for key, value in expected.items():
        here = f"spec.template.metadata.labels[{key}]"
        if key not in labels:
            out.append(fe.required(here, f"must be '{value}'"))
        elif labels[key] != value:
            out.append(fe.invalid(here, labels, f"must be '{value}'"))
    if not w.selector_matches(selector, expected):
        out.append(fe.invalid("spec.selector", selector, "`selector` not auto-generated"))
    return out


def validate_job(new: Object, old: Object | None) -> list[FieldError]:
    spec = w.section(new, "spec")
    out = _validate_generated_selector(new)
    out += validate_job_spec(spec, "spec")
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        out.append(fe.required("spec.selector"))
    else:
        out += validate_label_selector(selector, "spec.selector")
        out += w.validate_selector_matches(selector, w.section(spec, "template"),
                                           "spec.template")
    if old is not None:
        out += _validate_update(spec, old)
    return out


def _validate_update(spec: w.Json, old: Object) -> list[FieldError]:
    before = w.section(old, "spec")
    out = validate_immutable(spec.get("selector"), before.get("selector"), "spec.selector")
    out += validate_immutable(spec.get("completions"), before.get("completions"),
                              "spec.completions")
    # A suspended Job that never started may still have its template changed (scheduling
    # directives, as Kubernetes 1.27+ allows); once pods may exist it is fixed.
    never_started = before.get("suspend") is True and \
        not w.section(old, "status").get("startTime")
    if not never_started:
        out += validate_immutable(spec.get("template"), before.get("template"),
                                  "spec.template")
    return out


# --- printing and field selectors -----------------------------------------------------


def _has_condition(job: Object, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in w.section(job, "status").get("conditions") or [] if isinstance(c, dict))


def job_status_text(job: Object) -> str:
    """kubectl's STATUS column for a Job."""
    for kind, text in (("Complete", "Complete"), ("Failed", "Failed")):
        if _has_condition(job, kind):
            return text
    if w.section(job, "metadata").get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if _has_condition(job, kind):
            return kind
    return "Running"


def completions_text(job: Object) -> str:
    spec = w.section(job, "spec")
    succeeded = w.count(job, "status", "succeeded")
    if w.is_int(spec.get("completions")):
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism")
    if w.is_int(parallelism) and parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def duration_text(job: Object, now: datetime) -> str:
    status = w.section(job, "status")
    start = parse_time(str(status.get("startTime") or ""))
    if start is None:
        return ""
    end = parse_time(str(status.get("completionTime") or "")) or now
    return human_duration((end - start).total_seconds())


def job_cells(job: Object, now: datetime) -> list[Any]:
    spec = w.section(job, "spec")
    return [name_of(job), job_status_text(job), completions_text(job),
            duration_text(job, now), object_age(job, now),
            *w.container_cells(spec.get("template")), w.format_selector(spec.get("selector"))]


def job_fields(job: Object) -> dict[str, str]:
    return {"status.successful": str(w.count(job, "status", "succeeded"))}


JOB_COLUMNS = (
    NAME_COLUMN,
    Column("Status", description="Status of the job."),
    Column("Completions", description="The number of pods which reached phase Succeeded."),
    Column("Duration", description="Time required to complete the job."),
    AGE_COLUMN, w.CONTAINERS_COLUMN, w.IMAGES_COLUMN,
    w.selector_column("A label query over pods that should match the pod count."),
)

objects.register(KindSpec("jobs", JOB, default=default_job, validate=validate_job,
                          columns=JOB_COLUMNS, cells=job_cells, field_labels=job_fields))
objects.TO_STORAGE[("batch/v1", "Job")], objects.FROM_STORAGE[("batch/v1", "Job")] = \
    w.templates_in(("spec", "template"))
