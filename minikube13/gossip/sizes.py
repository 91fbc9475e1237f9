"""Encoded sizes of memberlist messages (`wire.codec.encode_message`), memoised.

The core needs sizes to fill a 1400-byte datagram with piggybacked broadcasts, and the
simulator counts bytes for millions of pings; encoding each costs microseconds. A message's
size depends only on the lengths of its strings and on how wide msgpack writes its integers
(a function of their bit length), so sizes are memoised by that shape and computed exactly,
by encoding, once per shape.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from minikube13.gossip.config import COMPOUND_HEADER_OVERHEAD, COMPOUND_OVERHEAD
from minikube13.gossip.messages import (
    Ack,
    IndirectPing,
    Nack,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
)
from minikube13.gossip.wire.codec import encode_message, pack, push_node_state_to_map

_MEMO: dict[Hashable, int] = {}
_MEMO_LIMIT = 200_000
_ACK_SIZES: dict[int, int] = {}


def _ping_shape(m: Ping) -> Hashable:
    return (Ping, m.seq_no.bit_length(), len(m.node.encode()), len(m.source_addr),
            m.source_port.bit_length(), len(m.source_node.encode()))


def _ack_shape(m: Ack) -> Hashable:
    return (Ack, m.seq_no.bit_length(), len(m.payload))


def _nack_shape(m: Nack) -> Hashable:
    return (Nack, m.seq_no.bit_length())


def _indirect_shape(m: IndirectPing) -> Hashable:
    return (IndirectPing, m.seq_no.bit_length(), len(m.target), m.port.bit_length(),
            len(m.node.encode()), m.nack, len(m.source_addr), m.source_port.bit_length(),
            len(m.source_node.encode()))


# Messages with a sequence number are sized by shape; broadcasts (few, resent as the very
# same objects) by value.
_SHAPES: dict[type, Callable[[Any], Hashable]] = {
    Ping: _ping_shape, Ack: _ack_shape, Nack: _nack_shape, IndirectPing: _indirect_shape}


def encoded_size(msg: PacketMessage) -> int:
    """len(encode_message(msg)), memoised by shape."""
    if type(msg) is Ack and not msg.payload:          # the most common messages: fast paths
        size = _ACK_SIZES.get(msg.seq_no.bit_length())
        if size is None:
            size = _ACK_SIZES[msg.seq_no.bit_length()] = len(encode_message(msg))
        return size
    if type(msg) is Ping:
        key: Hashable = _ping_shape(msg)
    else:
        shape = _SHAPES.get(type(msg))
        key = shape(msg) if shape is not None else msg
    size = _MEMO.get(key)
    if size is None:
        size = len(encode_message(msg))
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = size
    return size


def datagram_size(messages: tuple[PacketMessage, ...]) -> int:
    """Bytes of one datagram carrying `messages` (compound when more than one)."""
    if len(messages) == 1:
        return encoded_size(messages[0])
    return (COMPOUND_HEADER_OVERHEAD + COMPOUND_OVERHEAD * len(messages)
            + sum(encoded_size(m) for m in messages))


_STATE_MEMO: dict[int, tuple[PushPull, int]] = {}
_ENTRY_SIZES: dict[int, int] = {}              # by id(entry); entries pinned below
_ENTRY_PINS: dict[int, PushNodeState] = {}


def _entry_size(n: PushNodeState) -> int:
    key = (PushNodeState, len(n.name.encode()), len(n.addr), n.port.bit_length(),
           len(n.meta), n.incarnation.bit_length(), n.state, len(n.vsn))
    size = _MEMO.get(key)
    if size is None:
        size = len(pack(push_node_state_to_map(n)))
        _MEMO[key] = size
    return size


def push_pull_size(state: PushPull) -> int:
    """Bytes of a push/pull stream (pushpull.encode_push_pull), memoised per state object
    and per node entry (tables share entries, so most are looked up, not sized)."""
    hit = _STATE_MEMO.get(id(state))
    if hit is not None and hit[0] is state:
        return hit[1]
    nodes = state.nodes
    sizes = list(map(_ENTRY_SIZES.get, map(id, nodes)))
    if None in sizes:
        if len(_ENTRY_SIZES) >= _MEMO_LIMIT:
            _ENTRY_SIZES.clear()
            _ENTRY_PINS.clear()
        for i, n in enumerate(nodes):
            if sizes[i] is None:
                sizes[i] = _ENTRY_SIZES[id(n)] = _entry_size(n)
                _ENTRY_PINS[id(n)] = n       # keeps n alive, so its id is not reused
    header = {b"Nodes": len(nodes), b"UserStateLen": len(state.user_state), b"Join": state.join}
    size = 1 + len(pack(header)) + sum(sizes) + len(state.user_state)  # type: ignore[arg-type]
    if len(_STATE_MEMO) >= 4096:
        _STATE_MEMO.clear()
    _STATE_MEMO[id(state)] = (state, size)
    return size
