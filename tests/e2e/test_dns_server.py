"""Cluster DNS end to end: the real server (UDP + TCP) answering real clients — dnslib and
busybox nslookup — on loopback, with a stand-in upstream resolver on another loopback
address; and a "pod" in a test-made namespace resolving by its resolv.conf search path,
with outside names forwarded to a resolver in an "outside" namespace.

Network rule: only 127.0.13.x and addresses inside namespaces made here; no real upstream."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dns_support import BIG_NAME, StandInResolver, create, seeded_registry  # noqa: E402

from minikube13.dns.resolvconf import pod_resolv_conf  # noqa: E402
from minikube13.dns.service import DnsService, start_dns  # noqa: E402
from minikube13.registry.objects import ObjectRegistry  # noqa: E402
from minikube13.testing.memory_store import MemoryStore  # noqa: E402

HOST = "127.0.13.53"
UPSTREAM = "127.0.13.54"
SUPPORT = str(Path(__file__).resolve().parent / "dns_support.py")
OUTSIDE = {"www.outside.test": ["192.0.2.80"]}


def service(ns: str, name: str, cluster_ip: str, ports: list[Any]) -> dict[str, Any]:
    return {"kind": "Service", "metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": cluster_ip, "ports": ports}}


def pod(ns: str, name: str, ip: str, **spec: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {"namespace": ns, "name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
            "status": {"podIP": ip}}


OBJECTS: list[dict[str, Any]] = [
    service("ns1", "web", "10.43.0.10", [{"name": "http", "port": 80}]),
    service("ns2", "web", "10.43.0.20", [{"name": "http", "port": 80}]),
    service("ns1", "db", "None", [{"name": "pg", "port": 5432}]),
    {"kind": "Endpoints", "metadata": {"namespace": "ns1", "name": "db"},
     "subsets": [{"addresses": [{"ip": "10.42.0.5", "hostname": "db-0"},
                                {"ip": "10.42.0.6", "hostname": "db-1"},
                                {"ip": "10.42.0.7"}],
                  "notReadyAddresses": [{"ip": "10.42.0.8", "hostname": "db-2"}],
                  "ports": [{"name": "pg", "port": 5432}]}]},
    pod("ns1", "db-0", "10.42.0.5", hostname="db-0", subdomain="db"),
    pod("ns1", "client", "10.42.0.9"),
]


@dataclass
class Lab:
    dns: DnsService
    upstream: StandInResolver
    registry: ObjectRegistry

    @property
    def port(self) -> int:
        return self.dns.address[1]

    async def query(self, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
        q = DNSRecord.question(name, qtype)
        data = await asyncio.to_thread(q.send, HOST, self.port, tcp, 3)
        return DNSRecord.parse(data)

    async def nslookup(self, name: str, qtype: str = "") -> tuple[int, str]:
        """busybox nslookup against our server (an address: a PTR lookup)."""
        flags = [f"-type={qtype}"] if qtype else []
        proc = await asyncio.create_subprocess_exec(
            "busybox", "nslookup", *flags, "-timeout=2", name,
            f"{HOST}:{self.port}", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
        return proc.returncode or 0, out.decode()


async def _start_lab(tmp_path: Path, resolv: str | None = None,
                     upstream_port: int | None = None) -> tuple[Lab, MemoryStore]:
    """Our server on HOST; upstreams: the stand-in, or `resolv` at `upstream_port`."""
    upstream = StandInResolver(OUTSIDE)
    up_port = await upstream.start(UPSTREAM)
    conf = tmp_path / "resolv.conf"
    conf.write_text(resolv or f"nameserver {UPSTREAM}\n")
    store, registry = await seeded_registry(OBJECTS)
    dns = await start_dns(registry, (HOST, 0), "cluster.local", conf,
                          upstream_port=upstream_port or up_port)
    await asyncio.wait_for(dns.feed.synced.wait(), 10)
    return Lab(dns, upstream, registry), store


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Lab]:
    started, store = await _start_lab(tmp_path)
    yield started
    await started.dns.close()
    started.upstream.close()
    await store.close()


def addresses(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr if rr.rtype in (QTYPE.A, QTYPE.AAAA))


async def test_nslookup_finds_services_headless_pods_and_srv(lab: Lab) -> None:
    """What a user checks with nslookup: ClusterIP, headless (ready only), PetSet names,
    SRV, PTR, and NXDOMAIN for an unknown name."""
    rc, out = await lab.nslookup("web.ns1.svc.cluster.local")
    assert rc == 0 and "Address: 10.43.0.10" in out, out
    rc, out = await lab.nslookup("db.ns1.svc.cluster.local")
    assert rc == 0 and all(f"Address: 10.42.0.{i}" in out for i in (5, 6, 7)), out
    assert "10.42.0.8" not in out  # not ready
    rc, out = await lab.nslookup("db-1.db.ns1.svc.cluster.local")
    assert rc == 0 and "Address: 10.42.0.6" in out, out
    rc, out = await lab.nslookup("_http._tcp.web.ns1.svc.cluster.local", "srv")
    assert rc == 0 and "10 100 80 web.ns1.svc.cluster.local" in out, out
    rc, out = await lab.nslookup("_pg._tcp.db.ns1.svc.cluster.local", "srv")
    assert rc == 0 and "10 100 5432 db-0.db.ns1.svc.cluster.local" in out, out
    rc, out = await lab.nslookup("10.43.0.10")
    assert rc == 0 and "web.ns1.svc.cluster.local" in out, out
    rc, out = await lab.nslookup("10.42.0.9")
    assert rc == 0 and "10-42-0-9.ns1.pod.cluster.local" in out, out
    rc, out = await lab.nslookup("nope.ns1.svc.cluster.local")
    assert rc != 0 and "NXDOMAIN" in out, out


async def test_answers_over_udp_and_tcp_with_ttl_5(lab: Lab) -> None:
    for tcp in (False, True):
        reply = await lab.query("WEB.ns1.svc.Cluster.Local", tcp=tcp)
        assert addresses(reply) == ["10.43.0.10"] and reply.rr[0].ttl == 5
        assert reply.header.aa and str(reply.q.qname) == "WEB.ns1.svc.Cluster.Local."
    search = await lab.query("web.ns1.svc.cluster.local.ns1.svc.cluster.local", "AAAA")
    assert search.header.rcode == RCODE.NXDOMAIN
    nodata = await lab.query("web.ns1.svc.cluster.local", "AAAA")
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr
    assert lab.upstream.asked == {}  # cluster names never leave the node


async def test_outside_names_are_forwarded_once_then_cached(lab: Lab) -> None:
    first = await lab.query("www.outside.test")
    second = await lab.query("WWW.outside.test")
    assert addresses(first) == addresses(second) == ["192.0.2.80"]
    assert not first.header.aa and 0 < second.rr[0].ttl <= first.rr[0].ttl <= 300
    assert str(second.q.qname) == "WWW.outside.test."
    for _ in range(2):
        missing = await lab.query("missing.outside.test")
        assert missing.header.rcode == RCODE.NXDOMAIN
    assert lab.upstream.asked[("www.outside.test", "A", "udp")] == 1
    assert lab.upstream.asked[("missing.outside.test", "A", "udp")] == 1
    rc, out = await lab.nslookup("www.outside.test")
    assert rc == 0 and "Address: 192.0.2.80" in out, out
    unknown_ptr = await lab.query("77.0.42.10.in-addr.arpa", "PTR")  # not ours: upstream
    assert unknown_ptr.header.rcode == RCODE.NXDOMAIN
    assert lab.upstream.asked[("77.0.42.10.in-addr.arpa", "PTR", "udp")] == 1


async def test_big_answers_are_truncated_over_udp_and_whole_over_tcp(lab: Lab) -> None:
    """The upstream truncates to us; we ask it over TCP; our UDP reply is truncated for a
    plain client, which then gets all of it over TCP."""
    udp = await lab.query(BIG_NAME)
    assert udp.header.tc and not udp.rr
    tcp = await lab.query(BIG_NAME, tcp=True)
    assert not tcp.header.tc and len(tcp.rr) == 100
    assert lab.upstream.asked[(BIG_NAME, "A", "tcp")] == 1


async def test_zone_follows_the_registry(lab: Lab) -> None:
    """A service made after start resolves within a second (the NXDOMAIN before it was
    kept ready-made: it must go when the zone changes)."""
    assert (await lab.query("late.ns1.svc.cluster.local")).header.rcode == RCODE.NXDOMAIN
    await create(lab.registry, service("ns1", "late", "10.43.0.30", [{"port": 80}]))
    deadline = asyncio.get_running_loop().time() + 2
    while addresses(await lab.query("late.ns1.svc.cluster.local")) != ["10.43.0.30"]:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def test_many_outstanding_queries_all_get_answers(lab: Lab) -> None:
    """300 queries sent before reading any answer: every one is answered (mixed local
    hits, NXDOMAINs and forwarded names sharing one upstream exchange)."""
    names = ["web.ns1.svc.cluster.local", "x.ns1.svc.cluster.local", "www.outside.test"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.settimeout(3)
    sock.connect((HOST, lab.port))
    for i in range(300):
        q = DNSRecord.question(names[i % 3])
        q.header.id = i
        sock.send(q.pack())
    seen = set()
    for _ in range(300):
        data = await asyncio.to_thread(sock.recv, 4096)
        seen.add(DNSRecord.parse(data).header.id)
    sock.close()
    assert seen == set(range(300))
    assert lab.upstream.asked[("www.outside.test", "A", "udp")] == 1


async def test_tcp_connections_carry_several_queries_and_garbage_is_ignored(lab: Lab) -> None:
    """RFC 7766: one TCP connection, three queries back to back, three answers; a garbage
    datagram and a response sent to us get nothing, and the server goes on answering."""
    reader, writer = await asyncio.open_connection(HOST, lab.port)
    names = ["web.ns1.svc.cluster.local", "web.ns2.svc.cluster.local", "db.ns1.svc.cluster.local"]
    for name in names:
        data = DNSRecord.question(name).pack()
        writer.write(struct.pack("!H", len(data)) + data)
    await writer.drain()
    got = []
    for _ in names:
        size, = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 3))
        got.append(DNSRecord.parse(await reader.readexactly(size)))
    writer.close()
    assert [str(r.q.qname) for r in got] == [n + "." for n in names]
    assert addresses(got[1]) == ["10.43.0.20"]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    sock.connect((HOST, lab.port))
    for junk in (b"\x00\x01garbage", DNSRecord.question("web.ns1.svc.cluster.local").reply().pack()):
        sock.send(junk)
        with pytest.raises(TimeoutError):
            sock.recv(512)
    sock.close()
    assert addresses(await lab.query("web.ns1.svc.cluster.local")) == ["10.43.0.10"]


async def test_servfail_when_no_upstream_answers(tmp_path: Path) -> None:
    """A silent upstream (packets dropped) and a refused one: SERVFAIL, not silence."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.13.56", 0))
    try:
        started, store = await _start_lab(tmp_path,
                                          "nameserver 127.0.13.56\nnameserver 127.0.13.57\n",
                                          upstream_port=silent.getsockname()[1])
        try:
            t0 = asyncio.get_running_loop().time()
            reply = await started.query("www.outside.test")
            assert reply.header.rcode == RCODE.SERVFAIL
            assert asyncio.get_running_loop().time() - t0 < 2.5
            local = await started.query("web.ns1.svc.cluster.local")
            assert addresses(local) == ["10.43.0.10"]  # the cluster still answers
        finally:
            await started.dns.close()
            started.upstream.close()
            await store.close()
    finally:
        silent.close()


