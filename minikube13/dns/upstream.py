"""Upstream resolvers and the messages we exchange with them (pure).

The upstreams are the host's resolv.conf nameservers, less our own listening address (a
node whose resolv.conf points at its own cluster DNS must not ask itself). A forwarded query
gets a fresh random id and our EDNS size; a response counts only when its id and question
match what we sent (so stray or spoofed packets are ignored); what goes back to the client
has the client's id, question and EDNS.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from dnslib import EDNS0, QTYPE, DNSHeader, DNSRecord

from minikube13.dns import message, names
from minikube13.dns.resolvconf import parse_resolv_conf

DNS_PORT = 53
MAX_UPSTREAMS = 3  # glibc's MAXNS: only the first three count


class Rng(Protocol):
    def getrandbits(self, k: int) -> int: ...


def upstreams_from(resolv_conf_text: str, own: tuple[str, int],
                   port: int = DNS_PORT) -> list[tuple[str, int]]:
    """(address, port) of each nameserver in resolv.conf order, without ourselves."""
    found: list[tuple[str, int]] = []
    for server in parse_resolv_conf(resolv_conf_text).nameservers:
        address = server.split("%", 1)[0]  # fe80::1%eth0: the zone is no part of the address
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if port == own[1] and _same_host(ip, own[0]):
            continue
        if (str(ip), port) not in found:
            found.append((str(ip), port))
    return found[:MAX_UPSTREAMS]


def _same_host(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, listen: str) -> bool:
    try:
        ours = ipaddress.ip_address(listen)
    except ValueError:
        return False
    if ours.is_unspecified:  # listening on every address: any local one is us
        return ip.is_loopback or ip.is_unspecified
    return ip == ours or (ip.is_unspecified and ours.is_loopback)


def outgoing(query: DNSRecord, rng: Rng) -> DNSRecord:
    """The query as we send it upstream: a new id, recursion desired, our EDNS size."""
    out = DNSRecord(DNSHeader(id=rng.getrandbits(16), rd=1),
                    questions=list(query.questions))
    out.add_ar(EDNS0(udp_len=message.OUR_UDP_PAYLOAD))
    return out


def matches(sent: DNSRecord, response: DNSRecord) -> bool:
    """Whether response answers the query we sent (id, QR bit, same question; a truncated
    one may lack the question, as it only sends us to TCP)."""
    if response.header.id != sent.header.id or not response.header.qr:
        return False
    if not response.questions and response.header.tc:
        return True  # some servers drop the question when truncating: we ask over TCP
    if len(response.questions) != 1:
        return False
    ours, theirs = sent.q, response.q
    return (ours.qtype, ours.qclass) == (theirs.qtype, theirs.qclass) and \
        names.normalize(str(ours.qname)) == names.normalize(str(theirs.qname))


def relay(response: DNSRecord, query: DNSRecord) -> DNSRecord:
    """An upstream (or cached) response made the answer to this client's query."""
    header = response.header
    header.id = query.header.id
    header.rd = query.header.rd
    header.ra = 1
    header.aa = 0
    out = DNSRecord(header, questions=list(query.questions), rr=list(response.rr),
                    auth=list(response.auth),
                    ar=[rr for rr in response.ar if rr.rtype != QTYPE.OPT])
    if message.edns_of(query) is not None:
        out.add_ar(EDNS0(udp_len=message.OUR_UDP_PAYLOAD))
    return out
