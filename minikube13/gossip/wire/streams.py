"""TCP streams: push/pull state exchange, stream ping/ack, user messages, error replies.

A stream carries one message each way. Plain layout: type byte, msgpack values, raw bytes
(push/pull: header {Nodes, UserStateLen, Join}, one map per node, then the delegate's user
state; user message: header {UserMsgLen}, then the payload). With compression the whole
thing is wrapped in a compressMsg; with a key it becomes [encryptMsg][uint32 length]
[encrypted payload], authenticated with those 5 bytes (+ the label). A label header, when
configured, comes first.
"""

from __future__ import annotations

import struct

from minikube13.gossip.messages import Ack, ErrResp, MessageType, Ping, PushPull, User
from minikube13.gossip.wire import WireError
from minikube13.gossip.wire.codec import decode_message, encode_message, pack
from minikube13.gossip.wire.keyring import encrypted_length
from minikube13.gossip.wire.packets import (
    LABEL_MSG,
    PacketOptions,
    add_label,
    compress_payload,
    decompress_payload,
)
from minikube13.gossip.wire.pushpull import (
    MAX_PUSH_STATE_BYTES,
    encode_push_pull,
    int_field,
    parse_push_pull,
    read_values,
)

StreamReply = PushPull | Ping | Ack | ErrResp | User


def encode_stream_user(user: User) -> bytes:
    return bytes([MessageType.USER]) + pack({b"UserMsgLen": len(user.payload)}) + user.payload


def encode_stream_message(m: StreamReply) -> bytes:
    """The plain bytes of one stream message (before compression/encryption)."""
    if isinstance(m, User):
        return encode_stream_user(m)
    if isinstance(m, PushPull):
        return encode_push_pull(m)
    return encode_message(m)


def seal_stream(plain: bytes, opts: PacketOptions) -> bytes:
    """Wrap a stream message as memberlist's rawSendMsgStream does."""
    if opts.compress:
        plain = compress_payload(plain)
    if opts.keyring is not None:
        head = bytes([MessageType.ENCRYPT]) + struct.pack(
            ">I", encrypted_length(opts.encryption_version, len(plain)))
        plain = head + opts.keyring.encrypt(plain, head + opts.label.encode(),
                                            opts.encryption_version)
    return add_label(plain, opts.label)


def parse_stream(buf: bytes, opts: PacketOptions) -> StreamReply | None:
    """The message at the start of a stream, or None while more bytes are needed.

    Raises WireError for a stream this node must refuse (label, key, garbage)."""
    if not buf:
        return None
    label = ""
    if buf[0] == LABEL_MSG:
        if len(buf) < 2 or len(buf) < 2 + buf[1]:
            return None
        label = buf[2:2 + buf[1]].decode("utf-8", "replace")
        buf = buf[2 + buf[1]:]
        if not buf:
            return None
    if label != opts.label:
        raise WireError(f"unacceptable stream label {label!r}")
    if buf[0] == MessageType.ENCRYPT:
        if opts.keyring is None:
            raise WireError("remote state is encrypted and encryption is not configured")
        if len(buf) < 5:
            return None
        (size,) = struct.unpack(">I", buf[1:5])
        if size > MAX_PUSH_STATE_BYTES:
            raise WireError(f"remote state of {size} bytes is over the limit")
        if len(buf) < 5 + size:
            return None
        plain = opts.keyring.decrypt(buf[5:5 + size], buf[:5] + label.encode())
        return _complete(plain)
    if opts.keyring is not None:
        raise WireError("encryption is configured but remote state is not encrypted")
    if buf[0] == MessageType.COMPRESS:
        raw = read_values(buf[1:], 1)
        if raw is None:
            return None
        return _complete(decompress_payload(pack(raw[0][0])))
    return _parse_body(_message_type(buf[0]), buf[1:])


def _complete(plain: bytes) -> StreamReply:
    """A message whose bytes are all there (decrypted): it must parse now."""
    if plain and plain[0] == MessageType.COMPRESS:
        plain = decompress_payload(plain[1:])
    if not plain:
        raise WireError("empty stream message")
    result = _parse_body(_message_type(plain[0]), plain[1:])
    if result is None:
        raise WireError("truncated stream message")
    return result


def _message_type(byte: int) -> MessageType:
    try:
        return MessageType(byte)
    except ValueError as err:
        raise WireError(f"unknown stream message type {byte}") from err


def _parse_body(msg_type: MessageType, body: bytes) -> StreamReply | None:
    if msg_type == MessageType.PUSH_PULL:
        return parse_push_pull(body)
    if msg_type == MessageType.USER:
        head = read_values(body, 1)
        if head is None:
            return None
        length = int_field(head[0][0], b"UserMsgLen")
        payload = head[1][:length]
        return User(payload=payload) if len(payload) == length else None
    if msg_type in (MessageType.PING, MessageType.ACK_RESP, MessageType.ERR):
        if read_values(body, 1) is None:
            return None
        msg = decode_message(bytes([msg_type]) + body)
        assert isinstance(msg, (Ping, Ack, ErrResp))
        return msg
    raise WireError(f"unexpected stream message type {msg_type.name}")
