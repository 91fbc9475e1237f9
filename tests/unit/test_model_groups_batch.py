"""batch: Job, CronJob and the 1.3 ScheduledJob — the seed manifest, cron schedules, selector
generation, defaults, validation messages and `kubectl get` cells."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube13.model import kinds, objects
from minikube13.model.groups import batch_cron
from minikube13.testing.admission import admit, messages


def served(group: str, version: str, plural: str) -> kinds.ResourceInfo:
    found = kinds.find(group, version, plural)
    assert found is not None, plural
    return found


JOB = served("batch", "v1", "jobs")
CRON = served("batch", "v1", "cronjobs")
SCHEDULED = served("batch", "v2alpha1", "scheduledjobs")
objects.spec_for(JOB)  # loads the group modules, which register the converters
# The project's copy of ../shared/manifests/seed-scheduledjob.yaml (so a checkout needs no ../shared).
SEED = Path(__file__).resolve().parents[1] / "integration" / "manifests" / "seed" / \
    "seed-scheduledjob.yaml"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UID = "0b7c3e4e-1111-4a5b-9c1d-2e3f4a5b6c7d"


def seed() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(SEED.read_text())
    manifest["metadata"]["namespace"] = "default"
    return manifest


def job(**spec: Any) -> dict[str, Any]:
    pod_spec = {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}
    body: dict[str, Any] = {"template": {"spec": pod_spec}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": UID}, "spec": body}


# --- the seed ScheduledJob ------------------------------------------------------------


def test_seed_scheduledjob_is_refused_naming_spec_schedule() -> None:
    """The seed's "0 0 0 0 0" schedule is a 422 naming spec.schedule."""
    assert messages(SCHEDULED, seed()) == [
        'spec.schedule: Invalid value: "0 0 0 0 0": '
        "beginning of range (0) below minimum (1): 0"]


def test_seed_scheduledjob_is_accepted_once_fixed() -> None:
    """With a valid schedule the seed is stored as a CronJob with the defaults filled in."""
    manifest = seed()
    manifest["spec"]["schedule"] = "0 0 1 1 *"
    stored = admit(SCHEDULED, manifest)
    assert (stored["apiVersion"], stored["kind"]) == ("batch/v1", "CronJob")
    spec = stored["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["startingDeadlineSeconds"]) == (
        "Allow", False, 30)
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]  # job defaults apply to jobs


def test_scheduledjob_and_cronjob_round_trip() -> None:
    """ScheduledJob and CronJob both survive served -> stored -> served, and read each other."""
    manifest = seed()
    manifest["spec"]["schedule"] = "*/5 * * * *"
    stored = admit(SCHEDULED, manifest)
    as_scheduled = objects.from_storage(SCHEDULED, stored)
    assert (as_scheduled["apiVersion"], as_scheduled["kind"]) == (
        "batch/v2alpha1", "ScheduledJob")
    assert objects.from_storage(SCHEDULED, admit(SCHEDULED, copy.deepcopy(as_scheduled))) \
        == as_scheduled
    as_cron = objects.from_storage(CRON, stored)
    assert (as_cron["apiVersion"], as_cron["kind"]) == ("batch/v1", "CronJob")
    assert objects.from_storage(CRON, admit(CRON, copy.deepcopy(as_cron))) == as_cron
    assert as_cron["spec"] == as_scheduled["spec"]


def test_scheduledjob_template_init_container_annotation() -> None:
    """The 1.3 init-container annotation in a job template is stored as initContainers."""
    manifest = seed()
    manifest["spec"]["schedule"] = "@hourly"
    manifest["spec"]["jobTemplate"]["spec"]["template"]["metadata"] = {"annotations": {
        "pod.alpha.kubernetes.io/init-containers": json.dumps(
            [{"name": "wait", "image": "busybox"}])}}
    stored = admit(SCHEDULED, manifest)
    template = stored["spec"]["jobTemplate"]["spec"]["template"]
    assert template["spec"]["initContainers"][0]["name"] == "wait"
    assert not template["metadata"].get("annotations")


# --- cron schedules -------------------------------------------------------------------


