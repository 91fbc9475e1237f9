"""The node agent inside the real daemon: READY=1 only once the Node is registered,
`--no-run-pods` runs no agent, and a pod the daemon cannot run reports why."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from .conftest import DaemonProcess, drain_notifications


def test_ready_only_once_the_node_is_registered(daemon_factory: type[DaemonProcess],
                                                tmp_path: Path) -> None:
    """READY=1 comes after 'registering the node', and by then the Node is Ready."""
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(notify_path))
        listener.settimeout(0.2)
        d = daemon_factory("agent", extra_args=["--node-name", "edge-7"],
                           env={"NOTIFY_SOCKET": str(notify_path)})
        d.spawn()
        messages = drain_notifications(listener, until="READY=1", timeout=20)
        node = json.loads(d.kubectl("get", "node", "edge-7", "-o", "json").stdout)
    text = "\n".join(messages)
    assert "READY=1" in text
    assert text.index("STATUS=registering the node") < text.index("READY=1")
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "rkt-style://minikube13"
    lease = json.loads(d.kubectl("get", "lease", "-n", "kube-node-lease", "edge-7",
                                 "-o", "json").stdout)
    assert lease["spec"]["holderIdentity"] == "edge-7"


def test_no_run_pods_registers_no_node(daemon_factory: type[DaemonProcess]) -> None:
    """--no-run-pods: an API-only daemon, no Node, pods stay Pending."""
    d = daemon_factory("api-only", extra_args=["--no-run-pods"])
    d.start()
    assert d.kubectl("get", "nodes", "-o", "name").stdout.strip() == ""
    assert "node agent" not in d.log()


def test_a_pod_from_a_forbidden_registry_reports_the_pull_error(
        fresh_daemon: DaemonProcess) -> None:
    """Test daemons pull only from loopback: a docker.io image reads ErrImagePull, then
    ImagePullBackOff, with a Failed event; deleting it still works."""
    fresh_daemon.kubectl("run", "remote", "--image=docker.io/library/nginx:1.25",
                         "--restart=Never")
    deadline = time.monotonic() + 20
    status = ""
    while time.monotonic() < deadline and status not in ("ErrImagePull", "ImagePullBackOff"):
        out = fresh_daemon.kubectl("get", "pod", "remote", "--no-headers").stdout.split()
        status = out[2] if len(out) > 2 else ""
        time.sleep(0.2)
    assert status in ("ErrImagePull", "ImagePullBackOff")
    events = fresh_daemon.kubectl("get", "events", "--field-selector",
                                  "involvedObject.name=remote").stdout
    assert "Failed" in events and "not allowed" in events
    fresh_daemon.kubectl("delete", "pod", "remote", "--wait=true", timeout=60)
    assert "remote" not in fresh_daemon.kubectl("get", "pods", "-o", "name").stdout
