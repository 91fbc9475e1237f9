"""Pod networking through a real daemon, the way a user checks it: pods made with kubectl
get addresses from their node's podCIDR, reach each other, the node and (masqueraded) the
outside; hostPort and hostNetwork pods answer on the node's address. The node runs in a
namespace this module made, "outside" is another namespace on the same segment."""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_support import Fabric, Host, NetnsDaemon, import_image, running  # noqa: E402
from net_support import LISTENER  # noqa: E402
from node_support import FAST_BACKOFF, busybox_oci  # noqa: E402, F401, F811 - fixture

NODE_ADDR, OUTSIDE_ADDR = "10.213.0.10", "10.213.0.254"
PODS = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web, labels: {app: web}}
  spec:
    containers:
    - name: web
      image: busybox
      command: ["httpd", "-f", "-p", "8080", "-h", "/etc"]
      ports: [{containerPort: 8080, hostPort: 31080}]
- apiVersion: v1
  kind: Pod
  metadata: {name: client}
  spec:
    containers: [{name: c, image: busybox, command: ["sleep", "3600"]}]
- apiVersion: v1
  kind: Pod
  metadata: {name: hostnet}
  spec:
    hostNetwork: true
    containers:
    - name: web
      image: busybox
      command: ["httpd", "-f", "-p", "18080", "-h", "/etc"]
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory,
        busybox_oci: Path) -> Iterator[tuple[NetnsDaemon, Host]]:  # noqa: F811
    root = tmp_path_factory.mktemp("netpods")
    with Fabric() as fabric:
        host = fabric.add_host("net-n1", NODE_ADDR)
        outside = fabric.add_host("net-out", OUTSIDE_ADDR)
        node = NetnsDaemon(host, root / "n1", FAST_BACKOFF)
        import_image(node, busybox_oci)
        with running(node):
            node.kubectl("apply", "-f", "-", input=PODS)
            node.kubectl("wait", "--for=condition=Ready", "pod", "--all", "--timeout=90s",
                         timeout=120)
            yield node, outside


def pod(node: NetnsDaemon, name: str) -> dict:
    return json.loads(node.kubectl("get", "pod", name, "-o", "json").stdout)


def sh(node: NetnsDaemon, name: str, script: str, check: bool = True) -> str:
    return node.kubectl("exec", name, "--", "sh", "-c", script, check=check).stdout


def listen(host: Host, address: str, port: int):  # type: ignore[no-untyped-def]
    proc = host.popen(sys.executable, "-c", LISTENER, "tcp", address, str(port))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_pods_get_addresses_from_the_node_pod_cidr(net: tuple[NetnsDaemon, Host]) -> None:
    """The node got a podCIDR; each pod an address in it, hostIP the node's address, and
    the node's DNS address (the gateway) in its resolv.conf."""
    node, _ = net
    cidr = json.loads(node.kubectl("get", "node", "net-n1", "-o", "json").stdout)["spec"][
        "podCIDR"]
    assert ipaddress.ip_network(cidr).subnet_of(ipaddress.ip_network("10.42.0.0/16"))
    web, client = pod(node, "web"), pod(node, "client")
    ips = {web["status"]["podIP"], client["status"]["podIP"]}
    assert len(ips) == 2 and all(ipaddress.ip_address(i) in ipaddress.ip_network(cidr)
                                 for i in ips)
    assert web["status"]["hostIP"] == NODE_ADDR
    gateway = str(ipaddress.ip_network(cidr).network_address + 1)
    assert f"nameserver {gateway}" in sh(node, "client", "cat /etc/resolv.conf")
    assert web["status"]["podIP"] in sh(node, "web", "ip -o -4 addr show eth0")


def test_pods_reach_each_other_their_node_and_outside(net: tuple[NetnsDaemon, Host]) -> None:
    """Pod to pod by IP; pod to its node's address; pod to an outside address arrives
    from the node's address (masquerade)."""
    node, outside = net
    web_ip = pod(node, "web")["status"]["podIP"]
    client_ip = pod(node, "client")["status"]["podIP"]
    assert sh(node, "client", f"wget -q -O- http://{web_ip}:8080/hostname").strip() == "web"
    own = listen(node.host, NODE_ADDR, 9000)
    far = listen(outside, OUTSIDE_ADDR, 9000)
    try:
        assert "echo:" in sh(node, "client", f"echo x | nc -w 3 {NODE_ADDR} 9000")
        assert own.stdout is not None and own.stdout.readline().strip() == client_ip
        assert "echo:" in sh(node, "client", f"echo x | nc -w 3 {OUTSIDE_ADDR} 9000")
        assert far.stdout is not None and far.stdout.readline().strip() == NODE_ADDR
    finally:
        for proc in (own, far):
            proc.kill()
            proc.wait()


def test_host_port_and_host_network_answer_on_the_node_address(
        net: tuple[NetnsDaemon, Host]) -> None:
    """hostPort 31080 leads to the web pod; the hostNetwork pod has the node's address and
    serves on it directly."""
    node, outside = net
    res = outside.run("busybox", "wget", "-q", "-O-",
                      f"http://{NODE_ADDR}:31080/hostname")
    assert res.stdout.strip() == "web"
    assert pod(node, "hostnet")["status"]["podIP"] == NODE_ADDR
    res = outside.run("busybox", "wget", "-q", "-O-",
                      f"http://{NODE_ADDR}:18080/hostname")
    assert res.stdout.strip() == "hostnet"
