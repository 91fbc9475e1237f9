"""The DNS server shell: asyncio UDP + TCP on (address, port), answering from the current
snapshot (resolver.py) and forwarding the rest to the upstream resolvers through a cache.

Local answers are made synchronously in the datagram callback (no task per query), and
repeated ones come ready-made from fastpath.py until the zone changes; only forwarded
queries become tasks, and identical ones in flight share one upstream exchange.
Sockets bind with IP_FREEBIND, so the server may start before its address (the bridge
gateway) exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dnslib import RCODE, DNSRecord

from minikube13.dns import message, resolver, upstream
from minikube13.dns.cache import CacheKey, ResponseCache, cache_key
from minikube13.dns.fastpath import ADDRESS_TYPES, AnswerCache
from minikube13.dns.snapshot import DnsSnapshot

log = logging.getLogger(__name__)
IP_FREEBIND = 15
IPV6_FREEBIND = 78
UPSTREAM_TIMEOUT_S = 1.5   # per upstream: clients (glibc, musl) retry after 2.5-5 s
TCP_IDLE_S = 10.0
MAX_TCP_CLIENTS = 256
MAX_FORWARDS = 1024        # distinct questions in flight upstream
RESOLV_CHECK_S = 2.0       # how often resolv.conf is looked at for changes
RECEIVE_BUFFER = 4 << 20
WARN_EVERY_S = 30.0
Address = tuple[str, int]


class UpstreamList:
    """The upstream resolvers from a resolv.conf file, re-read when it changes."""

    def __init__(self, path: Path | None, own: Address, port: int = upstream.DNS_PORT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.own, self.port, self.clock = path, own, port, clock
        self._stamp: tuple[int, int, int] | None = None
        self._checked = float("-inf")
        self._servers: list[Address] = []

    def current(self) -> list[Address]:
        now = self.clock()
        if self.path is None or now - self._checked < RESOLV_CHECK_S:
            return self._servers
        self._checked = now
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self._stamp:
                text = self.path.read_text()
                self._stamp = stamp
                self._servers = upstream.upstreams_from(text, self.own, self.port)
                log.info("upstreams read path=%s servers=%s", self.path, self._servers)
        except OSError as err:
            if self._stamp is not None or not self._servers:
                log.warning("resolv.conf unreadable path=%s error=%s", self.path, err)
            self._stamp, self._servers = None, []
        return self._servers


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.server.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error error=%s", exc)


class DnsServer:
    def __init__(self, listen: Address, cluster_domain: str, upstreams: UpstreamList, *,
                 cache: ResponseCache | None = None, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.listen = listen
        self.upstreams = upstreams
        self.cache = cache or ResponseCache()
        self.rng = rng or random.SystemRandom()
        self.clock = clock
        self.snapshot = DnsSnapshot.empty(cluster_domain)
        self.answers = AnswerCache()
        self.stats: Counter[str] = Counter()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._pending: dict[CacheKey, asyncio.Task[bytes | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()       # UDP queries waiting upstream
        self._connections: set[asyncio.Task[Any]] = set()  # TCP clients
        self._warned: dict[Address, float] = {}

    @property
    def address(self) -> Address:
        """Where it listens (the real port when it was started on port 0)."""
        assert self._udp is not None
        host, port = self._udp.get_extra_info("sockname")[:2]
        return host, port

    def set_snapshot(self, snapshot: DnsSnapshot) -> None:
        self.snapshot = snapshot
        self.answers.clear()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        udp_sock = _bound(self.listen, socket.SOCK_DGRAM)
        udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self),
                                                           sock=udp_sock)
        self._udp = transport
        tcp_sock = _bound(self.address, socket.SOCK_STREAM)  # the same port as UDP
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock,
                                               limit=message.TCP_LIMIT + 2)
        log.info("dns listening address=%s port=%s", *self.address)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        tasks = [*self._pending.values(), *self._tasks, *self._connections]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._tcp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)
        log.info("dns closed address=%s port=%s", *self.listen)

    # -- UDP -------------------------------------------------------------------------------

    def on_datagram(self, data: bytes, addr: Address) -> None:
        self.stats["queries"] += 1
        ready = self.answers.get(data, self.rng)
        if ready is not None:
            self.stats["local"] += 1
            self._send(ready, addr)
            return
        query = _parse(data)
        if query is None:
            self.stats["malformed"] += 1
            return
        result = self._answer(query)
        if result.reply is not None:
            self.stats["local"] += 1
            packed = message.fit(result.reply, message.udp_limit(query))
            if _repeatable(result.reply):
                self.answers.put(data, packed, rotate=len(result.reply.rr) > 1)
            self._send(packed, addr)
        elif result.action is resolver.Action.FORWARD:
            cached = self._from_cache(query)
            if cached is not None:
                self._send(message.fit(cached, message.udp_limit(query)), addr)
                return
            task = asyncio.ensure_future(self._forward_udp(query, addr))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _send(self, data: bytes, addr: Address) -> None:
        if self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(data, addr)

    async def _forward_udp(self, query: DNSRecord, addr: Address) -> None:
        reply = await self.from_upstream(query)
        self._send(message.fit(reply, message.udp_limit(query)), addr)

    # -- TCP -------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_TCP_CLIENTS or task is None:
            writer.close()
            return
        self._connections.add(task)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_S):
                    size, = struct.unpack("!H", await reader.readexactly(2))
                    data = await reader.readexactly(size)
                reply = await self.respond(data)
                if reply is None:
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def respond(self, data: bytes, limit: int = message.TCP_LIMIT) -> bytes | None:
        """The whole answer to one query (TCP, or a caller's own transport)."""
        self.stats["queries"] += 1
        query = _parse(data)
        if query is None:
            self.stats["malformed"] += 1
            return None
        result = self._answer(query)
        if result.reply is not None:
            self.stats["local"] += 1
            return message.fit(result.reply, limit)
        if result.action is resolver.Action.DROP:
            return None
        reply = self._from_cache(query) or await self.from_upstream(query)
        return message.fit(reply, limit)

    def _answer(self, query: DNSRecord) -> resolver.Answer:
        try:
            return resolver.answer(query, self.snapshot, self.rng)
        except Exception:  # one odd query must not stop the others: SERVFAIL it
            log.exception("answer failed name=%s", query.q.qname)
            return resolver.Answer(resolver.Action.REPLY,
                                   message.error_reply(query, RCODE.SERVFAIL))

    # -- upstream --------------------------------------------------------------------------

    def _from_cache(self, query: DNSRecord) -> DNSRecord | None:
        cached = self.cache.get(query, self.clock())
        if cached is None:
            return None
        self.stats["cache_hits"] += 1
        return upstream.relay(cached, query)

    async def from_upstream(self, query: DNSRecord) -> DNSRecord:
        """The upstream answer to query (shared with identical queries in flight); SERVFAIL
        when no upstream answers."""
        key = cache_key(query)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= MAX_FORWARDS:
                self.stats["servfail"] += 1
                return message.error_reply(query, RCODE.SERVFAIL)
            pending = asyncio.ensure_future(self._exchange(query))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        packed = await asyncio.shield(pending)
        if packed is None:
            self.stats["servfail"] += 1
            return message.error_reply(query, RCODE.SERVFAIL)
        return upstream.relay(DNSRecord.parse(packed), query)

    async def _exchange(self, query: DNSRecord) -> bytes | None:
        """Ask each upstream in turn; the first good answer is cached and returned packed."""
        self.stats["forwarded"] += 1
        out = upstream.outgoing(query, self.rng)
        failed: DNSRecord | None = None
        for server in self.upstreams.current():
            try:
                response = await _ask_udp(server, out)
                if response.header.tc:
                    response = await _ask_tcp(server, out)
            except (OSError, TimeoutError, ValueError) as err:
                self._warn(server, err)
                continue
            if response.header.rcode in (RCODE.SERVFAIL, RCODE.REFUSED):
                failed = response
                continue
            self.cache.put(response, self.clock())
            return bytes(response.pack())
        return bytes(failed.pack()) if failed is not None else None

    def _warn(self, server: Address, err: BaseException) -> None:
        now = self.clock()
        if now - self._warned.get(server, float("-inf")) >= WARN_EVERY_S:
            self._warned[server] = now
            log.warning("upstream failed server=%s port=%s error=%r", *server, err)


async def _ask_udp(server: Address, out: DNSRecord) -> DNSRecord:
    """One exchange over a fresh connected UDP socket (a random source port per query)."""
    loop = asyncio.get_running_loop()
    with socket.socket(_family(server[0]), socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(server)
        await loop.sock_sendall(sock, out.pack())
        async with asyncio.timeout(UPSTREAM_TIMEOUT_S):
            while True:
                response = _parse(await loop.sock_recv(sock, 65535))
                if response is not None and upstream.matches(out, response):
                    return response


async def _ask_tcp(server: Address, out: DNSRecord) -> DNSRecord:
    async with asyncio.timeout(UPSTREAM_TIMEOUT_S):
        reader, writer = await asyncio.open_connection(*server)
        try:
            data = out.pack()
            writer.write(struct.pack("!H", len(data)) + data)
            await writer.drain()
            size, = struct.unpack("!H", await reader.readexactly(2))
            response = _parse(await reader.readexactly(size))
        finally:
            writer.close()
    if response is None or not upstream.matches(out, response):
        raise ValueError("upstream tcp answer does not match")
    return response


def _repeatable(reply: DNSRecord) -> bool:
    """A local answer that may be sent again (rotated) while the zone stays the same."""
    return reply.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN) and \
        (len(reply.rr) <= 1 or all(rr.rtype in ADDRESS_TYPES for rr in reply.rr))


def _parse(data: bytes) -> DNSRecord | None:
    try:
        return DNSRecord.parse(data)
    except Exception:  # untrusted bytes: dnslib raises several kinds on garbage
        return None


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _bound(listen: Address, kind: socket.SocketKind) -> socket.socket:
    family = _family(listen[0])
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        sock.bind(listen)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock
