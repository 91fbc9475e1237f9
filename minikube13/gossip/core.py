"""SWIM with Lifeguard, as memberlist does it, as a pure state machine.

`GossipCore` owns one node's view of the pool. Inputs: packets and streams from peers,
`tick(now)` at `next_wakeup()`, and the local actions (join, leave, new meta). Outputs: effects
(datagrams to send, TCP exchanges to make, membership changes). Time is always the caller's
`now` and randomness a seeded `random.Random` given at construction, so a shell on real
sockets and the simulator on a virtual clock drive the very same code.

Behaviour follows memberlist (state.go, suspicion.go, awareness.go, queue.go): round-robin
probes over a shuffled member list, indirect probes through `indirect_checks` helpers with
nacks, a TCP fallback ping, suspicion with Lifeguard's confirmations and health-scaled
deadlines, incarnation numbers, refutation, piggybacked and periodic gossip, and periodic
push/pull anti-entropy. Identity: a member is its name; an Alive for a known, live member from
a new address is accepted when the meta's `id` tag matches the one we know (see
`state.same_identity`). Serf's leave intents, received and sent on leave(), make a graceful
leave show as left even where memberlist's last Dead message never arrives.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Any

from minikube13.gossip.awareness import (
    NACK_MIN_PROTOCOL,
    TCP_PING_MIN_PROTOCOL,
    Probe,
    buddy_messages,
)
from minikube13.gossip.config import (
    COMPOUND_HEADER_OVERHEAD,
    COMPOUND_OVERHEAD,
    GossipConfig,
    Rng,
    push_pull_scale,
    retransmit_limit,
)
from minikube13.gossip.effects import (
    Addr,
    Deliver,
    Effect,
    PushPullTo,
    SendPacket,
    StreamPing,
)
from minikube13.gossip.members import Member, ip_text
from minikube13.gossip.messages import (
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Nack,
    NodeState,
    Packet,
    PacketMessage,
    Ping,
    PushPull,
    StreamMessage,
    Suspect,
    User,
)
from minikube13.gossip.sizes import encoded_size
from minikube13.gossip.state import StateMachine
from minikube13.gossip.suspicion import Suspicion
from minikube13.gossip.wire.serf_messages import LeaveIntent, decode_intent

__all__ = ["GossipConfig", "GossipCore", "Member", "StreamReply"]

StreamReply = PushPull | Ack | None
_FORWARD = 0
_SUSPICION = 1
_SEQ_MASK = 0xFFFFFFFF


class _Forward:
    """An indirect probe we make for someone else (memberlist's handleIndirectPing)."""
    __slots__ = ("seq", "reply_to", "nack")

    def __init__(self, seq: int, reply_to: Addr, nack: bool) -> None:
        self.seq = seq
        self.reply_to = reply_to
        self.nack = nack


class GossipCore(StateMachine):
    """One gossip node's decisions. Not thread-safe; every call returns its effects."""

    def __init__(self, config: GossipConfig, name: str, addr: bytes, port: int, meta: bytes,
                 rng: Rng, now: float) -> None:
        super().__init__(config, name, addr, port, meta, rng, now)
        self._pending = self._queue.pending
        self._seq = 0
        self._timers: list[tuple[float, int, int, Any]] = []
        self._timer_count = 0
        self._forwards: dict[int, _Forward] = {}
        self._probe: Probe | None = None
        self._probe_pending = False
        self._next_probe = now + rng.random() * config.probe_interval
        self._gossip_phase = now + rng.random() * config.gossip_interval
        self._next_gossip = math.inf
        self._next_push_pull = (now + rng.random() * config.push_pull_interval
                                if config.push_pull_interval > 0 else math.inf)
        self._state_cache: tuple[Any, bool, PushPull] | None = None
        self._handlers: dict[type, Callable[[Any, Packet, float], None]] = {
            Ping: self._on_ping, IndirectPing: self._on_indirect_ping, Ack: self._on_ack,
            Nack: self._on_nack, Suspect: self._on_suspect, Alive: self._on_alive,
            Dead: self._on_dead, User: self._on_user,
        }
        # memberlist's setAlive: announce ourselves (gossiped once there is anyone to tell).
        self._broadcast(name, self._own_alive(meta), now)

    # -- inputs from peers ------------------------------------------------------------

    def receive(self, packet: Packet, now: float) -> list[Effect]:
        """UDP messages from a peer (already decrypted and split)."""
        self._out = []
        handlers = self._handlers
        for msg in packet.messages:
            handler = handlers.get(type(msg))
            if handler is not None:
                handler(msg, packet, now)
        return self._out

    def receive_stream(self, msg: StreamMessage, addr: Addr,
                       now: float) -> tuple[StreamReply, list[Effect]]:
        """A TCP message: PushPull -> our state (then merge theirs); Ping -> Ack."""
        self._out = []
        if isinstance(msg, PushPull):
            reply = self.local_state(msg.join)
            self._merge(msg, now)
            return reply, self._out
        if isinstance(msg, Ping):
            if msg.node and msg.node != self.name:
                return None, []
            return Ack(seq_no=msg.seq_no), []
        if isinstance(msg, User):
            return None, [Deliver(msg, addr)]
        return None, []

    def merge_remote(self, remote: PushPull, now: float) -> list[Effect]:
        """The peer's reply to our push/pull."""
        self._out = []
        self._merge(remote, now)
        return self._out

    def stream_failed(self, addr: Addr, now: float) -> list[Effect]:
        """A PushPullTo or StreamPing failed; the probe deadline already covers it."""
        return []

    # -- local actions ----------------------------------------------------------------

    def local_state(self, join: bool) -> PushPull:
        states = self._table.push_states()
        cached = self._state_cache
        if cached is not None and cached[0] is states and cached[1] == join:
            return cached[2]
        state = PushPull(nodes=states, join=join)
        self._state_cache = (states, join, state)
        return state

    def join(self, addrs: list[tuple[str, int]], now: float) -> list[Effect]:
        state = self.local_state(True)
        return [PushPullTo(addr, state) for addr in addrs]

    def leave(self, now: float) -> list[Effect]:
        """Announce that we leave: Serf's leave intent (so Serf agents list us left, even
        if they learn our death otherwise), then a Dead about ourselves, from ourselves."""
        self._out = []
        if not self._left:
            self._left = True
            self._own_intent(LeaveIntent(self._clock.take(), self.name), now)
            self._gossip(now)          # the intent first, as Serf does
            me = self._table.by_name[self.name]
            self._dead(Dead(incarnation=me.incarnation, node=self.name, from_=self.name), now)
            self._gossip(now)
        return self._out

    def update_meta(self, meta: bytes, now: float) -> list[Effect]:
        self._out = []
        self._incarnation += 1
        self._alive(self._own_alive(meta), now, bootstrap=True)
        return self._out

    def preload(self, members: list[Member], now: float) -> None:
        """Start from a converged view, announcing nothing (a simulation's starting point)."""
        self._table.preload((m for m in members if m.name != self.name), self._rng)
        self._queue.clear()
        self._next_gossip = math.inf
        if self.config.push_pull_interval > 0:      # as if running for long: spread out
            interval = push_pull_scale(self.config.push_pull_interval, len(self._table))
            self._next_push_pull = now + self._rng.random() * interval

    # -- queries ------------------------------------------------------------------------

    def members(self) -> list[Member]:
        return sorted(self._table.by_name.values())

    def member(self, name: str) -> Member | None:
        return self._table.get(name)

    def health_score(self) -> int:
        return self._awareness.score

    def broadcasts_pending(self) -> int:
        return len(self._queue)

    # -- time -----------------------------------------------------------------------------

    def next_wakeup(self) -> float:
        at = self._next_probe
        probe = self._probe
        if probe is not None:
            phase = probe.deadline if probe.indirect_sent else probe.indirect_at
            if phase < at:
                at = phase
        if self._pending and self._next_gossip < at:
            at = self._next_gossip
        if self._next_push_pull < at:
            at = self._next_push_pull
        timers = self._timers
        while timers and not self._timer_valid(timers[0]):
            heapq.heappop(timers)
        if timers and timers[0][0] < at:
            at = timers[0][0]
        return at

    def tick(self, now: float) -> list[Effect]:
        """Do whatever is due at `now`: timers, probe phases, probes, gossip, push/pull."""
        self._out = []
        if self._timers and self._timers[0][0] <= now:
            self._run_timers(now)
        if self._probe is not None:
            self._advance_probe(now)
        if now >= self._next_probe:
            self._next_probe = _next_grid(self._next_probe, self.config.probe_interval, now)
            if self._probe is None:
                self._start_probe(now)
            else:
                self._probe_pending = True
        if now >= self._next_gossip:
            self._next_gossip = _next_grid(self._gossip_phase, self.config.gossip_interval, now)
            self._gossip(now)
            if not self._pending:
                self._next_gossip = math.inf
        if now >= self._next_push_pull:
            interval = push_pull_scale(self.config.push_pull_interval, len(self._table))
            self._next_push_pull = now + interval
            self._push_pull()
        if self._timers and self._timers[0][0] <= now:
            self._run_timers(now)      # a confirmation above may have made one due already
        return self._out

    def _timer(self, when: float, kind: int, key: Any) -> None:
        self._timer_count += 1
        heapq.heappush(self._timers, (when, self._timer_count, kind, key))

    def _timer_valid(self, entry: tuple[float, int, int, Any]) -> bool:
        when, _, kind, key = entry
        if kind == _FORWARD:
            return key in self._forwards
        susp = self._suspicions.get(key[0])
        return susp is key[1] and susp.deadline == when

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            if not self._timer_valid(entry):
                continue
            if entry[2] == _FORWARD:
                self._forward_expired(entry[3], now)
            else:
                self._suspicion_expired(entry[3][0], entry[3][1], now)

    def _on_suspicion_deadline(self, name: str, suspicion: Suspicion) -> None:
        self._timer(suspicion.deadline, _SUSPICION, (name, suspicion))

    # -- probing ----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & _SEQ_MASK
        return self._seq

    def _ping(self, seq: int, target: str) -> Ping:
        return Ping(seq_no=seq, node=target, source_addr=self._addr, source_port=self._port,
                    source_node=self.name)

    def _start_probe(self, now: float) -> None:
        cfg = self.config
        target = self._table.next_probe_target(now, cfg.gossip_to_the_dead_time, self._rng)
        if target is None:
            return
        seq = self._next_seq()
        addr = target.address
        vsn = target.vsn
        self._probe = Probe(seq, target.name, addr, target.addr, target.incarnation,
                            vsn[1] if len(vsn) > 1 else 0, now, now + cfg.probe_timeout,
                            now + cfg.probe_interval * (self._awareness.score + 1))
        ping = self._ping(seq, target.name)
        if target.state == NodeState.ALIVE:
            self._send(addr, ping)
        else:
            self._out.append(SendPacket(addr, buddy_messages(
                ping, True, target.incarnation, self.name)))

    def _advance_probe(self, now: float) -> None:
        probe = self._probe
        if probe is None:
            return
        if not probe.indirect_sent and now >= probe.indirect_at:
            self._indirect_probe(probe)
        if now >= probe.deadline:
            self._probe = None
            self._awareness.apply_delta(probe.failure_delta())
            self._suspect(Suspect(incarnation=probe.incarnation, node=probe.target,
                                  from_=self.name), now)
            self._probe_done(now)

    def _indirect_probe(self, probe: Probe) -> None:
        """No direct ack in time: ask helpers, and try TCP ourselves."""
        probe.indirect_sent = True
        me, target = self.name, probe.target
        helpers = self._table.random_members(
            self.config.indirect_checks, self._rng,
            lambda m: m.name == me or m.name == target or m.state != NodeState.ALIVE)
        for peer in helpers:
            nack = len(peer.vsn) > 1 and peer.vsn[1] >= NACK_MIN_PROTOCOL
            probe.expected_nacks += nack
            self._send(peer.address, IndirectPing(
                seq_no=probe.seq, target=probe.raw_addr, port=probe.addr[1], node=target,
                nack=nack, source_addr=self._addr, source_port=self._port, source_node=me))
        if not self.config.disable_tcp_pings and \
                probe.target_protocol_max >= TCP_PING_MIN_PROTOCOL:
            self._out.append(StreamPing(probe.addr, self._ping(probe.seq, target)))

    def _probe_done(self, now: float) -> None:
        if self._probe_pending:
            self._probe_pending = False
            self._start_probe(now)

    # -- message handlers -----------------------------------------------------------------

    def _on_ping(self, ping: Ping, packet: Packet, now: float) -> None:
        if ping.node and ping.node != self.name:
            return
        if ping.source_addr and ping.source_port:
            reply_to = (ip_text(ping.source_addr), ping.source_port)
        else:
            reply_to = packet.addr
        self._send(reply_to, Ack(ping.seq_no))

    def _on_indirect_ping(self, ind: IndirectPing, packet: Packet, now: float) -> None:
        seq = self._next_seq()
        reply_to = _reply_address(ind.source_addr, ind.source_port, packet.addr)
        self._forwards[seq] = _Forward(ind.seq_no, reply_to, ind.nack)
        self._timer(now + self.config.probe_timeout, _FORWARD, seq)
        port = ind.port or self._port
        self._send((ip_text(ind.target), port), self._ping(seq, ind.node))

    def _on_ack(self, ack: Ack, packet: Packet, now: float) -> None:
        probe = self._probe
        if probe is not None and probe.seq == ack.seq_no:
            self._probe = None
            self._awareness.apply_delta(-1)
            self._probe_done(now)
            return
        forward = self._forwards.pop(ack.seq_no, None)
        if forward is not None:
            self._send(forward.reply_to, Ack(seq_no=forward.seq))

    def _on_nack(self, nack: Nack, packet: Packet, now: float) -> None:
        probe = self._probe
        if probe is not None and probe.seq == nack.seq_no and probe.indirect_sent:
            probe.nacks += 1

    def _forward_expired(self, seq: int, now: float) -> None:
        forward = self._forwards.pop(seq)
        if forward.nack:
            self._send(forward.reply_to, Nack(seq_no=forward.seq))

    def _on_suspect(self, msg: Suspect, packet: Packet, now: float) -> None:
        self._suspect(msg, now)

    def _on_alive(self, msg: Alive, packet: Packet, now: float) -> None:
        if msg.port == 0:
            msg = Alive(msg.incarnation, msg.node, msg.addr, self._port, msg.meta, msg.vsn)
        self._alive(msg, now)

    def _on_dead(self, msg: Dead, packet: Packet, now: float) -> None:
        self._dead(msg, now)

    def _on_user(self, msg: User, packet: Packet, now: float) -> None:
        intent = decode_intent(msg.payload)
        if intent is not None:
            self._intent(intent, msg, now)
        self._out.append(Deliver(msg, packet.addr))

    # -- sending and gossip ---------------------------------------------------------------

    def _transmit_limit(self) -> int:
        return retransmit_limit(self.config.retransmit_mult, len(self._table))

    def _send(self, addr: Addr, msg: PacketMessage) -> None:
        """memberlist's sendMsg: one message plus whatever broadcasts fit beside it."""
        if self._pending:
            avail = (self.config.udp_buffer_size - encoded_size(msg)
                     - COMPOUND_HEADER_OVERHEAD - self.config.packet_overhead)
            extra = self._queue.take(COMPOUND_OVERHEAD, avail, self._transmit_limit())
            if extra:
                self._out.append(SendPacket(addr, (msg, *extra)))
                return
        self._out.append(SendPacket(addr, (msg,)))

    def _queue_started(self, now: float) -> None:
        self._next_gossip = _next_grid(self._gossip_phase, self.config.gossip_interval, now)

    def _gossip(self, now: float) -> None:
        """Send pending broadcasts to gossip_nodes random live, suspect or recently dead members."""
        if not self._pending:
            return
        me, dead_time = self.name, self.config.gossip_to_the_dead_time

        def exclude(m: Member) -> bool:
            if m.name == me or m.state == NodeState.LEFT:
                return True
            return m.state == NodeState.DEAD and now - m.state_since > dead_time

        targets = self._table.random_members(self.config.gossip_nodes, self._rng, exclude)
        avail = (self.config.udp_buffer_size - COMPOUND_HEADER_OVERHEAD
                 - self.config.packet_overhead)
        limit = self._transmit_limit()
        for target in targets:
            msgs = self._queue.take(COMPOUND_OVERHEAD, avail, limit)
            if not msgs:
                return
            self._out.append(SendPacket(target.address, tuple(msgs)))

    def _push_pull(self) -> None:
        me = self.name
        peers = self._table.random_members(
            1, self._rng, lambda m: m.name == me or m.state != NodeState.ALIVE)
        if peers:
            self._out.append(PushPullTo(peers[0].address, self.local_state(False)))


def _next_grid(phase: float, interval: float, now: float) -> float:
    """The first time phase + k * interval strictly after now."""
    if phase > now:
        return phase
    at = phase + (math.floor((now - phase) / interval) + 1) * interval
    while at <= now:            # float rounding can land exactly on now
        at += interval
    return at


def _reply_address(source_addr: bytes, source_port: int, fallback: Addr) -> Addr:
    if source_addr and source_port:
        return (ip_text(source_addr), source_port)
    return fallback