@pytest.mark.parametrize("schedule, detail", [
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("0 0 * * * *", "expected exactly 5 fields, found 6: [0 0 * * * *]"),
    ("@every 1h", "unrecognized descriptor: @every 1h"),
    ("CRON_TZ=Mars/Base 0 3 * * *",
     "provided bad location Mars/Base: unknown time zone Mars/Base"),
])
def test_bad_schedules_are_refused(schedule: str, detail: str) -> None:
    """Each malformed schedule is a 422 on spec.schedule with robfig/cron's reason."""
    cron = seed()
    cron["spec"]["schedule"] = schedule
    assert messages(SCHEDULED, cron) == [
        f"spec.schedule: Invalid value: {json.dumps(schedule)}: {detail}"]


@pytest.mark.parametrize("schedule", [
    "*/15 * * * *", "0 9-17 * * mon-fri", "@daily", "30 2 1,15 jan,jul *",
    "TZ=Europe/Paris 0 3 * * *", "CRON_TZ=UTC 0 3 * * *",
])
def test_good_schedules_are_accepted(schedule: str) -> None:
    """Ranges, lists, names, descriptors and a TZ= prefix are accepted."""
    cron = seed()
    cron["spec"]["schedule"] = schedule
    assert admit(SCHEDULED, cron)["spec"]["schedule"] == schedule


def test_time_zone_field_is_checked() -> None:
    """timeZone must name a real zone, and may not be combined with a TZ= prefix."""
    cron = seed() | {"apiVersion": "batch/v1", "kind": "CronJob"}
    cron["spec"].update(schedule="0 3 * * *", timeZone="Europe/Nowhere")
    assert messages(CRON, cron) == [
        'spec.timeZone: Invalid value: "Europe/Nowhere": unknown time zone Europe/Nowhere']
    cron["spec"].update(schedule="TZ=UTC 0 3 * * *", timeZone="Europe/Paris")
    assert messages(CRON, cron) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 3 * * *": cannot use both timeZone field '
        "and TZ or CRON_TZ in schedule"]
    cron["spec"]["schedule"] = "0 3 * * *"
    assert admit(CRON, cron)["spec"]["timeZone"] == "Europe/Paris"


def test_cronjob_policy_deadline_and_template_checks() -> None:
    """Bad concurrencyPolicy, negative deadline, a template selector and restartPolicy fail."""
    cron = seed()
    cron["spec"].update(schedule="@hourly", concurrencyPolicy="Sometimes",
                        startingDeadlineSeconds=-1)
    cron["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert messages(SCHEDULED, cron) == [
        "spec.startingDeadlineSeconds: Invalid value: -1: must be greater than or equal to 0",
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: '
        '"Allow", "Forbid", "Replace"',
        'spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: '
        '"OnFailure", "Never"',
        'spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: '
        "`selector` will be auto-generated"]


