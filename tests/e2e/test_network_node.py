"""Services, cluster DNS and NetworkPolicy through a real node, the way a user checks them:
pods made with kubectl, requests made from inside a client pod with busybox wget/nslookup,
NodePort from another namespace on the segment ("outside").

The node runs in a namespace this module made (the network rule); "outside" is a second
namespace on the same segment that also runs the upstream DNS stand-in the node forwards to.
"""

from __future__ import annotations

import collections
import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster_support import Fabric, Host, NetnsDaemon, import_image, running, wait_until  # noqa: E402
from node_support import FAST_BACKOFF, busybox_oci  # noqa: E402, F401 - fixture

NODE_ADDR = "10.213.0.10"
OUTSIDE_ADDR = "10.213.0.254"
OUTSIDE_NAME = "upstream.example.org"
UPSTREAM_DNS = textwrap.dedent(f"""
    import socketserver
    from dnslib import A, QTYPE, RR, DNSRecord
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            q = DNSRecord.parse(data)
            r = q.reply()
            if str(q.q.qname).rstrip(".") != "{OUTSIDE_NAME}":
                r.header.rcode = 3  # NXDOMAIN
            elif q.q.qtype == QTYPE.A:  # (AAAA: the name exists, no such record)
                r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("{OUTSIDE_ADDR}"), ttl=60))
            sock.sendto(r.pack(), self.client_address)
    print("serving", flush=True)
    socketserver.UDPServer(("{OUTSIDE_ADDR}", 53), H).serve_forever()
""")

WEB = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: web}}
spec:
  {extra}
  containers:
  - name: web
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe:
      exec: {{command: ["test", "-f", "/tmp/ready"]}}
      periodSeconds: 1
      failureThreshold: 1
"""

CLIENT = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {labels}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sleep", "3600"]
"""

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: peers}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory,
        busybox_oci: Path) -> Iterator[tuple[NetnsDaemon, Host]]:  # noqa: F811
    root = tmp_path_factory.mktemp("netnode")
    with Fabric() as fabric:
        host = fabric.add_host("n1", NODE_ADDR)
        outside = fabric.add_host("out", OUTSIDE_ADDR)
        resolv = root / "upstream-resolv.conf"
        resolv.write_text(f"nameserver {OUTSIDE_ADDR}\nsearch example.org\n")
        dns = outside.popen(sys.executable, "-c", UPSTREAM_DNS)
        node = NetnsDaemon(host, root / "n1", [*FAST_BACKOFF, "--resolv-conf", str(resolv)])
        import_image(node, busybox_oci)
        try:
            with running(node):
                node.kubectl("apply", "-f", "-", input=SERVICES)
                for i in range(3):
                    node.kubectl("apply", "-f", "-", input=WEB.format(name=f"web-{i}", extra=""))
                node.kubectl("apply", "-f", "-", input=CLIENT.format(name="client", labels="{role: client}"))
                node.kubectl("wait", "--for=condition=Ready", "pod", "--all", "--timeout=90s",
                             timeout=120)
                yield node, outside
        finally:
            dns.kill()
            dns.wait()


def sh(node: NetnsDaemon, pod: str, script: str, check: bool = True, timeout: float = 120) -> str:
    res = node.kubectl("exec", pod, "--", "sh", "-c", script, check=check, timeout=timeout)
    return res.stdout


def cluster_ip(node: NetnsDaemon, svc: str, ns: str = "default") -> str:
    obj = json.loads(node.kubectl("get", "svc", svc, "-n", ns, "-o", "json").stdout)
    return str(obj["spec"]["clusterIP"])


def hits(node: NetnsDaemon, url: str, n: int, pod: str = "client") -> collections.Counter[str]:
    out = sh(node, pod, f"for i in $(seq {n}); do timeout 3 wget -q -O- {url} || echo FAIL; done")
    return collections.Counter(line.strip() for line in out.splitlines() if line.strip())


