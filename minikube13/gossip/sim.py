"""A whole gossip pool in one process: N GossipCores on a virtual clock and a lossy network.

Deterministic for a given `random.Random` (the caller seeds it): one event heap ordered by
(time, sequence number), one random stream for the network and every core. Each core is woken
only at its own `next_wakeup()` or when something reaches it, so idle members cost nothing.

Network model: every datagram is lost independently with probability `loss`, else delivered
after a uniform one-way latency; a partition drops every datagram between its side and the
rest while it lasts. TCP streams succeed only if the peer is alive and not cut off, else fail
after `stream_fail_after`; a push/pull is never lost (TCP retransmits within its long timeout),
but a fallback ping is four segments (SYN, SYN-ACK, ping, ack) that must all arrive first
time: a retransmission (Linux: 1 s for a SYN, at least 200 ms otherwise) would miss the probe's
deadline, so it fails with probability 1 - (1 - loss)^4. Bytes are counted with
memberlist's encoding (`sizes`), before compression and encryption.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from minikube13.gossip.config import GossipConfig, Rng
from minikube13.gossip.core import GossipCore
from minikube13.gossip.effects import (
    Addr,
    Effect,
    MemberChanged,
    PushPullTo,
    SendPacket,
    StreamPing,
)
from minikube13.gossip.members import Member, ip_text
from minikube13.gossip.messages import Ack, NodeState, Packet, PacketMessage, PushPull
from minikube13.gossip.sizes import datagram_size, encoded_size, push_pull_size
from minikube13.gossip.wire.tags import encode_tags

GOSSIP_PORT = 7946
STREAM_PING_SEGMENTS = 4
_WAKE, _PACKET, _PUSH_PULL, _PUSH_PULL_REPLY, _STREAM_FAIL, _STREAM_PING = range(6)


class SimulationError(RuntimeError):
    """A core that does not move on in time (it would spin the simulation forever)."""


@dataclass(frozen=True)
class Network:
    loss: float = 0.0                      # per datagram
    latency: tuple[float, float] = (0.001, 0.005)   # one way, uniform
    stream_fail_after: float = 1.0         # a stream to a dead or cut-off peer


@dataclass(frozen=True)
class Partition:
    """Members [0, size) cannot reach the others from `start` until `end`."""
    size: int
    start: float
    end: float


@dataclass
class Traffic:
    since: float = 0.0
    udp_bytes: int = 0
    udp_packets: int = 0
    udp_lost: int = 0
    tcp_bytes: int = 0
    push_pulls: int = 0
    stream_pings: int = 0


@dataclass
class Watch:
    """When each observer first reported one of `kinds` about `subject`."""
    subject: str
    kinds: frozenset[str]
    start: float
    observers: int                          # how many could report it
    seen: bytearray = field(default_factory=bytearray)
    times: list[float] = field(default_factory=list)

    def see(self, observer: int, now: float) -> None:
        if observer >= len(self.seen):
            self.seen.extend(bytes(observer + 1 - len(self.seen)))
        if not self.seen[observer]:
            self.seen[observer] = 1
            self.times.append(now - self.start)

    def time_to(self, fraction: float) -> float | None:
        """Seconds until `fraction` of the observers reported it (None: not reached)."""
        need = max(1, math.ceil(fraction * self.observers - 1e-9))
        return self.times[need - 1] if len(self.times) >= need else None


@dataclass(frozen=True)
class FalseDeath:
    time: float
    observer: str
    subject: str
    across_partition: bool


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def node_addr(i: int) -> bytes:
    k = i + 1
    return bytes((10, (k >> 16) & 255, (k >> 8) & 255, k & 255))


def node_meta(i: int) -> bytes:
    """Serf tags as our nodes carry them (sizes matter for the byte counts)."""
    ip = ".".join(str(b) for b in node_addr(i))
    return encode_tags({"role": "agent", "api": f"https://{ip}:6443", "addr": ip,
                        "podcidr": f"10.42.{i % 256}.0/24", "zone": f"zone-{i % 3}",
                        "region": "region-1", "id": f"{i:032x}"})


class Simulation:
    """Cores, the virtual network between them, and what the scenarios measure."""

    def __init__(self, size: int, rng: Rng, *, config: GossipConfig | None = None,
                 network: Network = Network(), partitions: Sequence[Partition] = (),
                 now: float = 0.0) -> None:
        self.rng = rng
        self.now = now
        self.config = config or GossipConfig(notify_suspect=True)
        self.network = network
        self.partitions = tuple(partitions)
        self.cores: list[GossipCore] = []
        self.addrs: list[Addr] = []
        self.alive: list[bool] = []
        self.by_addr: dict[Addr, int] = {}
        self.by_name: dict[str, int] = {}
        self._loss = network.loss
        self._stream_ping_loss = 1.0 - (1.0 - network.loss) ** STREAM_PING_SEGMENTS
        self._lat_lo = network.latency[0]
        self._lat_span = network.latency[1] - network.latency[0]
        self.reset_traffic()
        self.watches: dict[str, list[Watch]] = {}
        self.false_deaths: list[FalseDeath] = []
        self.false_suspicions = 0
        self._heap: list[tuple[float, int, int, int, object]] = []
        self._counter = itertools.count()
        self._wake_at: list[float] = []
        self._wake_gen: list[int] = []
        for _ in range(size):
            self._new_core()
        view = [self._member(i) for i in range(size)]
        for core in self.cores:
            core.preload(view, now)
        for i in range(size):
            self._reschedule(i, now)

    # -- building the pool ------------------------------------------------------------

    def _member(self, i: int) -> Member:
        return Member(node_name(i), node_addr(i), GOSSIP_PORT, node_meta(i), 1,
                      NodeState.ALIVE, self.now, self.config.vsn)

    def _new_core(self) -> int:
        i = len(self.cores)
        core = GossipCore(self.config, node_name(i), node_addr(i), GOSSIP_PORT, node_meta(i),
                          self.rng, self.now)
        addr = (ip_text(node_addr(i)), GOSSIP_PORT)
        self.cores.append(core)
        self.addrs.append(addr)
        self.alive.append(True)
        self.by_addr[addr] = i
        self.by_name[core.name] = i
        self._wake_at.append(math.inf)
        self._wake_gen.append(0)
        return i

    def add_node(self) -> int:
        """A new member that knows only itself (call join() to bring it in)."""
        i = self._new_core()
        self._reschedule(i, self.now)
        return i

    def join(self, i: int, via: int) -> None:
        self._apply(i, self.cores[i].join([self.addrs[via]], self.now), self.now)
        self._reschedule(i, self.now)

    def kill(self, i: int) -> None:
        """The process dies: it sends nothing more and everything sent to it is lost."""
        self.alive[i] = False

    def live_count(self) -> int:
        return sum(self.alive)

    def watch(self, subject: str, kinds: Sequence[str], observers: int) -> Watch:
        w = Watch(subject, frozenset(kinds), self.now, observers)
        self.watches.setdefault(subject, []).append(w)
        return w

    def reset_traffic(self) -> None:
        self.traffic_since = self.now
        self.udp_bytes = self.udp_packets = self.udp_lost = 0
        self.tcp_bytes = self.push_pulls = self.stream_pings = 0

    @property
    def traffic(self) -> Traffic:
        return Traffic(self.traffic_since, self.udp_bytes, self.udp_packets, self.udp_lost,
                       self.tcp_bytes, self.push_pulls, self.stream_pings)

    def cut(self, a: int, b: int, now: float) -> bool:
        for p in self.partitions:
            if p.start <= now < p.end and (a < p.size) != (b < p.size):
                return True
        return False

    # -- the event loop ---------------------------------------------------------------

    def _push(self, when: float, kind: int, target: int, payload: object) -> None:
        heapq.heappush(self._heap, (when, next(self._counter), kind, target, payload))

    def _reschedule(self, i: int, now: float) -> None:
        when = self.cores[i].next_wakeup()
        if when < now:
            when = now        # a timer that moved into the past fires at once
        if when != self._wake_at[i]:
            self._wake_at[i] = when
            self._wake_gen[i] += 1
            self._push(when, _WAKE, i, self._wake_gen[i])

    def run_until(self, end: float) -> None:
        """Process every event up to virtual time `end`.

        The hot loop: datagrams (nearly every effect) are sent inline, with everything it
        touches bound to locals; the rest goes through `_apply`."""
        heap, pop, push, counter = self._heap, heapq.heappop, heapq.heappush, self._counter
        cores, alive, wake_at, wake_gen = self.cores, self.alive, self._wake_at, self._wake_gen
        by_addr, addrs, rng, loss = self.by_addr, self.addrs, self.rng, self._loss
        lat_lo, lat_span, cut = self._lat_lo, self._lat_span, self.cut if self.partitions else None
        while heap and heap[0][0] <= end:
            now, _, kind, i, payload = pop(heap)
            if not alive[i]:
                continue
            core = cores[i]
            if kind == _WAKE:
                if payload != wake_gen[i]:
                    continue
                wake_at[i] = math.inf
                effects = core.tick(now)
            elif kind == _PACKET:
                effects = core.receive(payload, now)  # type: ignore[arg-type]
            else:
                self.now = now
                effects = self._stream_event(kind, i, payload, now)
            for e in effects:
                if type(e) is not SendPacket:
                    self.now = now
                    self._apply(i, [e], now)
                    continue
                messages = e.messages
                self.udp_packets += 1
                self.udp_bytes += (encoded_size(messages[0]) if len(messages) == 1
                                   else datagram_size(messages))
                dst = by_addr.get(e.addr)
                if dst is None or not alive[dst] or (cut is not None and cut(i, dst, now)):
                    continue
                if loss and rng.random() < loss:
                    self.udp_lost += 1
                    continue
                push(heap, (now + lat_lo + rng.random() * lat_span, next(counter),
                            _PACKET, dst, Packet(addrs[i], messages)))
            when = core.next_wakeup()
            if when != wake_at[i]:
                if when <= now:
                    if kind == _WAKE:
                        raise SimulationError(
                            f"{core.name} asks to wake at {when} after a tick at {now}")
                    when = now    # a timer that moved into the past fires at once
                wake_at[i] = when
                gen = wake_gen[i] = wake_gen[i] + 1
                push(heap, (when, next(counter), _WAKE, i, gen))
        self.now = max(self.now, end)

    def _stream_event(self, kind: int, i: int, payload: object, now: float) -> list[Effect]:
        core = self.cores[i]
        if kind == _PUSH_PULL:
            src, state = cast(tuple[int, PushPull], payload)
            if self.cut(i, src, now):
                self._push(now + self.network.stream_fail_after, _STREAM_FAIL, src, self.addrs[i])
                return []
            reply, effects = core.receive_stream(state, self.addrs[src], now)
            assert isinstance(reply, PushPull)
            self.tcp_bytes += push_pull_size(state) + push_pull_size(reply)
            self._push(now + self._latency(), _PUSH_PULL_REPLY, src, reply)
            return effects
        if kind == _PUSH_PULL_REPLY:
            return core.merge_remote(payload, now)  # type: ignore[arg-type]
        if kind == _STREAM_FAIL:
            return core.stream_failed(payload, now)  # type: ignore[arg-type]
        src_addr, ack = cast(tuple[Addr, Ack], payload)
        return core.receive(Packet(src_addr, (ack,)), now)

    def _latency(self) -> float:
        return self._lat_lo + self.rng.random() * self._lat_span

    # -- effects ----------------------------------------------------------------------

    def _apply(self, i: int, effects: list[Effect], now: float) -> None:
        """Carry out effects (run_until sends datagrams itself, inline, the same way)."""
        for e in effects:
            kind = type(e)
            if kind is SendPacket:
                messages = e.messages  # type: ignore[union-attr]
                self.udp_packets += 1
                self.udp_bytes += (encoded_size(messages[0]) if len(messages) == 1
                                   else datagram_size(messages))
                dst = self.by_addr.get(e.addr)  # type: ignore[union-attr]
                if dst is not None and self.alive[dst]:
                    self._deliver(i, dst, messages, now)
            elif kind is MemberChanged:
                self._observe(i, e, now)  # type: ignore[arg-type]
            elif kind is PushPullTo:
                self._push_pull(i, e, now)  # type: ignore[arg-type]
            elif kind is StreamPing:
                self._stream_ping(i, e, now)  # type: ignore[arg-type]

    def _deliver(self, i: int, dst: int, messages: tuple[PacketMessage, ...],
                 now: float) -> None:
        if self.partitions and self.cut(i, dst, now):
            return
        rng = self.rng
        if self._loss and rng.random() < self._loss:
            self.udp_lost += 1
            return
        heapq.heappush(self._heap, (now + self._lat_lo + rng.random() * self._lat_span,
                                    next(self._counter), _PACKET, dst,
                                    Packet(self.addrs[i], messages)))

    def _reachable(self, i: int, addr: Addr, now: float) -> int | None:
        dst = self.by_addr.get(addr)
        if dst is None or not self.alive[dst] or self.cut(i, dst, now):
            return None
        return dst

    def _push_pull(self, i: int, e: PushPullTo, now: float) -> None:
        self.push_pulls += 1
        dst = self._reachable(i, e.addr, now)
        if dst is None:
            self._push(now + self.network.stream_fail_after, _STREAM_FAIL, i, e.addr)
        else:
            self._push(now + self._latency(), _PUSH_PULL, dst, (i, e.state))

    def _stream_ping(self, i: int, e: StreamPing, now: float) -> None:
        self.stream_pings += 1
        dst = self._reachable(i, e.addr, now)
        if dst is None or (self._loss and self.rng.random() < self._stream_ping_loss):
            self._push(now + self.network.stream_fail_after, _STREAM_FAIL, i, e.addr)
            return
        reply, _ = self.cores[dst].receive_stream(e.ping, self.addrs[i], now)
        self._push(now + 2 * self._latency(), _STREAM_PING, i, (e.addr, reply))

    def _observe(self, i: int, e: MemberChanged, now: float) -> None:
        subject = e.member.name
        for w in self.watches.get(subject, ()):
            if e.kind in w.kinds:
                w.see(i, now)
        j = self.by_name.get(subject)
        if j is None or not self.alive[j]:
            return
        if e.kind == "fail":
            self.false_deaths.append(FalseDeath(now, self.cores[i].name, subject,
                                                self.cut(i, j, now)))
        elif e.kind == "suspect":
            self.false_suspicions += 1
