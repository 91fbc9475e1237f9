"""Workloads on a real node, driven by the real kubectl: Deployments roll out, scale, change
image and roll back; a Job runs 5 completions 2 at a time; CronJobs run once per scheduled
minute (Forbid skips, a kill -9 around the minute makes no duplicate); deleting a namespace
or orphaning a ReplicaSet does what Kubernetes does."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import node_support
from .node_support import REPO, DaemonProcess, start_node, wait_for

busybox_oci = node_support.busybox_oci  # the shared fixture

NEW_TAG = "busybox:1.35.0-4-deb12u1-b1"  # the same image under its versioned name
# PID 1 of a container ignores SIGTERM unless it traps it: pods end at once, not after 30 s.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, busybox_oci: Path) -> Iterator[DaemonProcess]:
    """One real daemon with the busybox image, shared by this module's tests."""
    root = tmp_path_factory.mktemp("workloads")
    with start_node(root / "d", busybox_oci, ["--pod-backoff-initial", "0.5",
                                              "--pod-backoff-max", "2"]) as d:
        yield d


def get_json(node: DaemonProcess, *args: str) -> Any:
    return json.loads(node.kubectl("get", *args, "-o", "json").stdout)


def images_of(node: DaemonProcess, ns: str, selector: str) -> list[str]:
    pods = get_json(node, "pods", "-n", ns, "-l", selector)["items"]
    return sorted(p["spec"]["containers"][0]["image"] for p in pods
                  if not p["metadata"].get("deletionTimestamp"))


def rollout(node: DaemonProcess, ns: str, name: str) -> None:
    node.kubectl("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout=90s",
                 timeout=120)


def test_deployment_creates_scales_updates_and_rolls_back(node: DaemonProcess) -> None:
    """create deployment / scale / set image / rollout status / undo behave as on Kubernetes."""
    node.kubectl("create", "namespace", "deploy")
    node.kubectl("create", "deployment", "web", "-n", "deploy", "--image=busybox", "--",
                 *SLEEPER)
    rollout(node, "deploy", "web")
    node.kubectl("scale", "deployment/web", "-n", "deploy", "--replicas=5")
    rollout(node, "deploy", "web")
    status = get_json(node, "deployment", "web", "-n", "deploy")["status"]
    assert status["readyReplicas"] == 5 and status["updatedReplicas"] == 5
    pods = get_json(node, "pods", "-n", "deploy", "-l", "app=web")["items"]
    assert all(p["status"]["containerStatuses"][0]["imageID"].startswith(
        "docker.io/library/busybox@sha256:") for p in pods)

    node.kubectl("set", "image", "deployment/web", "-n", "deploy", f"busybox={NEW_TAG}")
    rollout(node, "deploy", "web")
    wait_for(lambda: images_of(node, "deploy", "app=web") == [NEW_TAG] * 5)
    sets = get_json(node, "replicasets", "-n", "deploy", "-l", "app=web")["items"]
    assert sorted(rs["spec"]["replicas"] for rs in sets) == [0, 5]

    node.kubectl("rollout", "undo", "deployment/web", "-n", "deploy")
    rollout(node, "deploy", "web")
    wait_for(lambda: images_of(node, "deploy", "app=web") == ["busybox"] * 5)
    history = node.kubectl("rollout", "history", "deployment/web", "-n", "deploy").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]


JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: five, namespace: jobs}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: work, image: busybox, command: [sh, -c, "sleep 1"]}
"""


def _overlap(spans: list[tuple[str, str]]) -> int:
    """The most spans running at one moment (RFC 3339 second stamps, end exclusive)."""
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans],
                    key=lambda p: (p[0], p[1]))
    running = most = 0
    for _, step in points:
        running += step
        most = max(most, running)
    return most


def test_job_runs_five_completions_two_at_a_time(node: DaemonProcess) -> None:
    """completions=5 parallelism=2: the Job completes with 5 succeeded pods, never 3 at once."""
    node.kubectl("create", "namespace", "jobs")
    node.kubectl("apply", "-f", "-", input=JOB)
    node.kubectl("wait", "--for=condition=complete", "job/five", "-n", "jobs",
                 "--timeout=120s", timeout=150)
    assert get_json(node, "job", "five", "-n", "jobs")["status"]["succeeded"] == 5
    pods = get_json(node, "pods", "-n", "jobs", "-l", "job-name=five")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Succeeded"] * 5
    spans = []
    for p in pods:
        done = p["status"]["containerStatuses"][0]["state"]["terminated"]
        spans.append((done["startedAt"], done["finishedAt"]))
    assert _overlap(spans) <= 2


CRON = """
apiVersion: batch/v1
kind: CronJob
metadata: {{name: {name}, namespace: cron}}
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: {policy}
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - {{name: c, image: busybox, command: [sh, -c, "{command}"]}}
"""


def jobs_of(node: DaemonProcess, cron: str) -> list[str]:
    items = get_json(node, "jobs", "-n", "cron")["items"]
    return sorted(j["metadata"]["name"] for j in items
                  if any(o.get("name") == cron for o in j["metadata"].get("ownerReferences", [])))


def seconds_to_next_minute() -> float:
    now = time.time()
    return 60 - (now % 60)


@pytest.mark.slow
def test_cronjob_runs_once_per_minute_forbid_skips_and_kill9_makes_no_duplicate(
        node: DaemonProcess) -> None:
    """Jobs are named by scheduled minute; Forbid skips while one runs; a kill -9 of the daemon
    just before a scheduled minute and a restart after it give exactly one Job for it."""
    if seconds_to_next_minute() < 8:  # start cleanly inside a minute
        time.sleep(seconds_to_next_minute() + 1)
    node.kubectl("create", "namespace", "cron")
    node.kubectl("apply", "-f", "-", input=CRON.format(name="tick", policy="Allow",
                                                       command="true"))
    node.kubectl("apply", "-f", "-", input=CRON.format(name="long", policy="Forbid",
                                                       command="sleep 600"))
    first = wait_for(lambda: jobs_of(node, "tick"), timeout=75)
    assert len(first) == 1
    first_minute = int(first[0].rsplit("-", 1)[1])
    wait_for(lambda: jobs_of(node, "long"), timeout=15)

    # kill -9 two seconds before the next scheduled minute, start again after it
    time.sleep(max(0.0, seconds_to_next_minute() - 2))
    node.kill9()
    time.sleep(seconds_to_next_minute() + 3)
    node.start()
    second = f"tick-{first_minute + 1}"
    wait_for(lambda: second in jobs_of(node, "tick"), timeout=30)
    time.sleep(3)  # a duplicate, if any, would come now
    assert jobs_of(node, "tick") == sorted([first[0], second])
    assert len(jobs_of(node, "long")) == 1  # Forbid: the running one blocks the next minute


NS_DEPLOY = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: doomed}
spec:
  replicas: 2
  selector: {matchLabels: {app: doomed}}
  template:
    metadata: {labels: {app: doomed}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
"""


def test_deleting_a_namespace_removes_its_deployment_sets_and_pods(node: DaemonProcess) -> None:
    """kubectl delete namespace: the deployment, its replica sets and pods go, on disk too."""
    node.kubectl("create", "namespace", "doomed")
    node.kubectl("apply", "-f", "-", input=NS_DEPLOY)
    rollout(node, "doomed", "app")
    uids = [p["metadata"]["uid"] for p in get_json(node, "pods", "-n", "doomed")["items"]]
    assert len(uids) == 2 and all((node.data_dir / "pods" / u).exists() for u in uids)
    node.kubectl("delete", "namespace", "doomed", "--timeout=90s", timeout=120)
    gone = node.kubectl("get", "namespace", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    for kind in ("deployments", "replicasets", "pods"):
        items = get_json(node, kind, "-A")["items"]
        assert not [o for o in items if o["metadata"]["namespace"] == "doomed"], kind
    wait_for(lambda: not any((node.data_dir / "pods" / u).exists() for u in uids), timeout=30)


ORPHAN_RS = """
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: keep, namespace: orphans}
spec:
  replicas: 2
  selector: {matchLabels: {app: keep}}
  template:
    metadata: {labels: {app: keep}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, "3600"]}
"""


def test_deleting_a_replicaset_with_cascade_orphan_leaves_its_pods(node: DaemonProcess) -> None:
    """kubectl delete rs --cascade=orphan: the pods stay, running, with no owner."""
    node.kubectl("create", "namespace", "orphans")
    node.kubectl("apply", "-f", "-", input=ORPHAN_RS)

    def running() -> list[dict[str, Any]]:
        pods = get_json(node, "pods", "-n", "orphans", "-l", "app=keep")["items"]
        return [p for p in pods if p["status"].get("phase") == "Running"]

    before = {p["metadata"]["uid"] for p in wait_for(lambda: len(running()) == 2 and running())}
    node.kubectl("delete", "rs", "keep", "-n", "orphans", "--cascade=orphan")
    time.sleep(2)  # the garbage collector would act now, if it were going to
    after = running()
    assert {p["metadata"]["uid"] for p in after} == before
    assert all(not p["metadata"].get("ownerReferences") for p in after)


def test_readme_init_demo_runs_its_init_containers_in_order(node: DaemonProcess) -> None:
    """The README's examples/init-demo.yaml (1.3 annotation) runs first, second, then app."""
    manifest = (REPO / "examples" / "init-demo.yaml").read_text()
    node.kubectl("apply", "-n", "default", "-f", "-", input=manifest)
    wait_for(lambda: "app started" in node.kubectl("logs", "init-demo", "-c", "app",
                                                   check=False).stdout, timeout=60)
    logs = node.kubectl("logs", "init-demo", "-c", "app").stdout
    assert logs.splitlines() == ["first done", "second done", "app started"]
    statuses = get_json(node, "pod", "init-demo")["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in statuses] == [0, 0]
    node.kubectl("delete", "pod", "init-demo", "--timeout=60s", timeout=90)
