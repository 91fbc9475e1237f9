"""Done-when 5 of the network issue: a daemon restarted with 100 pods running keeps their
addresses, and deleting the pods leaves no veth, address file, hostPort rule or route."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_support import Fabric, NetnsDaemon, import_image, running, wait_until  # noqa: E402
from node_support import FAST_BACKOFF, busybox_oci  # noqa: E402, F401 - fixture

NODE_ADDR = "10.213.0.10"
COUNT = 100
WITH_HOST_PORT = 10


def pod_yaml(i: int) -> str:
    port = f", hostPort: {32000 + i}" if i < WITH_HOST_PORT else ""
    return f"""
- apiVersion: v1
  kind: Pod
  metadata: {{name: many-{i}, labels: {{app: many}}}}
  spec:
    terminationGracePeriodSeconds: 0
    containers:
    - name: web
      image: busybox
      command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]
      ports: [{{containerPort: 8080{port}}}]
"""


@pytest.fixture
def node(tmp_path: Path, busybox_oci: Path) -> Iterator[NetnsDaemon]:  # noqa: F811
    with Fabric() as fabric:
        host = fabric.add_host("net-c1", NODE_ADDR)
        d = NetnsDaemon(host, tmp_path / "c1", FAST_BACKOFF)
        import_image(d, busybox_oci)
        with running(d):
            yield d


def pod_ips(node: NetnsDaemon) -> dict[str, str]:
    pods = json.loads(node.kubectl("get", "pods", "-l", "app=many", "-o", "json").stdout)
    return {p["metadata"]["name"]: p["status"].get("podIP", "") for p in pods["items"]}


def fetch(node: NetnsDaemon, pod: str, ip: str, port: int = 8080) -> str:
    return node.kubectl("exec", pod, "--", "wget", "-q", "-O-",
                        f"http://{ip}:{port}/hostname").stdout.strip()


def test_restart_keeps_addresses_and_deleting_100_pods_leaves_nothing(
        node: NetnsDaemon) -> None:
    """100 pods get 100 distinct addresses, keep them over a daemon restart, and once
    deleted leave no veth, IPAM file, nftables rule, route or netns behind."""
    node.kubectl("apply", "-f", "-", timeout=120, input="apiVersion: v1\nkind: List\nitems:"
                 + "".join(pod_yaml(i) for i in range(COUNT)))
    node.kubectl("wait", "--for=condition=Ready", "pod", "-l", "app=many", "--timeout=400s",
                 timeout=420)
    before = pod_ips(node)
    cidr = json.loads(node.kubectl("get", "node", "net-c1", "-o", "json").stdout)["spec"][
        "podCIDR"]
    assert len(set(before.values())) == COUNT
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(cidr) for ip in before.values())
    pods = json.loads(node.kubectl("get", "pods", "-l", "app=many", "-o", "json").stdout)
    uids = {p["metadata"]["uid"] for p in pods["items"]}

    node.restart()
    wait_until(lambda: node.kubectl("get", "pods", check=False).returncode == 0, timeout=60)
    assert pod_ips(node) == before
    assert fetch(node, "many-0", before["many-99"]) == "many-99"
    outside_port = node.host.run("busybox", "wget", "-q", "-O-",
                                 f"http://{NODE_ADDR}:32003/hostname").stdout.strip()
    assert outside_port == "many-3", "hostPorts are in place after the restart"

    node.kubectl("delete", "pods", "-l", "app=many", "--wait=true", "--timeout=400s",
                 timeout=420)
    ipam_dir = node.data_dir / "net" / "ipam"
    wait_until(lambda: sorted(p.name for p in ipam_dir.iterdir()) == ["last_reserved_ip.0"],
               timeout=60)
    assert "m13v" not in node.host.run("ip", "-o", "link").stdout
    assert "minikube13-hostport" not in node.host.run("nft", "list", "tables").stdout
    assert node.host.run("ip", "route", "show", "proto", "113").stdout.strip() == ""
    routes = node.host.run("ip", "-4", "route").stdout.splitlines()
    assert sorted(r.split()[0] for r in routes) == sorted([cidr, "10.213.0.0/24"]), routes
    netns = node.host.run("ip", "netns", "list").stdout
    assert not [u for u in uids if f"m13-{u}" in netns]
