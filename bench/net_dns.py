"""Cluster DNS benchmark: queries/s one node's DNS server answers over loopback UDP.

Usage: .venv/bin/python bench/net_dns.py [--runs 5] [--seconds 3] [--window 256]
       [--services 1000] [--endpoints 10000]

Method (printed with the numbers): the real DnsServer (minikube13/dns/server.py) runs in its
own process (one asyncio loop, as in the daemon) on 127.0.0.x and a free port, with a zone
built by build_snapshot from N ClusterIP services (a named port each) plus headless services
holding M ready endpoint addresses (10 per service), and an upstream stand-in (a tiny dnslib
responder, TTL 300) on another loopback address. The load generator is a second process
with one UDP socket that keeps `window` queries outstanding: it sends a window of queries,
then sends one new query for every answer it receives (closed loop), re-sending the window
after 200 ms of silence (a lost packet). qps = answers received / seconds of the run, after
a 0.5 s warm-up. Each mix runs `runs` times; the median is reported, with min and max.
Mixes: service A (one ClusterIP service name), search path (what ndots:5 makes a pod send for
`svc.otherns`: 2 NXDOMAINs then the hit, AAAA too), headless A (10 records), SRV (ClusterIP
named port), outside (a name outside the cluster answered from the forwarding cache), and
"service A (no ready answers)": the first mix against a second server in the same process with
the ready-made answer cache (fastpath.py) off, so every query is parsed, answered and packed.
It prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dnslib import QTYPE, RR, A, DNSRecord  # noqa: E402

from minikube13.dns.fastpath import AnswerCache  # noqa: E402
from minikube13.dns.server import DnsServer, UpstreamList  # noqa: E402
from minikube13.dns.snapshot import build_snapshot  # noqa: E402

SERVER = "127.0.0.153"
UPSTREAM = "127.0.0.154"
PER_HEADLESS = 10


def zone(services: int, endpoints: int) -> tuple[list[Any], list[Any]]:
    svcs: list[Any] = []
    eps: list[Any] = []
    for i in range(services):
        svcs.append({"metadata": {"namespace": f"ns{i % 20}", "name": f"svc{i}"},
                     "spec": {"clusterIP": f"10.43.{i // 250}.{i % 250 + 1}",
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    for h in range(max(1, endpoints // PER_HEADLESS)):
        svcs.append({"metadata": {"namespace": f"ns{h % 20}", "name": f"hl{h}"},
                     "spec": {"clusterIP": "None"}})
        base = h * PER_HEADLESS
        addresses = [{"ip": f"10.42.{(base + j) // 250}.{(base + j) % 250 + 1}"}
                     for j in range(PER_HEADLESS)]
        eps.append({"metadata": {"namespace": f"ns{h % 20}", "name": f"hl{h}"},
                    "subsets": [{"addresses": addresses,
                                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]})
    return svcs, eps


class _Upstream(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = DNSRecord.parse(data)
        reply = query.reply()
        reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=300, rdata=A("192.0.2.10")))
        self.transport.sendto(reply.pack(), addr)


def serve(args: argparse.Namespace, ready: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        up_port = (await loop.create_datagram_endpoint(_Upstream, local_addr=(UPSTREAM, 0))
                   )[0].get_extra_info("sockname")[1]
        conf = Path(args.tmp) / "resolv.conf"
        conf.write_text(f"nameserver {UPSTREAM}\n")
        server = DnsServer((SERVER, 0), "cluster.local",
                           UpstreamList(conf, (SERVER, 0), port=up_port))
        plain = DnsServer((SERVER, 0), "cluster.local",
                          UpstreamList(conf, (SERVER, 0), port=up_port))
        plain.answers = AnswerCache(max_entries=0)
        svcs, eps = zone(args.services, args.endpoints)
        started = time.perf_counter()
        snapshot = build_snapshot(svcs, eps, [], "cluster.local")
        build_s = time.perf_counter() - started
        for each in (server, plain):
            each.set_snapshot(snapshot)
            await each.start()
        ready.send((server.address[1], plain.address[1], build_s))
        await asyncio.Event().wait()
    asyncio.run(main())


def packets(mix: str) -> list[bytes]:
    def q(name: str, qtype: str = "A") -> bytes:
        return bytes(DNSRecord.question(name, qtype).pack())
    if mix.startswith("service A"):
        return [q("svc7.ns7.svc.cluster.local")]
    if mix == "search path":
        out = []
        for suffix in ("ns1.svc.cluster.local", "svc.cluster.local"):
            out += [q(f"svc7.ns7.{suffix}"), q(f"svc7.ns7.{suffix}", "AAAA")]
        return out
    if mix == "headless A":
        return [q("hl3.ns3.svc.cluster.local")]
    if mix == "SRV":
        return [q("_http._tcp.svc7.ns7.svc.cluster.local", "SRV")]
    return [q("www.example.com")]


def load(port: int, mix: str, seconds: float, window: int) -> float:
    queries = packets(mix)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect((SERVER, port))
    sock.settimeout(0.2)
    counter = 0

    def send() -> None:
        nonlocal counter
        counter += 1
        packet = bytearray(queries[counter % len(queries)])
        struct.pack_into("!H", packet, 0, counter & 0xFFFF)
        sock.send(packet)

    for _ in range(window):
        send()
    warm_end = time.perf_counter() + 0.5
    answers, start = 0, 0.0
    while True:
        try:
            sock.recv(4096)
        except TimeoutError:
            for _ in range(window):
                send()
            continue
        now = time.perf_counter()
        if start:
            answers += 1
            if now - start >= seconds:
                break
        elif now >= warm_end:
            start = now
        send()
    sock.close()
    return answers / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10000)
    parser.add_argument("--mixes", default="service A,search path,headless A,SRV,outside,"
                                           "service A (no ready answers)")
    args = parser.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        here, there = mp.Pipe()
        proc = mp.get_context("fork").Process(target=serve, args=(args, there), daemon=True)
        proc.start()
        port, plain_port, build_s = here.recv()
        print("Method:" + __doc__.split("numbers):", 1)[1].split("It prints")[0].rstrip())
        print(f"zone: {args.services} services, {args.endpoints} headless endpoints; "
              f"snapshot built in {build_s * 1000:.0f} ms; window {args.window}")
        print(f"{'mix':<28} {'median qps':>10} {'min':>8} {'max':>8}")
        for mix in args.mixes.split(","):
            target = plain_port if "no ready" in mix else port
            runs = [load(target, mix, args.seconds, args.window) for _ in range(args.runs)]
            print(f"{mix:<28} {statistics.median(runs):>10.0f} {min(runs):>8.0f} "
                  f"{max(runs):>8.0f}")
        proc.kill()


if __name__ == "__main__":
    main()
