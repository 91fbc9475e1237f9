"""memberlist messages <-> bytes: one message-type byte followed by a msgpack map.

memberlist encodes its Go structs with go-msgpack's default handle: a map keyed by the
Go field names, strings and []byte both as old-spec "raw" (so `use_bin_type=False`), and
`Vsn []uint8` as a raw byte string. User (delegate) messages are the type byte followed
by the opaque payload, no msgpack. A PushPull encodes as the body of a push/pull stream
(header, node states, user state), see `streams.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from minikube13.gossip.messages import (
    Ack,
    Alive,
    Dead,
    ErrResp,
    IndirectPing,
    MessageType,
    Nack,
    NodeState,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    User,
)
from minikube13.gossip.wire import WireError

Message = Ping | IndirectPing | Ack | Nack | ErrResp | Suspect | Alive | Dead | User | PushPull


@dataclass(frozen=True)
class _Field:
    go_name: str          # msgpack map key
    attr: str             # dataclass attribute
    kind: str             # int | str | bytes | bool | vsn | state
    omitempty: bool = False


def _fields(*spec: tuple[str, str, str] | tuple[str, str, str, bool]) -> tuple[_Field, ...]:
    return tuple(_Field(*s) for s in spec)


# Field order = Go struct order (go-msgpack writes them in that order).
_PING = _fields(("SeqNo", "seq_no", "int"), ("Node", "node", "str"),
                ("SourceAddr", "source_addr", "bytes", True),
                ("SourcePort", "source_port", "int", True),
                ("SourceNode", "source_node", "str", True))
_INDIRECT = _fields(("SeqNo", "seq_no", "int"), ("Target", "target", "bytes"),
                    ("Port", "port", "int"), ("Node", "node", "str"), ("Nack", "nack", "bool"),
                    ("SourceAddr", "source_addr", "bytes", True),
                    ("SourcePort", "source_port", "int", True),
                    ("SourceNode", "source_node", "str", True))
_ACK = _fields(("SeqNo", "seq_no", "int"), ("Payload", "payload", "bytes"))
_NACK = _fields(("SeqNo", "seq_no", "int"))
_ERR = _fields(("Error", "error", "str"))
_SUSPECT = _fields(("Incarnation", "incarnation", "int"), ("Node", "node", "str"),
                   ("From", "from_", "str"))
_DEAD = _SUSPECT
_ALIVE = _fields(("Incarnation", "incarnation", "int"), ("Node", "node", "str"),
                 ("Addr", "addr", "bytes"), ("Port", "port", "int"), ("Meta", "meta", "bytes"),
                 ("Vsn", "vsn", "vsn"))
NODE_STATE_FIELDS = _fields(("Name", "name", "str"), ("Addr", "addr", "bytes"),
                            ("Port", "port", "int"), ("Meta", "meta", "bytes"),
                            ("Incarnation", "incarnation", "int"), ("State", "state", "state"),
                            ("Vsn", "vsn", "vsn"))

_STRUCTS: dict[MessageType, tuple[type, tuple[_Field, ...]]] = {
    MessageType.PING: (Ping, _PING),
    MessageType.INDIRECT_PING: (IndirectPing, _INDIRECT),
    MessageType.ACK_RESP: (Ack, _ACK),
    MessageType.NACK_RESP: (Nack, _NACK),
    MessageType.ERR: (ErrResp, _ERR),
    MessageType.SUSPECT: (Suspect, _SUSPECT),
    MessageType.ALIVE: (Alive, _ALIVE),
    MessageType.DEAD: (Dead, _DEAD),
}
_TYPE_OF: dict[type, MessageType] = {cls: t for t, (cls, _) in _STRUCTS.items()}

_ZERO: dict[str, Any] = {"int": 0, "str": "", "bytes": b"", "bool": False, "vsn": (),
                         "state": NodeState.ALIVE}


def pack(obj: Any) -> bytes:
    """msgpack the way go-msgpack's default handle does (raw strings, no bin type)."""
    out = msgpack.packb(obj, use_bin_type=False)
    assert isinstance(out, bytes)
    return out


def new_unpacker() -> msgpack.Unpacker:
    """An incremental unpacker that keeps raw strings as bytes (names decoded per field)."""
    return msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=64 * 1024 * 1024)


