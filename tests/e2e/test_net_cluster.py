"""Done-when 1 of the network issue: two nodes, each in its own namespace on a test-made
segment (a server and an agent joined to it): a pod on node A reaches a pod on node B by IP
over TCP and UDP, reaches its own node and the other node, and its traffic to an outside
address (a third namespace) leaves masqueraded as node A."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_support import (  # noqa: E402
    Fabric,
    Host,
    NetnsDaemon,
    import_image,
    node_ready,
    running,
    wait_until,
)
from net_support import CLIENT, LISTENER, enter  # noqa: E402
from node_support import FAST_BACKOFF, busybox_oci  # noqa: E402, F401 - fixture

A_ADDR, B_ADDR, OUTSIDE_ADDR = "10.213.0.10", "10.213.0.20", "10.213.0.254"


def pod_on(name: str, node: str, command: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 0
  containers: [{{name: c, image: busybox, command: ["sh", "-c", "{command}"]}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            busybox_oci: Path) -> Iterator[tuple[NetnsDaemon, NetnsDaemon, Host]]:  # noqa: F811
    root = tmp_path_factory.mktemp("netcluster")
    with Fabric() as fabric:
        a_host, b_host = fabric.add_host("net-a", A_ADDR), fabric.add_host("net-b", B_ADDR)
        outside = fabric.add_host("net-out", OUTSIDE_ADDR)
        server = NetnsDaemon(a_host, root / "a", FAST_BACKOFF)
        import_image(server, busybox_oci)
        with running(server):
            token = server.create_token()
            agent = NetnsDaemon(b_host, root / "b", [*FAST_BACKOFF, "--server",
                                                     server.server_address, "--token", token])
            import_image(agent, busybox_oci)
            with running(agent):
                wait_until(lambda: node_ready(server, "net-b"), timeout=60)
                web = "httpd -f -p 8080 -h /etc"
                for name, node, cmd in (("web-a", "net-a", web), ("web-b", "net-b", web),
                                        ("client-a", "net-a", "sleep 3600")):
                    server.kubectl("apply", "-f", "-", input=pod_on(name, node, cmd))
                server.kubectl("wait", "--for=condition=Ready", "pod", "--all",
                               "--timeout=120s", timeout=150)
                yield server, agent, outside


def pod(d: NetnsDaemon, name: str) -> dict:
    return json.loads(d.kubectl("get", "pod", name, "-o", "json").stdout)


def listen(netns_path: str, proto: str, address: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*enter(netns_path), sys.executable, "-c", LISTENER, proto, address,
                             str(port)], stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def seen(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def test_each_node_has_its_own_pod_cidr(
        cluster: tuple[NetnsDaemon, NetnsDaemon, Host]) -> None:
    server, _, _ = cluster
    nodes = json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in nodes}
    a, b = ipaddress.ip_network(cidrs["net-a"]), ipaddress.ip_network(cidrs["net-b"])
    assert not a.overlaps(b)
    assert ipaddress.ip_address(pod(server, "web-b")["status"]["podIP"]) in b
    assert pod(server, "web-b")["status"]["hostIP"] == B_ADDR


def test_pod_reaches_a_pod_on_the_other_node_over_tcp_and_udp(
        cluster: tuple[NetnsDaemon, NetnsDaemon, Host]) -> None:
    """TCP from inside the pod (busybox wget); UDP from the pod's netns to a listener in
    the other pod's netns; the receiver sees the sender's own pod address."""
    server, _, _ = cluster
    web_b, client = pod(server, "web-b"), pod(server, "client-a")
    b_ip, client_ip = web_b["status"]["podIP"], client["status"]["podIP"]
    out = server.kubectl("exec", "client-a", "--", "wget", "-q", "-O-",
                         f"http://{b_ip}:8080/hostname").stdout
    assert out.strip() == "web-b"
    b_netns = f"/run/netns/m13-{web_b['metadata']['uid']}"
    a_netns = f"/run/netns/m13-{client['metadata']['uid']}"
    udp = listen(b_netns, "udp", "0.0.0.0", 9999)
    try:
        res = subprocess.run([*enter(a_netns), sys.executable, "-c", CLIENT, "udp", b_ip, "9999",
                              "3"], capture_output=True, text=True, timeout=30)
        assert res.stdout.strip() == "echo:hi"
        assert seen(udp) == client_ip
    finally:
        udp.kill()
        udp.wait()


def test_pod_reaches_both_nodes_and_outside_masqueraded(
        cluster: tuple[NetnsDaemon, NetnsDaemon, Host]) -> None:
    server, agent, outside = cluster
    client_ip = pod(server, "client-a")["status"]["podIP"]
    listeners = [listen(server.host.netns_path, "tcp", A_ADDR, 9000),
                 listen(agent.host.netns_path, "tcp", B_ADDR, 9000),
                 listen(outside.netns_path, "tcp", OUTSIDE_ADDR, 9000)]
    try:
        for proc, address, expect in zip(listeners, (A_ADDR, B_ADDR, OUTSIDE_ADDR),
                                         (client_ip, A_ADDR, A_ADDR), strict=True):
            reply = server.kubectl("exec", "client-a", "--", "sh", "-c",
                                   f"echo x | nc -w 3 {address} 9000").stdout
            assert "echo:" in reply, address
            assert seen(proc) == expect, address
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
