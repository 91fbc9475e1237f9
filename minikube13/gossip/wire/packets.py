"""UDP datagrams: compound messages, LZW compression, CRC, encryption, label header.

Outgoing order (memberlist's rawSendMsgPacket + transport): message or compound ->
compressMsg if that is smaller -> hasCrcMsg if the peer speaks protocol >= 5 -> encrypt
with the primary key (AAD = label) -> label header. Incoming is the reverse; compound and
compressed messages may nest, a CRC header is only recognised outermost.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from minikube13.gossip.messages import MessageType, PacketMessage, PushPull
from minikube13.gossip.wire import WireError, lzw
from minikube13.gossip.wire.codec import decode_message, pack, unpack_one
from minikube13.gossip.wire.keyring import Keyring, encrypt_overhead

LABEL_MSG = 244               # memberlist's hasLabelMsg
LABEL_MAX_SIZE = 255
COMPOUND_HEADER_OVERHEAD = 2  # type byte + count byte
COMPOUND_PART_OVERHEAD = 2    # uint16 length per part
CRC_OVERHEAD = 5
MAX_COMPOUND_PARTS = 255
MAX_NESTING = 4
LZW_ALGO = 0


def make_compound(parts: Sequence[bytes]) -> bytes:
    if len(parts) > MAX_COMPOUND_PARTS:
        raise WireError(f"a compound holds at most {MAX_COMPOUND_PARTS} messages")
    lengths = b"".join(struct.pack(">H", len(p)) for p in parts)
    return bytes([MessageType.COMPOUND, len(parts)]) + lengths + b"".join(parts)


def split_compound(body: bytes) -> tuple[list[bytes], int]:
    """The parts of a compound body (after its type byte), and how many were truncated."""
    if not body:
        raise WireError("missing compound length byte")
    count = body[0]
    if len(body) < 1 + 2 * count:
        raise WireError("truncated compound length slice")
    lengths = struct.unpack(f">{count}H", body[1:1 + 2 * count])
    rest = memoryview(body)[1 + 2 * count:]
    parts: list[bytes] = []
    for idx, length in enumerate(lengths):
        if len(rest) < length:
            return parts, count - idx
        parts.append(bytes(rest[:length]))
        rest = rest[length:]
    return parts, 0


def compress_payload(msg: bytes) -> bytes:
    return bytes([MessageType.COMPRESS]) + pack({b"Algo": LZW_ALGO, b"Buf": lzw.compress(msg)})


def decompress_payload(body: bytes) -> bytes:
    """The message inside a compressMsg body (after its type byte)."""
    raw = unpack_one(body)
    if not isinstance(raw, dict):
        raise WireError("compress body is not a map")
    algo = raw.get(b"Algo", 0)
    if algo != LZW_ALGO:
        raise WireError(f"cannot decompress unknown algorithm {algo}")
    buf = raw.get(b"Buf") or b""
    if not isinstance(buf, bytes):
        raise WireError("compress buffer is not bytes")
    return lzw.decompress(buf)


def add_crc(msg: bytes) -> bytes:
    return bytes([MessageType.HAS_CRC]) + struct.pack(">I", zlib.crc32(msg)) + msg


def add_label(buf: bytes, label: str) -> bytes:
    if not label:
        return buf
    raw = label.encode()
    if len(raw) > LABEL_MAX_SIZE:
        raise WireError("label is too long")
    return bytes([LABEL_MSG, len(raw)]) + raw + buf


def strip_label(buf: bytes) -> tuple[bytes, str]:
    if not buf or buf[0] != LABEL_MSG:
        return buf, ""
    if len(buf) < 2 or buf[1] < 1 or len(buf) < 2 + buf[1]:
        raise WireError("bad or truncated label header")
    size = buf[1]
    return buf[2 + size:], buf[2:2 + size].decode("utf-8", "replace")


@dataclass(frozen=True)
class PacketOptions:
    """How this node wraps datagrams (memberlist config equivalents)."""
    keyring: Keyring | None = None
    encryption_version: int = 1    # 1 for protocol >= 2
    compress: bool = True          # memberlist's EnableCompression (default on)
    label: str = ""


def seal_packet(msg: bytes, opts: PacketOptions, crc: bool) -> bytes:
    """Wrap one (possibly compound) message for the wire."""
    if opts.compress:
        packed = compress_payload(msg)
        if len(packed) < len(msg):
            msg = packed
    if crc:
        msg = add_crc(msg)
    if opts.keyring is not None:
        msg = opts.keyring.encrypt(msg, opts.label.encode(), opts.encryption_version)
    return add_label(msg, opts.label)


def open_packet(datagram: bytes, opts: PacketOptions) -> tuple[list[PacketMessage], list[str]]:
    """The messages in a received datagram, and a note per part that could not be read.

    Raises WireError when the whole datagram is unacceptable (label, key, checksum)."""
    buf, label = strip_label(datagram)
    if label != opts.label:
        raise WireError(f"unacceptable packet label {label!r}")
    if opts.keyring is not None:
        buf = opts.keyring.decrypt(buf, label.encode())
    if len(buf) >= CRC_OVERHEAD and buf[0] == MessageType.HAS_CRC:
        (expected,) = struct.unpack(">I", buf[1:5])
        buf = buf[5:]
        if zlib.crc32(buf) != expected:
            raise WireError("invalid packet checksum")
    messages: list[PacketMessage] = []
    problems: list[str] = []
    _unwrap(buf, messages, problems, 0)
    return messages, problems


def _unwrap(buf: bytes, messages: list[PacketMessage], problems: list[str], depth: int) -> None:
    if depth > MAX_NESTING:
        problems.append("messages nested too deep")
        return
    try:
        if buf and buf[0] == MessageType.COMPOUND:
            parts, truncated = split_compound(buf[1:])
            if truncated:
                problems.append(f"compound had {truncated} truncated messages")
            for part in parts:
                _unwrap(part, messages, problems, depth + 1)
        elif buf and buf[0] == MessageType.COMPRESS:
            _unwrap(decompress_payload(buf[1:]), messages, problems, depth + 1)
        else:
            msg = decode_message(buf)
            if isinstance(msg, PushPull):
                raise WireError("push/pull travels over TCP, not in a datagram")
            messages.append(msg)
    except WireError as err:
        problems.append(str(err))


def packet_overhead(opts: PacketOptions) -> int:
    """Bytes a datagram carries beyond its compound: CRC, encryption and label."""
    extra = CRC_OVERHEAD + COMPOUND_HEADER_OVERHEAD
    if opts.keyring is not None:
        extra += encrypt_overhead(opts.encryption_version)
    if opts.label:
        extra += 2 + len(opts.label.encode())
    return extra


def pack_messages(encoded: Iterable[bytes], budget: int) -> list[bytes]:
    """Group encoded messages into as few payloads as fit `budget` bytes each.

    A group of one is sent as itself, larger groups as a compound; a message bigger than
    the budget travels alone (the network may still carry it)."""
    groups: list[list[bytes]] = []
    size = 0
    for msg in encoded:
        cost = len(msg) + COMPOUND_PART_OVERHEAD
        if not groups or size + cost > budget or len(groups[-1]) >= MAX_COMPOUND_PARTS:
            groups.append([])
            size = 0
        groups[-1].append(msg)
        size += cost
    return [g[0] if len(g) == 1 else make_compound(g) for g in groups]
