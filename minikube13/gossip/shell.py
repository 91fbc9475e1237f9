"""The asyncio shell around the pure gossip core: UDP + TCP on one (address, port).

It turns datagrams and streams into the core's inputs and carries out the effects the
core returns: sending (compound, compressed, encrypted) packets, push/pull and ping
exchanges over TCP, and member events for subscribers. It speaks memberlist's wire format
(`gossip/wire/`), so Serf agents and minikube13 nodes share one pool.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from minikube13.gossip.core import GossipConfig, GossipCore, Member
from minikube13.gossip.effects import Deliver, MemberChanged, PushPullTo, SendPacket, StreamPing
from minikube13.gossip.messages import Ack, ErrResp, NodeState, Packet, Ping, PushPull, User
from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import encode_message
from minikube13.gossip.wire.keyring import Keyring
from minikube13.gossip.wire.packets import (
    COMPOUND_HEADER_OVERHEAD,
    PacketOptions,
    open_packet,
    pack_messages,
    packet_overhead,
    seal_packet,
)
from minikube13.gossip.wire.streams import (
    StreamReply,
    encode_stream_message,
    parse_stream,
    seal_stream,
)
from minikube13.gossip.wire.tags import decode_tags, encode_tags

log = logging.getLogger(__name__)

MTU = 1400
READ_CHUNK = 65536
MAX_TICK_SLEEP = 1.0
STATUS = {NodeState.ALIVE: "alive", NodeState.SUSPECT: "suspect",
          NodeState.DEAD: "failed", NodeState.LEFT: "left"}
Addr = tuple[str, int]


class GossipError(Exception):
    """The gossip shell could not do what was asked (bind, join)."""


@dataclass(frozen=True)
class MemberInfo:
    """One member of the pool as users see it (`minikube13 members`, `serf members`)."""
    name: str
    addr: str
    port: int
    status: str                  # alive | suspect | failed | left
    tags: dict[str, str]
    incarnation: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "addr": self.addr, "port": self.port,
                "status": self.status, "tags": dict(self.tags)}


def member_info(m: Member) -> MemberInfo:
    try:
        tags = decode_tags(m.meta)
    except WireError:
        tags = {}
    return MemberInfo(m.name, socket.inet_ntop(_family(m.addr), m.addr), m.port,
                      STATUS.get(m.state, str(m.state)), tags, m.incarnation)


def _family(raw: bytes) -> int:
    return socket.AF_INET6 if len(raw) == 16 else socket.AF_INET


def _ip_bytes(ip: str) -> bytes:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.inet_pton(family, ip)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, node: GossipNode) -> None:
        self.node = node

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.node._on_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error err=%s", exc)


class GossipNode:
    """A member of a memberlist/Serf pool: start(), members(), subscribe(), leave(), close()."""

    def __init__(self, name: str, bind: Addr, *, tags: dict[str, str] | None = None,
                 key: bytes | None = None, other_keys: Iterable[bytes] = (),
                 config: GossipConfig | None = None, advertise: Addr | None = None,
                 label: str = "", seed: int | None = None, tcp_timeout: float = 10.0,
                 on_user: Callable[[User, Addr], None] | None = None) -> None:
        self.name = name
        self.bind = bind
        self.advertise = advertise
        self.tags = dict(tags or {})
        self.config = config or GossipConfig()
        self.tcp_timeout = tcp_timeout
        self.on_user = on_user
        keyring = Keyring(key, other_keys) if key else None
        self.opts = PacketOptions(keyring=keyring, label=label)
        # The core fills datagrams up to the MTU less what the wire adds (CRC, key, label).
        extra = packet_overhead(self.opts) - COMPOUND_HEADER_OVERHEAD
        if self.config.packet_overhead < extra:
            self.config = replace(self.config, packet_overhead=extra)
        self._rng = random.Random(seed)
        self._core: GossipCore | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._subscribers: list[asyncio.Queue[MemberChanged]] = []
        self._wake = asyncio.Event()
        self._closed = False
        # Tests only: message types (PushPull included) dropped on arrival, as if lost.
        self.drop_incoming_for_tests: frozenset[type] = frozenset()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Bind UDP and TCP on `bind` and start probing/gossiping (alone until join())."""
        loop = asyncio.get_running_loop()
        host, port = self.bind
        try:
            self._server = await asyncio.start_server(self._serve_stream, host, port,
                                                      reuse_address=True)
            if port == 0:
                port = self._server.sockets[0].getsockname()[1]
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(host, port))
        except OSError as err:
            if self._server is not None:
                self._server.close()
            raise GossipError(f"cannot bind gossip on {host}:{port}: {err}") from err
        self._udp = transport
        self.bind = (host, port)
        adv_host, adv_port = self.advertise or (advertise_address(host), port)
        self.advertise = (adv_host, adv_port)
        self._core = GossipCore(self.config, self.name, _ip_bytes(adv_host), adv_port,
                                encode_tags(self.tags), self._rng, self._now())
        self._runner = asyncio.create_task(self._run(), name=f"gossip-{self.name}")
        log.info("gossip started node=%s bind=%s:%d advertise=%s:%d encrypted=%s",
                 self.name, host, port, adv_host, adv_port, self.opts.keyring is not None)

    async def join(self, addrs: Sequence[Addr]) -> int:
        """Push/pull with each address; how many answered (memberlist's Join)."""
        effects = self._core_or_fail().join(list(addrs), self._now())
        exchanges = [e for e in effects if isinstance(e, PushPullTo)]
        self._apply([e for e in effects if not isinstance(e, PushPullTo)])
        results = await asyncio.gather(*(self._push_pull(e.addr, e.state) for e in exchanges))
        joined = sum(results)
        log.info("gossip join node=%s contacted=%d of=%d", self.name, joined, len(exchanges))
        return joined

    def retry_join(self, addrs: Sequence[Addr], interval: float = 5.0) -> None:
        """Keep trying join() in the background until one address answers."""
        async def retry() -> None:
            while not self._closed and await self.join(addrs) == 0:
                await asyncio.sleep(interval)
        self._spawn(retry())

    async def update_tags(self, tags: dict[str, str]) -> None:
        self.tags = dict(tags)
        self._apply(self._core_or_fail().update_meta(encode_tags(self.tags), self._now()))

    async def leave(self, timeout: float = 2.0) -> None:
        """Tell the pool we are leaving and wait (up to `timeout`) until the news is out."""
        core = self._core_or_fail()
        self._apply(core.leave(self._now()))
        deadline = self._now() + timeout
        while core.broadcasts_pending() and self._now() < deadline:
            await asyncio.sleep(self.config.gossip_interval)

    async def close(self) -> None:
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._runner] if self._runner else []),
                             return_exceptions=True)
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for queue in self._subscribers:
            queue.put_nowait(None)  # type: ignore[arg-type]  # end-of-stream marker
        log.info("gossip stopped node=%s", self.name)

    # -- queries ------------------------------------------------------------------------

    def members(self) -> list[MemberInfo]:
        if self._core is None:
            return []
        return sorted((member_info(m) for m in self._core.members()), key=lambda m: m.name)

    def health_score(self) -> int:
        return self._core.health_score() if self._core is not None else 0

    def subscribe(self) -> asyncio.Queue[MemberChanged]:
        """A queue of MemberChanged events (None after close())."""
        queue: asyncio.Queue[MemberChanged] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[MemberChanged]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    # -- the loop ---------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _core_or_fail(self) -> GossipCore:
        if self._core is None:
            raise GossipError("gossip node is not started")
        return self._core

    async def _run(self) -> None:
        core = self._core_or_fail()
        while not self._closed:
            try:
                self._apply(core.tick(self._now()))
            except Exception:  # a core bug must not stop membership; keep going
                log.exception("gossip tick failed node=%s", self.name)
            delay = min(MAX_TICK_SLEEP, max(0.0, core.next_wakeup() - self._now()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _apply(self, effects: Iterable[object]) -> None:
        for effect in effects:
            if isinstance(effect, SendPacket):
                self._send_packet(effect.addr, effect.messages)
            elif isinstance(effect, PushPullTo):
                self._spawn(self._push_pull(effect.addr, effect.state))
            elif isinstance(effect, StreamPing):
                self._spawn(self._stream_ping(effect.addr, effect.ping))
            elif isinstance(effect, MemberChanged):
                for queue in self._subscribers:
                    queue.put_nowait(effect)
            elif isinstance(effect, Deliver):
                if self.on_user is not None:
                    self.on_user(effect.user, effect.addr)
            else:
                log.debug("ignored effect kind=%s", type(effect).__name__)
        self._wake.set()

    # -- UDP --------------------------------------------------------------------------

    def _send_packet(self, addr: Addr, messages: Sequence[Any]) -> None:
        if self._udp is None or not messages:
            return
        budget = MTU - packet_overhead(self.opts)
        for payload in pack_messages([encode_message(m) for m in messages], budget):
            self._udp.sendto(seal_packet(payload, self.opts, crc=True), addr)

    def _on_datagram(self, data: bytes, addr: Addr) -> None:
        if self._core is None or self._closed:
            return
        try:
            messages, problems = open_packet(data, self.opts)
        except WireError as err:
            log.debug("packet refused from=%s:%d err=%s", addr[0], addr[1], err)
            return
        for problem in problems:
            log.debug("packet part skipped from=%s:%d err=%s", addr[0], addr[1], problem)
        if self.drop_incoming_for_tests:
            messages = [m for m in messages if not self._dropped_for_tests(m)]
        if messages:
            self._apply(self._core.receive(Packet(addr, tuple(messages)), self._now()))

    def _dropped_for_tests(self, msg: object) -> bool:
        return type(msg) in self.drop_incoming_for_tests

    # -- TCP --------------------------------------------------------------------------

    async def _read_stream(self, reader: asyncio.StreamReader) -> StreamReply:
        buf = b""
        while True:
            chunk = await reader.read(READ_CHUNK)
            if not chunk:
                raise WireError("stream closed before a whole message arrived")
            buf += chunk
            msg = parse_stream(buf, self.opts)
            if msg is not None:
                return msg

    def _write(self, writer: asyncio.StreamWriter, msg: StreamReply) -> None:
        writer.write(seal_stream(encode_stream_message(msg), self.opts))

    async def _serve_stream(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        addr = (str(peer[0]), int(peer[1]))
        try:
            msg = await asyncio.wait_for(self._read_stream(reader), self.tcp_timeout)
            if isinstance(msg, (Ack, ErrResp)) or self._core is None:
                raise WireError(f"unexpected {type(msg).__name__} on an incoming stream")
            if self._dropped_for_tests(msg):
                return
            reply, effects = self._core.receive_stream(msg, addr, self._now())
            if reply is not None:
                self._write(writer, reply)
                await writer.drain()
            self._apply(effects)
        except WireError as err:
            log.debug("stream refused from=%s:%d err=%s", addr[0], addr[1], err)
            self._write(writer, ErrResp(error=str(err)))
        except (OSError, TimeoutError) as err:
            log.debug("stream failed from=%s:%d err=%s", addr[0], addr[1], err)
        finally:
            writer.close()

    async def _exchange(self, addr: Addr, msg: StreamReply) -> StreamReply:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(addr[0], addr[1], local_addr=(self.bind[0], 0)),
            self.tcp_timeout)
        try:
            self._write(writer, msg)
            await writer.drain()
            reply = await asyncio.wait_for(self._read_stream(reader), self.tcp_timeout)
            if isinstance(reply, ErrResp):
                raise WireError(f"remote error: {reply.error}")
            return reply
        finally:
            writer.close()

    async def _push_pull(self, addr: Addr, state: PushPull) -> bool:
        core = self._core_or_fail()
        try:
            reply = await self._exchange(addr, state)
            if not isinstance(reply, PushPull):
                raise WireError(f"expected push/pull, got {type(reply).__name__}")
        except (OSError, TimeoutError, WireError) as err:
            log.debug("push/pull failed peer=%s:%d err=%s", addr[0], addr[1], err)
            self._apply(core.stream_failed(addr, self._now()))
            return False
        if not self._dropped_for_tests(reply):
            self._apply(core.merge_remote(reply, self._now()))
        return True

    async def _stream_ping(self, addr: Addr, ping: Ping) -> None:
        core = self._core_or_fail()
        try:
            reply = await self._exchange(addr, ping)
            if not isinstance(reply, Ack) or reply.seq_no != ping.seq_no:
                raise WireError("stream ping answered without a matching ack")
        except (OSError, TimeoutError, WireError) as err:
            log.debug("stream ping failed peer=%s:%d err=%s", addr[0], addr[1], err)
            self._apply(core.stream_failed(addr, self._now()))
            return
        self._apply(core.receive(Packet(addr, (reply,)), self._now()))


def advertise_address(bind_host: str) -> str:
    """The address peers reach us at: the bind address, or for a wildcard bind the source
    address of the default route (a UDP connect() sends nothing)."""
    if bind_host not in ("", "0.0.0.0", "::"):
        return bind_host
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()
