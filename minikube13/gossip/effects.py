"""What the gossip core asks its shell (or the simulator) to do: plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from minikube13.gossip.members import Member
from minikube13.gossip.messages import PacketMessage, Ping, PushPull, User

Addr = tuple[str, int]
ChangeKind = Literal["join", "update", "leave", "fail", "alive-again", "suspect", "alive"]


@dataclass(frozen=True, slots=True)
class SendPacket:
    """Send these messages to `addr` as one UDP datagram (compound if more than one)."""
    addr: Addr
    messages: tuple[PacketMessage, ...]


@dataclass(frozen=True, slots=True)
class PushPullTo:
    """Open a TCP stream to `addr`, send `state`, read the peer's PushPull and hand it to
    `GossipCore.merge_remote`; on any failure call `GossipCore.stream_failed(addr)`."""
    addr: Addr
    state: PushPull


@dataclass(frozen=True, slots=True)
class StreamPing:
    """memberlist's TCP fallback probe: send `ping` over a stream; feed the Ack back through
    `GossipCore.receive`, or call `stream_failed` if the stream fails."""
    addr: Addr
    ping: Ping


@dataclass(frozen=True, slots=True)
class MemberChanged:
    """A member joined, changed its meta or address, left, failed, or came back.

    `kind` is one of join, update, leave, fail, alive-again; with
    `GossipConfig.notify_suspect` also suspect and alive (a suspicion refuted)."""
    member: Member
    kind: ChangeKind


@dataclass(frozen=True, slots=True)
class Deliver:
    """A delegate (Serf) message for the layer above (intents included)."""
    user: User
    addr: Addr


Effect = SendPacket | PushPullTo | StreamPing | MemberChanged | Deliver
