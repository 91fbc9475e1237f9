"""A TTL cache of upstream answers (pure: time comes in as `now`).

Keyed by (name, type, class); an entry lives as long as its shortest answer TTL, a
negative answer (NXDOMAIN, or NOERROR without records) as long as its SOA says
(RFC 2308), both capped. SERVFAIL, truncated and TTL-0 answers are not kept. What comes out
has its TTLs lowered by the time spent in the cache. Least recently used entries go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, DNSRecord

from minikube13.dns import names

CacheKey = tuple[str, int, int]
MAX_ENTRIES = 10_000
MAX_TTL = 3600.0        # CoreDNS's cache plugin caps
MAX_NEGATIVE_TTL = 1800.0


def cache_key(message: DNSRecord) -> CacheKey:
    q = message.q
    return names.normalize(str(q.qname)), int(q.qtype), int(q.qclass)


@dataclass
class _Entry:
    stored: float
    expires: float
    packed: bytes


class ResponseCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_ttl: float = MAX_TTL,
                 max_negative_ttl: float = MAX_NEGATIVE_TTL) -> None:
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, response: DNSRecord, now: float) -> bool:
        """Keep a response for as long as it may be used; False when it may not be kept."""
        ttl = cacheable_ttl(response)
        if ttl is None:
            return False
        negative = response.header.rcode == RCODE.NXDOMAIN or not response.rr
        ttl = min(ttl, self.max_negative_ttl if negative else self.max_ttl)
        key = cache_key(response)
        self._entries[key] = _Entry(now, now + ttl, response.pack())
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    def get(self, query: DNSRecord, now: float) -> DNSRecord | None:
        """The cached answer to query (its id and question, TTLs aged), or None."""
        key = cache_key(query)
        entry = self._entries.get(key)
        if entry is None or entry.expires <= now:
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        response = DNSRecord.parse(entry.packed)
        response.header.id = query.header.id
        response.questions = list(query.questions)  # the client's spelling of the name
        aged = int(now - entry.stored)
        for rr in (*response.rr, *response.auth, *response.ar):
            if rr.rtype != QTYPE.OPT:
                rr.ttl = max(0, rr.ttl - aged)
        return response

    def expire(self, now: float) -> int:
        """Drop expired entries; how many went."""
        gone = [k for k, e in self._entries.items() if e.expires <= now]
        for key in gone:
            del self._entries[key]
        return len(gone)


def cacheable_ttl(response: DNSRecord) -> float | None:
    """How long a response may be reused, None when never."""
    header = response.header
    if header.tc or len(response.questions) != 1 or \
            header.rcode not in (RCODE.NOERROR, RCODE.NXDOMAIN):
        return None
    if header.rcode == RCODE.NOERROR and response.rr:
        ttl = min(rr.ttl for rr in response.rr)
    else:
        soas = [rr for rr in response.auth if rr.rtype == QTYPE.SOA]
        if not soas:
            return None  # RFC 2308: no SOA, no negative caching
        soa = soas[0]
        ttl = min(soa.ttl, soa.rdata.times[-1])
    return float(ttl) if ttl > 0 else None
