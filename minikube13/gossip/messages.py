"""The messages of HashiCorp memberlist's protocol, as plain values.

The pure core (`core.py`) reads and makes these; the codec (`wire/`) turns them into
memberlist's bytes. Field names follow memberlist's Go structs (the msgpack map keys are
those names in CamelCase; the codec maps them). Addresses are raw IP bytes (4 or 16).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class MessageType(enum.IntEnum):
    """memberlist's messageType byte (net.go)."""
    PING = 0
    INDIRECT_PING = 1
    ACK_RESP = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK_RESP = 11
    HAS_CRC = 12
    ERR = 13


class NodeState(enum.IntEnum):
    """memberlist's nodeStateType (state.go), as carried in push/pull."""
    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


@dataclass(frozen=True)
class Ping:
    seq_no: int
    node: str                      # the target's name ("" from old peers)
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@dataclass(frozen=True)
class IndirectPing:
    seq_no: int
    target: bytes                  # address of the node to probe
    port: int
    node: str
    nack: bool = False
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@dataclass(frozen=True)
class Ack:
    seq_no: int
    payload: bytes = b""


@dataclass(frozen=True)
class Nack:
    seq_no: int


@dataclass(frozen=True)
class ErrResp:
    error: str


@dataclass(frozen=True)
class Suspect:
    incarnation: int
    node: str
    from_: str                     # Go field `From`


@dataclass(frozen=True)
class Alive:
    incarnation: int
    node: str
    addr: bytes
    port: int
    meta: bytes = b""
    # [proto min, proto max, proto cur, delegate min, delegate max, delegate cur]
    vsn: tuple[int, ...] = (1, 5, 2, 2, 5, 4)


@dataclass(frozen=True)
class Dead:
    incarnation: int
    node: str
    from_: str


@dataclass(frozen=True)
class User:
    """A delegate (Serf) message carried by memberlist; the core reads only Serf's join and
    leave intents in it (`wire/serf_messages.py`)."""
    payload: bytes


@dataclass(frozen=True)
class PushNodeState:
    name: str
    addr: bytes
    port: int
    meta: bytes
    incarnation: int
    state: NodeState
    vsn: tuple[int, ...] = (1, 5, 2, 2, 5, 4)


@dataclass(frozen=True)
class PushPull:
    """A TCP state exchange: every node we know, and the delegate's opaque state."""
    nodes: tuple[PushNodeState, ...]
    join: bool = False
    user_state: bytes = b""


# What travels in one UDP packet (possibly compounded) or one TCP stream.
PacketMessage = Ping | IndirectPing | Ack | Nack | ErrResp | Suspect | Alive | Dead | User
StreamMessage = PushPull | Ping | User


@dataclass(frozen=True)
class Packet:
    """A datagram the shell received (after decryption and unwrapping) or must send."""
    addr: tuple[str, int]          # (ip, port) of the peer
    messages: tuple[PacketMessage, ...] = field(default_factory=tuple)