def test_cluster_ip_balances_over_all_ready_backends(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    counts = hits(node, f"http://{cluster_ip(node, 'web')}/", 300)
    assert set(counts) == {"web-0", "web-1", "web-2"}, counts
    assert all(c >= 60 for c in counts.values()), counts  # each at least 20% of 300


def test_an_unready_backend_stops_getting_traffic_within_two_seconds(
        net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    url = f"http://{cluster_ip(node, 'web')}/"
    sh(node, "web-2", "rm /tmp/ready")
    try:
        def unready() -> bool:
            pod = json.loads(node.kubectl("get", "pod", "web-2", "-o", "json").stdout)
            conds = pod["status"].get("conditions") or []
            return any(c["type"] == "Ready" and c["status"] == "False" for c in conds)
        wait_until(unready, timeout=15, every=0.1)
        time.sleep(2.0)
        counts = hits(node, url, 60)
        assert "web-2" not in counts and set(counts) == {"web-0", "web-1"}, counts
    finally:
        sh(node, "web-2", "touch /tmp/ready")
        wait_until(lambda: "web-2" in hits(node, url, 30), timeout=20)


def test_client_ip_affinity_sticks_to_one_backend(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    counts = hits(node, f"http://{cluster_ip(node, 'web-sticky')}/", 40)
    assert len(counts) == 1 and "FAIL" not in counts, counts


def test_node_port_answers_from_outside_the_node(net: tuple[NetnsDaemon, Host]) -> None:
    node, outside = net
    svc = json.loads(node.kubectl("get", "svc", "web-np", "-o", "json").stdout)
    port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    seen = set()
    for _ in range(30):
        res = outside.run("busybox", "timeout", "3", "busybox", "wget", "-q", "-O-",
                          f"http://{NODE_ADDR}:{port}/", check=False)
        seen.add(res.stdout.strip() if res.returncode == 0 else "FAIL")
    assert seen <= {"web-0", "web-1", "web-2"} and len(seen) >= 2, seen


def test_dns_names_from_inside_a_pod(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    ip = cluster_ip(node, "web")
    out = sh(node, "client", "nslookup web.default.svc.cluster.local")
    assert ip in out, out
    # the search path: a bare service name works for wget
    assert sh(node, "client", "timeout 5 wget -q -O- http://web/").strip() in {"web-0", "web-1", "web-2"}
    resolv = sh(node, "client", "cat /etc/resolv.conf")
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in resolv
    assert "options ndots:5" in resolv


def test_headless_service_has_one_record_per_ready_pod(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    pod_ips = {json.loads(node.kubectl("get", "pod", f"web-{i}", "-o", "json").stdout)
               ["status"]["podIP"] for i in range(3)}
    out = sh(node, "client", "nslookup peers.default.svc.cluster.local")
    answered = {line.split()[-1] for line in out.splitlines()
                if line.startswith("Address") and "#" not in line}
    assert pod_ips <= answered, out


def test_srv_lists_named_ports_and_unknown_names_are_nxdomain(
        net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    out = sh(node, "client", "nslookup -type=srv _http._tcp.web.default.svc.cluster.local")
    assert "80" in out and "web.default.svc.cluster.local" in out, out
    res = node.kubectl("exec", "client", "--", "nslookup", "nosuch.default.svc.cluster.local",
                       check=False)
    assert res.returncode != 0 and "NXDOMAIN" in (res.stdout + res.stderr), res


def test_pod_hostname_and_subdomain_resolve(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    node.kubectl("apply", "-f", "-", input=WEB.format(
        name="web-named", extra="hostname: alpha\n  subdomain: peers"))
    node.kubectl("wait", "--for=condition=Ready", "pod/web-named", "--timeout=60s", timeout=90)
    ip = json.loads(node.kubectl("get", "pod", "web-named", "-o", "json").stdout)["status"]["podIP"]
    out = wait_until(lambda: (o := sh(node, "client",
                                       "nslookup alpha.peers.default.svc.cluster.local",
                                       check=False)) and ip in o and o, timeout=10)
    assert ip in out
    node.kubectl("delete", "pod", "web-named", "--wait=false")


def test_outside_names_are_forwarded_upstream(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    out = sh(node, "client", f"nslookup {OUTSIDE_NAME}")
    assert OUTSIDE_ADDR in out, out


DENY_ALL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: locked}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""
ALLOW_FRIENDS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-friends, namespace: locked}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {role: friend}}
    ports: [{port: 8080, protocol: TCP}]
"""


def test_network_policy_denies_then_admits_one_label(net: tuple[NetnsDaemon, Host]) -> None:
    node, _ = net
    node.kubectl("create", "namespace", "locked")
    node.kubectl("apply", "-n", "locked", "-f", "-", input=WEB.format(name="vault", extra=""))
    node.kubectl("apply", "-f", "-", input=CLIENT.format(name="friend", labels="{role: friend}"))
    node.kubectl("wait", "--for=condition=Ready", "pod/friend", "--timeout=60s", timeout=90)
    node.kubectl("wait", "-n", "locked", "--for=condition=Ready", "pod/vault", "--timeout=60s",
                 timeout=90)
    vault = json.loads(node.kubectl("get", "pod", "-n", "locked", "vault", "-o", "json")
                       .stdout)["status"]["podIP"]
    url = f"http://{vault}:8080/"
    probe = f"timeout 3 wget -q -O- {url} || echo BLOCKED"
    assert sh(node, "client", probe).strip() == "vault"  # open before any policy

    node.kubectl("apply", "-f", "-", input=DENY_ALL)
    wait_until(lambda: sh(node, "client", probe).strip() == "BLOCKED", timeout=10)
    assert sh(node, "friend", probe).strip() == "BLOCKED"

    node.kubectl("apply", "-f", "-", input=ALLOW_FRIENDS)
    wait_until(lambda: sh(node, "friend", probe).strip() == "vault", timeout=10)
    assert sh(node, "client", probe).strip() == "BLOCKED"  # no friend label: still denied
    node.kubectl("delete", "namespace", "locked", "--wait=false")
