"""Helpers for the gossip core tests: members, messages and a way to read effects."""

from __future__ import annotations

import random

from minikube13.gossip.config import GossipConfig
from minikube13.gossip.core import GossipCore
from minikube13.gossip.effects import Effect, MemberChanged, SendPacket
from minikube13.gossip.messages import Ack, Alive, Packet, PacketMessage, Ping
from minikube13.gossip.wire.tags import encode_tags

PORT = 7946
CONFIG = GossipConfig(notify_suspect=True)


def ip(i: int) -> bytes:
    return bytes((10, 0, i // 256, i % 256))


def addr(i: int) -> tuple[str, int]:
    return (f"10.0.{i // 256}.{i % 256}", PORT)


def meta(identity: str = "", **tags: str) -> bytes:
    if identity:
        tags["id"] = identity
    return encode_tags(tags) if tags else b""


def alive(i: int, incarnation: int = 1, name: str = "", identity: str = "",
          at: int | None = None, **tags: str) -> Alive:
    where = i if at is None else at
    return Alive(incarnation=incarnation, node=name or f"n{i}", addr=ip(where), port=PORT,
                 meta=meta(identity, **tags))


def new_core(i: int = 1, seed: int = 7, config: GossipConfig = CONFIG, now: float = 0.0,
             identity: str = "") -> GossipCore:
    return GossipCore(config, f"n{i}", ip(i), PORT, meta(identity), random.Random(seed), now)


def deliver(core: GossipCore, *messages: PacketMessage, now: float = 0.0,
            sender: int = 99) -> list[Effect]:
    return core.receive(Packet(addr(sender), tuple(messages)), now)


def with_members(core: GossipCore, count: int, now: float = 0.0) -> GossipCore:
    """Teach `core` members n2..n{count+1} (its own number is 1)."""
    for i in range(2, count + 2):
        deliver(core, alive(i), now=now)
    return core


def changes(effects: list[Effect]) -> list[tuple[str, str]]:
    return [(e.member.name, e.kind) for e in effects if isinstance(e, MemberChanged)]


def sent(effects: list[Effect]) -> list[tuple[tuple[str, int], PacketMessage]]:
    """Every (address, message) in the SendPacket effects, piggybacked ones included."""
    return [(e.addr, m) for e in effects if isinstance(e, SendPacket) for m in e.messages]


def sent_of(effects: list[Effect], kind: type) -> list[tuple[tuple[str, int], PacketMessage]]:
    return [(a, m) for a, m in sent(effects) if isinstance(m, kind)]


def run_until(core: GossipCore, end: float, now: float = 0.0) -> tuple[list[Effect], float]:
    """Tick the core at each of its wakeups until `end` (nobody answers)."""
    out: list[Effect] = []
    while True:
        at = core.next_wakeup()
        if at > end:
            return out, now
        now = max(now, at)
        out += core.tick(now)


def run_answering(core: GossipCore, end: float, now: float = 0.0) -> tuple[list[Effect], float]:
    """Like run_until, but every member answers our direct pings at once (all healthy)."""
    out: list[Effect] = []
    while True:
        at = core.next_wakeup()
        if at > end:
            return out, now
        now = max(now, at)
        effects = core.tick(now)
        out += effects
        for _, ping in sent_of(effects, Ping):
            out += deliver(core, Ack(seq_no=ping.seq_no), now=now)
