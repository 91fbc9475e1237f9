"""The node agent with the real pod runtime inside the real daemon: a pod from the busybox
image runs and logs, pods outlive the daemon (SIGTERM and kill -9) and are adopted without
a restart, a reboot (stage1 gone) starts them again, and deleting tears them down."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import ssl
import time

from cryptography import x509

from . import node_support
from .node_support import DaemonProcess, alive, pod_json, running, stage1_pid, wait_for

busybox_oci, node = node_support.busybox_oci, node_support.node  # the shared fixtures

SLEEPER = """
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
"""


def test_hello_runs_and_its_log_says_hi(node: DaemonProcess) -> None:
    """kubectl run hello --image=busybox --restart=Never -- echo hi; kubectl logs: hi."""
    node.kubectl("run", "hello", "--image=busybox", "--restart=Never", "--", "echo", "hi")

    def completed() -> bool:
        pod = pod_json(node, "hello")
        return pod is not None and pod["status"].get("phase") == "Succeeded"
    wait_for(completed)
    assert node.kubectl("logs", "hello").stdout == "hi\n"
    table = node.kubectl("get", "pod", "hello", "--no-headers").stdout.split()
    assert table[2] == "Completed"


def test_pods_outlive_the_daemon_and_are_adopted(node: DaemonProcess) -> None:
    """SIGTERM, then kill -9 of the daemon: the pod keeps its stage1 and its container's
    start time and restart count; deleting it afterwards removes everything."""
    node.kubectl("apply", "-f", "-", input=SLEEPER.replace("NAME", "sleeper"))
    pod = wait_for(lambda: running(node, "sleeper"))
    uid = pod["metadata"]["uid"]
    pid = stage1_pid(node, uid)
    before = pod["status"]["containerStatuses"][0]
    for stop in (node.stop, node.kill9):
        stop()
        assert alive(pid), "stopping the daemon stopped the pod"
        node.start()
        time.sleep(2)  # a few relists
        after = wait_for(lambda: running(node, "sleeper"))["status"]["containerStatuses"][0]
        assert stage1_pid(node, uid) == pid
        assert after["state"]["running"]["startedAt"] == before["state"]["running"]["startedAt"]
        assert after["restartCount"] == before["restartCount"]
    node.kubectl("delete", "pod", "sleeper", "--wait=true", timeout=60)
    wait_for(lambda: not alive(pid), timeout=10)
    assert not (node.data_dir / "pods" / uid).exists()


def test_a_reboot_starts_the_pods_again(node: DaemonProcess) -> None:
    """All stage1s and the daemon gone (a reboot): the restarted daemon runs the pod again."""
    node.kubectl("apply", "-f", "-", input=SLEEPER.replace("NAME", "rebooted"))
    pod = wait_for(lambda: running(node, "rebooted"))
    uid = pod["metadata"]["uid"]
    pid = stage1_pid(node, uid)
    node.kill9()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=10)
    node.start()

    def restarted() -> bool:
        return running(node, "rebooted") is not None and stage1_pid(node, uid) != pid
    wait_for(restarted)


INIT_POD = """
apiVersion: v1
kind: Pod
metadata: {name: NAME}
spec:
  restartPolicy: POLICY
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: i1, image: busybox, command: [sh, -c, "sleep 1.5"]}
  - {name: i2, image: busybox, command: [sh, -c, "sleep 1.5; exit CODE"]}
  containers:
  - {name: a1, image: busybox, command: [sleep, "3600"]}
  - {name: a2, image: busybox, command: [sleep, "3600"]}
"""


def statuses_until(d: DaemonProcess, name: str, last: str, timeout: float = 40) -> list[str]:
    """The STATUS column of `kubectl get pod` as it changes, until it reads `last`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (not seen or seen[-1] != last):
        cells = d.kubectl("get", "pod", name, "--no-headers", check=False).stdout.split()
        if len(cells) > 2 and (not seen or seen[-1] != cells[2]):
            seen.append(cells[2])
        time.sleep(0.1)
    return seen


def test_init_containers_show_in_the_status_column(node: DaemonProcess) -> None:
    """Init:0/2, Init:1/2, then Running 2/2; the 1.3 annotation carries their statuses."""
    manifest = INIT_POD.replace("NAME", "init").replace("POLICY", "Always")
    node.kubectl("apply", "-f", "-", input=manifest.replace("CODE", "0"))
    seen = statuses_until(node, "init", "Running")
    assert seen[-1] == "Running", seen
    assert seen.index("Init:0/2") < seen.index("Init:1/2") < seen.index("Running"), seen
    assert set(seen) <= {"Pending", "ContainerCreating", "Init:0/2", "Init:1/2",
                         "PodInitializing", "Running"}, seen
    pod = pod_json(node, "init")
    assert pod is not None
    annotation = pod["metadata"]["annotations"]["pod.alpha.kubernetes.io/init-container-statuses"]
    assert [s["state"]["terminated"]["exitCode"] for s in json.loads(annotation)] == [0, 0]


def test_a_failing_init_container_fails_a_never_pod(node: DaemonProcess) -> None:
    """restartPolicy Never and an init container exiting 3: Init:Error, phase Failed."""
    manifest = INIT_POD.replace("NAME", "badinit").replace("POLICY", "Never")
    node.kubectl("apply", "-f", "-", input=manifest.replace("CODE", "3"))
    seen = statuses_until(node, "badinit", "Init:Error")
    assert seen[-1] == "Init:Error", seen
    wait_for(lambda: (pod_json(node, "badinit") or {}).get("status", {}).get("phase")
             == "Failed")


SERVICE_ENV = """
apiVersion: v1
kind: Service
metadata: {name: redis-master}
spec:
  ports: [{name: redis, port: 6379}]
  selector: {app: redis}
---
apiVersion: v1
kind: Pod
metadata: {name: envs}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [sh, -c, env | sort]
    env: [{name: REDIS_URL, value: "redis://$(REDIS_MASTER_SERVICE_HOST):6379"}]
"""


def test_containers_get_the_service_variables(node: DaemonProcess) -> None:
    """The kubernetes Service exists at the range's first address (port 443 -> the API),
    and a container sees it and its namespace's Services as *_SERVICE_HOST/PORT variables."""
    svc = json.loads(node.kubectl("get", "service", "kubernetes", "-o", "json").stdout)
    assert (svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]) == ("10.43.0.1", 443)
    eps = json.loads(node.kubectl("get", "endpoints", "kubernetes", "-o", "json").stdout)
    assert eps["subsets"][0]["ports"][0]["port"] == node.port
    # what pods dial is in the serving certificate, so in-cluster clients can verify it
    pem = ssl.get_server_certificate(("127.0.0.1", node.port))
    san = x509.load_pem_x509_certificate(pem.encode()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("10.43.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc.cluster.local" in san.get_values_for_type(x509.DNSName)
    node.kubectl("apply", "-f", "-", input=SERVICE_ENV)
    ip = json.loads(node.kubectl("get", "service", "redis-master", "-o", "json").stdout)[
        "spec"]["clusterIP"]

    def completed() -> bool:
        pod = pod_json(node, "envs")
        return pod is not None and pod["status"].get("phase") == "Succeeded"
    wait_for(completed)
    env = dict(line.split("=", 1) for line in node.kubectl("logs", "envs").stdout.splitlines()
               if "=" in line)
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["REDIS_MASTER_SERVICE_HOST"] == ip
    assert env["REDIS_MASTER_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_MASTER_PORT_6379_TCP"] == f"tcp://{ip}:6379"
    assert env["REDIS_URL"] == f"redis://{ip}:6379"