def test_cronjob_name_is_at_most_52_characters() -> None:
    """A CronJob name longer than 52 characters is refused (its jobs need room)."""
    cron = seed()
    cron["spec"]["schedule"] = "@hourly"
    cron["metadata"]["name"] = "x" * 53
    assert messages(SCHEDULED, cron) == [
        f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 characters']


def test_next_schedule_time_honours_the_time_zone() -> None:
    """03:00 in Paris on a winter day is 02:00 UTC; a TZ= prefix means the same."""
    after = datetime(2024, 1, 1, 5, 0, tzinfo=UTC)
    expected = datetime(2024, 1, 2, 2, 0, tzinfo=UTC)
    assert batch_cron.next_schedule_time("0 3 * * *", "Europe/Paris", after) == expected
    assert batch_cron.next_schedule_time("TZ=Europe/Paris 0 3 * * *", None, after) == expected
    assert batch_cron.next_schedule_time("*/15 * * * *", None, after) == \
        datetime(2024, 1, 1, 5, 15, tzinfo=UTC)


def test_cronjob_table_row() -> None:
    """`kubectl get cj -o wide`: schedule, <none> zone, suspend, active, last schedule."""
    cron = seed()
    cron["spec"]["schedule"] = "*/5 * * * *"
    stored = admit(SCHEDULED, cron)
    stored["metadata"]["creationTimestamp"] = "2024-05-01T10:00:00Z"
    stored["status"] = {"active": [{"kind": "Job", "name": "pi-1"}],
                        "lastScheduleTime": "2024-05-01T11:55:00Z"}
    assert [c["name"] for c in objects.table_columns(CRON)] == [
        "Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age",
        "Containers", "Images", "Selector"]
    assert objects.table_cells(CRON, objects.from_storage(CRON, stored), NOW) == [
        "pi", "*/5 * * * *", "<none>", "False", 1, "5m", "120m", "pi", "perl", "<none>"]


# --- Job ------------------------------------------------------------------------------


def test_job_defaults_and_generated_selector() -> None:
    """A Job gets 1/1 completions, backoffLimit 6 and a selector on its controller uid."""
    stored = admit(JOB, job())
    spec = stored["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert (spec["completionMode"], spec["suspend"]) == ("NonIndexed", False)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    labels = spec["template"]["metadata"]["labels"]
    assert labels == {"batch.kubernetes.io/controller-uid": UID, "controller-uid": UID,
                      "batch.kubernetes.io/job-name": "pi", "job-name": "pi"}
    assert stored["metadata"]["labels"] == labels


def test_parallel_job_keeps_completions_unset() -> None:
    """parallelism alone leaves completions unset (the first success completes)."""
    spec = admit(JOB, job(parallelism=3))["spec"]
    assert spec["parallelism"] == 3
    assert "completions" not in spec


def test_job_restart_policy_must_be_never_or_on_failure() -> None:
    """A Job left with the pod default restartPolicy Always is a 422 naming the field."""
    bad = job()
    del bad["spec"]["template"]["spec"]["restartPolicy"]
    assert messages(JOB, bad) == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']


def test_job_user_selector_needs_manual_selector() -> None:
    """A hand-written selector is refused unless manualSelector is true."""
    custom = job(selector={"matchLabels": {"app": "pi"}})
    custom["spec"]["template"]["metadata"] = {"labels": {"app": "pi"}}
    assert messages(JOB, custom) == [
        'spec.selector: Invalid value: {"matchLabels":{"app":"pi",'
        '"batch.kubernetes.io/controller-uid":"' + UID + '"}}: `selector` not auto-generated']
    custom["spec"]["manualSelector"] = True
    stored = admit(JOB, custom)
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "pi"}}
    assert stored["spec"]["template"]["metadata"]["labels"] == {"app": "pi"}


def test_manual_selector_must_match_template() -> None:
    """With manualSelector, a selector that misses the template's labels is refused."""
    custom = job(manualSelector=True, selector={"matchLabels": {"app": "pi"}})
    assert messages(JOB, custom) == [
        "spec.template.metadata.labels: Invalid value: {}: "
        "`selector` does not match template `labels`"]


def test_job_spec_is_immutable_where_the_apiserver_says() -> None:
    """Changing a started Job's completions or template is refused; parallelism is fine."""
    old = admit(JOB, job())
    scaled = copy.deepcopy(old)
    scaled["spec"]["parallelism"] = 4
    assert admit(JOB, scaled, old)["spec"]["parallelism"] == 4
    changed = copy.deepcopy(old)
    changed["spec"]["completions"] = 3
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
    got = messages(JOB, changed, old)
    assert [m.split(":")[0] for m in got] == ["spec.completions", "spec.template"]
    assert all(m.endswith("field is immutable") for m in got)


def test_job_table_row_and_field_selector() -> None:
    """`kubectl get jobs` shows Complete, 1/1 and the duration; status.successful selects."""
    stored = admit(JOB, job())
    stored["metadata"]["creationTimestamp"] = "2024-05-01T11:00:00Z"
    stored["status"] = {"succeeded": 1, "startTime": "2024-05-01T11:00:00Z",
                        "completionTime": "2024-05-01T11:00:42Z",
                        "conditions": [{"type": "Complete", "status": "True"}]}
    assert [c["name"] for c in objects.table_columns(JOB)][:5] == [
        "Name", "Status", "Completions", "Duration", "Age"]
    cells = objects.table_cells(JOB, stored, NOW)
    assert cells[:5] == ["pi", "Complete", "1/1", "42s", "60m"]
    assert cells[-1] == f"batch.kubernetes.io/controller-uid={UID}"
    assert objects.field_labels(JOB, stored) == {
        "metadata.name": "pi", "metadata.namespace": "default", "status.successful": "1"}


def test_job_round_trips() -> None:
    """A batch/v1 Job read back and written again is unchanged."""
    served = objects.from_storage(JOB, admit(JOB, job()))
    assert objects.from_storage(JOB, admit(JOB, copy.deepcopy(served), served)) == served
