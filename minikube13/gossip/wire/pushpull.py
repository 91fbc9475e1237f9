"""Push/pull state sync bodies: header {Nodes, UserStateLen, Join}, one pushNodeState map
per member, then the delegate's user state (raw bytes). Streams frame them (streams.py);
the codec's per-message functions cover the datagram messages only.
"""

from __future__ import annotations

from typing import Any

import msgpack

from minikube13.gossip.messages import MessageType, PushPull
from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import (
    new_unpacker,
    pack,
    push_node_state_from_map,
    push_node_state_to_map,
)

MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024


def encode_push_pull(pp: PushPull) -> bytes:
    header = {b"Nodes": len(pp.nodes), b"UserStateLen": len(pp.user_state), b"Join": pp.join}
    parts = [bytes([MessageType.PUSH_PULL]), pack(header)]
    parts += [pack(push_node_state_to_map(n)) for n in pp.nodes]
    parts.append(pp.user_state)
    return b"".join(parts)


def decode_push_pull_body(body: bytes) -> PushPull:
    result = parse_push_pull(body)
    if result is None:
        raise WireError("truncated push/pull")
    return result


def parse_push_pull(body: bytes) -> PushPull | None:
    head = read_values(body, 1)
    if head is None:
        return None
    header = head[0][0]
    count = int_field(header, b"Nodes")
    user_len = int_field(header, b"UserStateLen")
    if count > 1_000_000 or user_len > MAX_PUSH_STATE_BYTES:
        raise WireError("push/pull header out of range")
    values = read_values(body, 1 + count)
    if values is None:
        return None
    nodes, rest = values
    user_state = rest[:user_len]
    if len(user_state) < user_len:
        return None
    return PushPull(nodes=tuple(push_node_state_from_map(n) for n in nodes[1:]),
                    join=bool(header.get(b"Join", False)), user_state=user_state)


def read_values(body: bytes, count: int) -> tuple[list[Any], bytes] | None:
    """`count` msgpack values from the start of `body` and the bytes after them."""
    unpacker = new_unpacker()
    unpacker.feed(body)
    out: list[Any] = []
    try:
        for _ in range(count):
            out.append(unpacker.unpack())
    except msgpack.OutOfData:
        return None
    except (msgpack.UnpackException, ValueError) as err:
        raise WireError(f"bad msgpack in stream: {err}") from err
    return out, body[unpacker.tell():]


def int_field(header: Any, name: bytes) -> int:
    if not isinstance(header, dict):
        raise WireError("stream header is not a map")
    value = header.get(name, 0) or 0
    if not isinstance(value, int) or value < 0:
        raise WireError(f"bad {name.decode()} in stream header")
    return value