def struct_to_map(obj: Any, fields: tuple[_Field, ...]) -> dict[bytes, Any]:
    out: dict[bytes, Any] = {}
    for f in fields:
        value = getattr(obj, f.attr)
        if f.omitempty and not value:
            continue
        if f.kind == "str":
            value = value.encode()
        elif f.kind == "vsn":
            value = bytes(value)
        elif f.kind in ("int", "state"):
            value = int(value)
        elif f.kind == "bytes":
            value = bytes(value)
        out[f.go_name.encode()] = value
    return out


def _convert(kind: str, value: Any) -> Any:
    if value is None:
        return _ZERO[kind]
    converters: dict[str, Callable[[Any], Any]] = {
        "int": _as_int, "str": _as_str, "bytes": _as_bytes, "bool": bool,
        "vsn": lambda v: tuple(_as_bytes(v)), "state": lambda v: NodeState(_as_int(v)),
    }
    try:
        return converters[kind](value)
    except (ValueError, TypeError) as err:
        raise WireError(f"bad {kind} value {value!r}") from err


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def _as_str(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise TypeError("not a string")


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (list, tuple)):       # a []uint8 some encoder wrote as an array
        return bytes(value)
    raise TypeError("not bytes")


def map_to_struct(cls: type, fields: tuple[_Field, ...], raw: Any) -> Any:
    """Build `cls` from a decoded msgpack map; missing keys take Go's zero values."""
    if not isinstance(raw, dict):
        raise WireError(f"expected a map for {cls.__name__}, got {type(raw).__name__}")
    by_name = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)): v
               for k, v in raw.items()}
    kwargs = {f.attr: _convert(f.kind, by_name.get(f.go_name)) for f in fields}
    return cls(**kwargs)


def encode_message(m: Message) -> bytes:
    """One message as memberlist sends it (type byte + body), uncompressed, unencrypted."""
    if isinstance(m, User):
        return bytes([MessageType.USER]) + m.payload
    if isinstance(m, PushPull):
        raise WireError("a push/pull is a stream message: see wire.pushpull")
    msg_type = _TYPE_OF.get(type(m))
    if msg_type is None:
        raise WireError(f"cannot encode {type(m).__name__}")
    return bytes([msg_type]) + pack(struct_to_map(m, _STRUCTS[msg_type][1]))


def decode_message(b: bytes) -> Message:
    """The inverse of `encode_message` for one (non-compound, non-compressed) message."""
    if not b:
        raise WireError("missing message type byte")
    try:
        msg_type = MessageType(b[0])
    except ValueError as err:
        raise WireError(f"unknown message type {b[0]}") from err
    if msg_type == MessageType.USER:
        return User(payload=bytes(b[1:]))
    if msg_type == MessageType.PUSH_PULL:
        raise WireError("a push/pull is a stream message, not a datagram one")
    if msg_type not in _STRUCTS:
        raise WireError(f"message type {msg_type.name} is a wrapper, not a message")
    cls, fields = _STRUCTS[msg_type]
    return map_to_struct(cls, fields, unpack_one(bytes(b[1:])))


def unpack_one(body: bytes) -> Any:
    """Exactly one msgpack object from `body` (trailing bytes are ignored, as Go does)."""
    unpacker = new_unpacker()
    unpacker.feed(body)
    try:
        return unpacker.unpack()
    except msgpack.OutOfData as err:
        raise WireError("truncated msgpack body") from err
    except (msgpack.UnpackException, ValueError, TypeError) as err:   # TypeError: a list key
        raise WireError(f"bad msgpack body: {err}") from err


def message_type_of(m: Message) -> MessageType:
    if isinstance(m, User):
        return MessageType.USER
    if isinstance(m, PushPull):
        return MessageType.PUSH_PULL
    return _TYPE_OF[type(m)]


def push_node_state_to_map(n: PushNodeState) -> dict[bytes, Any]:
    return struct_to_map(n, NODE_STATE_FIELDS)


def push_node_state_from_map(raw: Any) -> PushNodeState:
    node: PushNodeState = map_to_struct(PushNodeState, NODE_STATE_FIELDS, raw)
    return node
