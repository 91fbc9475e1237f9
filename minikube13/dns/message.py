"""DNS message helpers around dnslib (pure): replies, EDNS, fitting an answer into UDP.

A UDP answer must fit the client's limit (512 bytes, or the EDNS payload size it offered);
what does not fit loses its additional section first, then goes out truncated (TC bit, the
question only) so that the client asks again over TCP.
"""

from __future__ import annotations

from dnslib import EDNS0, QTYPE, RCODE, DNSHeader, DNSRecord

PLAIN_UDP_LIMIT = 512
OUR_UDP_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation
MAX_UDP_PAYLOAD = 4096
TCP_LIMIT = 65535
CLASS_IN = 1
CLASS_ANY = 255


def edns_of(message: DNSRecord) -> EDNS0 | None:
    for rr in message.ar:
        if rr.rtype == QTYPE.OPT:
            return rr
    return None


def udp_limit(query: DNSRecord) -> int:
    """How large a UDP answer to this query may be."""
    opt = edns_of(query)
    if opt is None:
        return PLAIN_UDP_LIMIT
    return max(PLAIN_UDP_LIMIT, min(int(opt.rclass), OUR_UDP_PAYLOAD))


def reply_to(query: DNSRecord, rcode: int = RCODE.NOERROR, authoritative: bool = True
              ) -> DNSRecord:
    """An empty answer to query: same id, rd echoed, ra set, question copied, our OPT if the
    client sent one."""
    header = DNSHeader(id=query.header.id, qr=1, opcode=query.header.opcode,
                       aa=int(authoritative), rd=query.header.rd, ra=1, rcode=rcode)
    reply = DNSRecord(header, questions=list(query.questions))
    if edns_of(query) is not None:
        reply.add_ar(EDNS0(udp_len=OUR_UDP_PAYLOAD))
    return reply


def error_reply(query: DNSRecord, rcode: int) -> DNSRecord:
    return reply_to(query, rcode, authoritative=False)


def fit(reply: DNSRecord, limit: int) -> bytes:
    """The packed reply, cut down to `limit` bytes as UDP requires."""
    packed = reply.pack()
    if len(packed) <= limit:
        return packed
    opt = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
    if len(opt) != len(reply.ar):
        smaller = DNSRecord(reply.header, questions=list(reply.questions), rr=list(reply.rr),
                            auth=list(reply.auth), ar=opt)
        packed = smaller.pack()
        if len(packed) <= limit:
            return packed
    header = DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, tc=1)
    return DNSRecord(header, questions=list(reply.questions), ar=opt).pack()


def is_in_class(query: DNSRecord) -> bool:
    return query.q.qclass in (CLASS_IN, CLASS_ANY)
