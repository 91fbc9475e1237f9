"""Cluster DNS test helpers: a stand-in upstream resolver (dnslib on asyncio, UDP + TCP),
a registry seeded with objects, and a command-line driver so both can run inside a network
namespace the test made (`ip netns exec NS python dns_support.py serve|upstream ...`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord  # noqa: E402

from minikube13.dns.service import DnsService, start_dns  # noqa: E402
from minikube13.model import kinds  # noqa: E402
from minikube13.registry.objects import ObjectRegistry  # noqa: E402
from minikube13.registry.options import WriteOptions  # noqa: E402
from minikube13.testing.memory_store import MemoryStore  # noqa: E402

OUTSIDE_TTL = 300
BIG_NAME = "big.outside.test"  # answered with more addresses than fit a UDP reply


class StandInResolver:
    """The "real" upstream: answers names from `records` (A), NXDOMAIN with an SOA for the
    rest (and an SOA with NOERROR for other types), and counts every question it is asked
    by (lower-case name, type, transport)."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.records[BIG_NAME] = [f"198.51.100.{i}" for i in range(1, 101)]
        self.asked: Counter[tuple[str, str, str]] = Counter()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    def answer(self, data: bytes, transport: str) -> bytes:
        query = DNSRecord.parse(data)
        name = str(query.q.qname).rstrip(".").lower()
        self.asked[(name, QTYPE.get(query.q.qtype), transport)] += 1
        reply = query.reply(aa=1)
        found = self.records.get(name)
        if found is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif query.q.qtype == QTYPE.A:
            for ip in found:
                reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=OUTSIDE_TTL, rdata=A(ip)))
        if not reply.rr:
            reply.add_auth(RR("test.", QTYPE.SOA, ttl=60,
                              rdata=SOA("ns.test.", "h.test.", (1, 60, 60, 60, 60))))
        packed = bytes(reply.pack())
        if transport == "udp" and len(packed) > 512:
            packed = bytes(reply.truncate().pack())
        return packed

    async def start(self, host: str, port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        resolver = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.transport.sendto(resolver.answer(data, "udp"), addr)

        self._udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(host, port))
        port = self._udp.get_extra_info("sockname")[1]
        self._tcp = await asyncio.start_server(self._serve_tcp, host, port)
        return port

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        try:
            size, = struct.unpack("!H", await reader.readexactly(2))
            reply = self.answer(await reader.readexactly(size), "tcp")
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        finally:
            writer.close()

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()


async def seeded_registry(objects: list[dict[str, Any]]) -> tuple[MemoryStore, ObjectRegistry]:
    """A registry on an in-memory store holding these objects (any v1 kind, namespaced)."""
    store = MemoryStore()
    await store.start()
    registry = ObjectRegistry(store)
    for obj in objects:
        await create(registry, obj)
    return store, registry


async def create(registry: ObjectRegistry, obj: dict[str, Any]) -> None:
    info = kinds.find_kind("v1", obj["kind"])
    assert info is not None, obj["kind"]
    namespace = obj["metadata"]["namespace"]
    await registry.ensure_namespace(namespace)
    status = obj.get("status")
    await registry.create(info, namespace, obj, WriteOptions())
    if status:
        await registry.patch(info, namespace, obj["metadata"]["name"],
                             "application/merge-patch+json", {"status": status},
                             WriteOptions(), subresource="status")


async def _serve(args: argparse.Namespace) -> None:
    host, port = args.listen.rsplit(":", 1)
    store, registry = await seeded_registry(json.loads(Path(args.objects).read_text()))
    dns: DnsService = await start_dns(registry, (host, int(port)), "cluster.local",
                                      args.resolv_conf)
    await asyncio.wait_for(dns.feed.synced.wait(), 10)
    print("ready", dns.address[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await dns.close()
    await store.close()


async def _upstream(args: argparse.Namespace) -> None:
    host, port = args.listen.rsplit(":", 1)
    resolver = StandInResolver(json.loads(args.records))
    await resolver.start(host, int(port))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps({" ".join(k): c for k, c in resolver.asked.items()}), flush=True)
    resolver.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--listen", required=True)
    serve.add_argument("--objects", required=True)
    serve.add_argument("--resolv-conf", required=True)
    upstream = sub.add_parser("upstream")
    upstream.add_argument("--listen", required=True)
    upstream.add_argument("--records", required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args) if args.mode == "serve" else _upstream(args))


if __name__ == "__main__":
    main()
