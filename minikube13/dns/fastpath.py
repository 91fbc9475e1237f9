"""Ready-made answers for repeated local queries (pure): the packed reply by question.

Pods ask the same few names again and again (every lookup walks the ndots:5 search path),
and parsing, answering and packing with dnslib costs ~100 us a query. A plain query (no
flags but RD, one question, at most an OPT record) is looked up here by its bytes with the
name lower-cased; the stored reply gets the client's id and the client's spelling of the
name spliced in (the name's length does not depend on its case, so every offset holds).
Answers of several A/AAAA records are kept as their records' bytes and rotated by the rng
on the way out, as the resolver rotates them. The server clears the cache whenever the zone
changes.
"""

from __future__ import annotations

import struct
from typing import NamedTuple, Protocol

HEADER = 12
MAX_ENTRIES = 20_000
ADDRESS_TYPES = (1, 28)  # A, AAAA: records with no names inside, safe to reorder as bytes
_COUNTS = struct.Struct("!HHHH")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength


class Rng(Protocol):
    def random(self) -> float: ...


class _Kept(NamedTuple):
    head: bytes                 # header and question of the reply
    records: tuple[bytes, ...]  # answer records to rotate (empty: nothing to rotate)
    tail: bytes                 # the rest


def query_key(data: bytes) -> tuple[bytes, int] | None:
    """(key, end of the question) for a plain query; None for anything else."""
    if len(data) < HEADER + 5 or data[2] & 0xF8 or data[3] & 0x0F:
        return None  # QR set, an opcode other than QUERY, or an rcode: not plain
    qdcount, ancount, nscount, arcount = _COUNTS.unpack_from(data, 4)
    if qdcount != 1 or ancount or nscount or arcount > 1:
        return None
    pos = _skip_name(data, HEADER, allow_pointer=False)
    if pos is None or pos + 4 > len(data):
        return None
    end = pos + 4  # type, class
    rd = bytes((data[2] & 0x01,))
    return rd + data[HEADER:end].lower() + data[end:], end


def _skip_name(data: bytes, pos: int, allow_pointer: bool = True) -> int | None:
    """The offset after the (possibly compressed) name at pos; None when malformed."""
    while pos < len(data):
        size = data[pos]
        if size == 0:
            return pos + 1
        if size & 0xC0:
            return pos + 2 if allow_pointer and size & 0xC0 == 0xC0 else None
        pos += 1 + size
    return None


def _address_records(reply: bytes, start: int) -> tuple[bytes, ...] | None:
    """The answer records of reply as byte runs when all are A/AAAA; None otherwise."""
    ancount = struct.unpack_from("!H", reply, 6)[0]
    records: list[bytes] = []
    pos: int | None = start
    for _ in range(ancount):
        after = _skip_name(reply, pos) if pos is not None else None
        if after is None or after + _RR_FIXED.size > len(reply):
            return None
        rtype, _, _, rdlength = _RR_FIXED.unpack_from(reply, after)
        end = after + _RR_FIXED.size + rdlength
        if rtype not in ADDRESS_TYPES or end > len(reply):
            return None
        records.append(reply[pos:end])
        pos = end
    return tuple(records)


class AnswerCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._replies: dict[bytes, _Kept] = {}

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, data: bytes, rng: Rng) -> bytes | None:
        """The reply to this query when one is kept."""
        found = query_key(data)
        if found is None:
            return None
        key, end = found
        kept = self._replies.get(key)
        if kept is None:
            return None
        head = data[:2] + kept.head[2:HEADER] + data[HEADER:end] + kept.head[end:]
        if not kept.records:
            return head + kept.tail
        start = min(int(rng.random() * len(kept.records)), len(kept.records) - 1)
        return head + b"".join(kept.records[start:] + kept.records[:start]) + kept.tail

    def put(self, data: bytes, reply: bytes, rotate: bool = False) -> bool:
        """Keep reply for queries like data; with rotate, its A/AAAA answers get rotated
        (False when the reply cannot be kept that way)."""
        found = query_key(data)
        if found is None or len(reply) < found[1] or self.max_entries <= 0:
            return False
        end = found[1]
        kept = _Kept(reply, (), b"")
        if rotate:
            records = _address_records(reply, end)
            if records is None:
                return False
            size = sum(len(r) for r in records)
            kept = _Kept(reply[:end], records, reply[end + size:])
        if len(self._replies) >= self.max_entries:
            self._replies.clear()  # cheaper than LRU bookkeeping on the hot path
        self._replies[found[0]] = kept
        return True

    def clear(self) -> None:
        self._replies.clear()