# -- in namespaces: a pod's resolv.conf, its search path, and an "outside" resolver ----------


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """A node namespace and an "outside" one joined by a veth (10.99.0.1 <-> 10.99.0.2),
    no route anywhere else; deleted afterwards (their veth goes with them)."""
    tag = secrets.token_hex(3)
    node, outside = f"m13t-dns-{tag}", f"m13t-dnsout-{tag}"
    made: list[str] = []
    try:
        for name in (node, outside):
            ip("netns", "add", name)
            made.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        ip("link", "add", f"m13td{tag}", "netns", node, "type", "veth",
           "peer", "name", f"m13to{tag}", "netns", outside)
        for name, link, address in ((node, f"m13td{tag}", "10.99.0.1/24"),
                                    (outside, f"m13to{tag}", "10.99.0.2/24")):
            ip("-n", name, "addr", "add", address, "dev", link)
            ip("-n", name, "link", "set", link, "up")
        ip("-n", node, "addr", "add", "10.42.0.1/32", "dev", "lo")  # the node's DNS address
        yield node, outside
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _driver(netns: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, SUPPORT, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready"), line
    return proc


def _in_pod(netns: str, resolv_conf: Path, *cmd: str) -> subprocess.CompletedProcess[str]:
    """cmd in the node namespace with resolv_conf as /etc/resolv.conf (a private mount)."""
    script = 'mount --bind "$0" /etc/resolv.conf && exec "$@"'
    return subprocess.run(["ip", "netns", "exec", netns, "unshare", "-m", "sh", "-c", script,
                           str(resolv_conf), *cmd],
                          capture_output=True, text=True, timeout=30)


def test_pod_resolves_short_names_by_search_path_and_outside_names_upstream(
        namespaces: tuple[str, str], tmp_path: Path) -> None:
    node, outside = namespaces
    objects = tmp_path / "objects.json"
    objects.write_text(json.dumps(OBJECTS))
    node_resolv = tmp_path / "node-resolv.conf"
    node_resolv.write_text("nameserver 10.99.0.2\nsearch outside.test\n")
    pod_resolv = tmp_path / "pod-resolv.conf"
    pod_resolv.write_text(pod_resolv_conf("ClusterFirst", False, "10.42.0.1", "ns1",
                                          "cluster.local", node_resolv.read_text()))
    upstream = _driver(outside, "upstream", "--listen", "10.99.0.2:53",
                       "--records", json.dumps(OUTSIDE))
    server = _driver(node, "serve", "--listen", "10.42.0.1:53", "--objects", str(objects),
                     "--resolv-conf", str(node_resolv))
    try:
        for name, full, expected in (
                ("web", "web.ns1.svc.cluster.local", "10.43.0.10"),
                ("web.ns2", "web.ns2.svc.cluster.local", "10.43.0.20"),
                ("db-0.db", "db-0.db.ns1.svc.cluster.local", "10.42.0.5"),
                ("www", "www.outside.test", "192.0.2.80")):
            # glibc (getent): walks the search path with ndots:5, stops at the first hit
            res = _in_pod(node, pod_resolv, "getent", "ahostsv4", name)
            assert res.returncode == 0 and res.stdout.split()[0] == expected, (name, res)
            assert full in res.stdout, (name, res.stdout)
            if "." in name:
                continue  # busybox nslookup searches only dotless names (it ignores ndots)
            # busybox: asks every search domain at once and prints each name it found
            res = _in_pod(node, pod_resolv, "busybox", "nslookup", name)
            assert f"Name:\t{full}\nAddress: {expected}\n" in res.stdout, (name, res.stdout)
        res = _in_pod(node, pod_resolv, "busybox", "nslookup", "nope")
        assert res.returncode != 0 and "NXDOMAIN" in res.stdout + res.stderr, res.stdout
        res = _in_pod(node, pod_resolv, "getent", "ahostsv4", "nope")
        assert res.returncode == 2 and not res.stdout, res
    finally:
        server.communicate("", timeout=30)
        asked_out, _ = upstream.communicate("", timeout=30)
    asked = json.loads(asked_out.strip().splitlines()[-1])
    assert asked.get("www.outside.test A udp") == 1, asked  # forwarded once, then cached
    assert not [n for n in asked if "cluster.local" in n], asked  # cluster names stay home
