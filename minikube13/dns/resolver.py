"""Answers from the cluster zone (pure): a query and a snapshot in, a reply or "forward" out.

Inside the cluster domain every name is ours: known names answer (TTL 5 s), known names of
another type answer NOERROR with no records, the rest NXDOMAIN, both with the zone's SOA
for negative caching. Reverse names answer PTR for the addresses the zone knows; other
reverse names, and every name outside the domain, go upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from dnslib import AAAA, CNAME, NS, OPCODE, PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord

from minikube13.dns import message, names
from minikube13.dns.snapshot import DnsSnapshot, Rdata, Srv

TTL = 5
SOA_TIMES = (7200, 1800, 86400, TTL)  # refresh, retry, expire, minimum (negative TTL)
SHUFFLED = ("A", "AAAA", "SRV")


class Rng(Protocol):
    """What the resolver needs from a seeded `random.Random` (passed in, never made here)."""

    def random(self) -> float: ...


class Action(Enum):
    REPLY = "reply"
    FORWARD = "forward"
    DROP = "drop"


@dataclass(frozen=True)
class Answer:
    action: Action
    reply: DNSRecord | None = None


FORWARD = Answer(Action.FORWARD)
DROP = Answer(Action.DROP)


def answer(query: DNSRecord, snapshot: DnsSnapshot, rng: Rng | None = None
           ) -> Answer:
    """What to do with one query; rng (when given) rotates multi-record answers."""
    if query.header.qr:
        return DROP  # a response sent to us: never answer those
    if query.header.opcode != OPCODE.QUERY:
        return Answer(Action.REPLY, message.error_reply(query, RCODE.NOTIMP))
    if len(query.questions) != 1:
        return Answer(Action.REPLY, message.error_reply(query, RCODE.FORMERR))
    qname = names.normalize(str(query.q.qname))
    if names.is_within(qname, snapshot.domain):
        return Answer(Action.REPLY, _zone_answer(query, qname, snapshot, rng))
    if names.is_within(qname, names.REVERSE_V4) or names.is_within(qname, names.REVERSE_V6):
        targets = snapshot.reverse.get(qname)
        if targets:
            return Answer(Action.REPLY, _reverse_answer(query, targets))
    return FORWARD


def _zone_answer(query: DNSRecord, qname: str, snapshot: DnsSnapshot,
                 rng: Rng | None) -> DNSRecord:
    if not snapshot.synced:
        return message.error_reply(query, RCODE.SERVFAIL)  # not listed yet: ask again
    if not message.is_in_class(query):
        return message.error_reply(query, RCODE.REFUSED)
    qtype = QTYPE.get(query.q.qtype)
    reply = message.reply_to(query)
    found = _records(qname, snapshot)
    if found is None:
        reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(_soa(snapshot))
        return reply
    chosen = _select(found, qtype)
    for rtype, values in chosen.items():
        if rng is not None and rtype in SHUFFLED and len(values) > 1:
            values = _rotate(values, rng)
        for value in values:
            reply.add_answer(_rr(query.q.qname, rtype, value))
    if qname == snapshot.domain and qtype in ("SOA", "NS", "ANY"):
        if qtype != "NS":
            reply.add_answer(_soa(snapshot, query.q.qname))
        if qtype != "SOA":
            reply.add_answer(RR(query.q.qname, QTYPE.NS, ttl=TTL,
                                rdata=NS(_ns_name(snapshot) + ".")))
    if not reply.rr:
        reply.add_auth(_soa(snapshot))
    _add_targets(reply, chosen.get("SRV", ()), snapshot)
    return reply


def _records(qname: str, snapshot: DnsSnapshot) -> dict[str, tuple[Rdata, ...]] | None:
    """The records at qname ({} for an existing empty name), None when it does not exist."""
    found = snapshot.records.get(qname)
    if found is not None:
        return dict(found)
    labels = names.relative(qname, snapshot.domain)
    if len(labels) == 3 and labels[2] == "pod":
        ip = names.ip_from_dashed(labels[0])
        if ip is not None:
            return {"AAAA" if ":" in ip else "A": (ip,)}
        return None
    if len(labels) == 2 and labels[1] == "pod" and names.valid_label(labels[0]):
        return {}
    return {} if qname in snapshot.names else None


def _select(found: dict[str, tuple[Rdata, ...]], qtype: str) -> dict[str, tuple[Rdata, ...]]:
    if qtype == "ANY":
        return found
    if qtype in found:
        return {qtype: found[qtype]}
    if "CNAME" in found:
        return {"CNAME": found["CNAME"]}
    return {}


def _rotate(values: tuple[Rdata, ...], rng: Rng) -> tuple[Rdata, ...]:
    start = min(int(rng.random() * len(values)), len(values) - 1)
    return values[start:] + values[:start]


def _rr(owner: object, rtype: str, value: Rdata) -> RR:
    if isinstance(value, Srv):
        rdata: object = SRV(value.priority, value.weight, value.port, value.target + ".")
    elif rtype == "A":
        rdata = A(value)
    elif rtype == "AAAA":
        rdata = AAAA(value)
    else:
        rdata = CNAME(value + ".")
    return RR(owner, getattr(QTYPE, rtype), ttl=TTL, rdata=rdata)


def _add_targets(reply: DNSRecord, srvs: tuple[Rdata, ...], snapshot: DnsSnapshot) -> None:
    """SRV answers carry their targets' addresses in the additional section."""
    for srv in srvs:
        if not isinstance(srv, Srv):
            continue
        for rtype in ("A", "AAAA"):
            for ip in snapshot.records.get(srv.target, {}).get(rtype, ()):
                reply.add_ar(_rr(srv.target + ".", rtype, ip))


def _reverse_answer(query: DNSRecord, targets: tuple[str, ...]) -> DNSRecord:
    reply = message.reply_to(query)
    if query.q.qtype in (QTYPE.PTR, QTYPE.ANY):
        for target in targets:
            reply.add_answer(RR(query.q.qname, QTYPE.PTR, ttl=TTL, rdata=PTR(target + ".")))
    return reply


def _ns_name(snapshot: DnsSnapshot) -> str:
    return f"ns.dns.{snapshot.domain}"


def _soa(snapshot: DnsSnapshot, owner: object | None = None) -> RR:
    times = (snapshot.serial, *SOA_TIMES)
    rdata = SOA(_ns_name(snapshot) + ".", f"hostmaster.{snapshot.domain}.", times)
    return RR(owner or snapshot.domain + ".", QTYPE.SOA, ttl=TTL, rdata=rdata)
