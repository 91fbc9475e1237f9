"""The forwarding cache, the ready-made local answers and the upstream exchange rules
(pure): what a client gets back, and for how long."""

from __future__ import annotations

import random

from dnslib import EDNS0, QTYPE, RCODE, RR, SOA, A, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from minikube13.dns import upstream
from minikube13.dns.cache import ResponseCache, cacheable_ttl
from minikube13.dns.fastpath import AnswerCache, query_key


def response(name: str = "example.com", ttl: int = 60, rcode: int = RCODE.NOERROR,
             soa_ttl: int | None = None) -> DNSRecord:
    reply = DNSRecord.question(name).reply()
    reply.header.rcode = rcode
    if rcode == RCODE.NOERROR and soa_ttl is None:
        reply.add_answer(RR(name, QTYPE.A, ttl=ttl, rdata=A("192.0.2.10")))
    if soa_ttl is not None:
        reply.add_auth(RR("com", QTYPE.SOA, ttl=soa_ttl,
                          rdata=SOA("ns.com.", "h.com.", (1, 2, 3, 4, 30))))
    return reply


def test_a_cached_answer_ages_and_then_expires() -> None:
    cache = ResponseCache()
    assert cache.put(response(ttl=60), now=100.0)
    query = DNSRecord.question("EXAMPLE.com")
    hit = cache.get(query, now=110.0)
    assert hit is not None and hit.rr[0].ttl == 50 and str(hit.rr[0].rdata) == "192.0.2.10"
    assert hit.header.id == query.header.id and str(hit.q.qname) == "EXAMPLE.com."
    assert cache.get(query, now=160.0) is None and len(cache) == 0
    assert cache.get(DNSRecord.question("example.com", "AAAA"), now=110.0) is None


def test_negative_answers_live_as_long_as_their_soa_says() -> None:
    """RFC 2308: min(SOA TTL, SOA minimum); without an SOA they are not kept."""
    assert cacheable_ttl(response(rcode=RCODE.NXDOMAIN, soa_ttl=600)) == 30
    assert cacheable_ttl(response(rcode=RCODE.NXDOMAIN, soa_ttl=10)) == 10
    assert cacheable_ttl(response(soa_ttl=20)) == 20  # NODATA
    assert cacheable_ttl(response(rcode=RCODE.NXDOMAIN)) is None


def test_failures_truncated_and_zero_ttl_answers_are_not_kept() -> None:
    assert cacheable_ttl(response(rcode=RCODE.SERVFAIL)) is None
    assert cacheable_ttl(response(ttl=0)) is None
    truncated = response()
    truncated.header.tc = 1
    assert cacheable_ttl(truncated) is None


def test_ttls_are_capped_and_old_entries_evicted() -> None:
    cache = ResponseCache(max_entries=2, max_ttl=100)
    cache.put(response("a.example", ttl=86400), now=0)
    assert cache.get(DNSRecord.question("a.example"), now=101) is None
    for name in ("a.example", "b.example", "c.example"):
        cache.put(response(name), now=0)
    assert len(cache) == 2 and cache.get(DNSRecord.question("a.example"), now=1) is None


@given(ttl=st.integers(1, 10_000), elapsed=st.floats(0, 20_000))
def test_cached_ttls_never_go_negative_or_outlive_the_answer(ttl: int, elapsed: float) -> None:
    cache = ResponseCache()
    cache.put(response(ttl=ttl), now=0.0)
    hit = cache.get(DNSRecord.question("example.com"), now=elapsed)
    if elapsed >= min(ttl, cache.max_ttl):
        assert hit is None
    else:
        assert hit is not None and 0 <= hit.rr[0].ttl <= ttl


def _local_reply(query: DNSRecord, *ips: str) -> bytes:
    reply = query.reply()
    for ip in ips:
        reply.add_answer(RR(query.q.qname, QTYPE.A, ttl=5, rdata=A(ip)))
    return bytes(reply.pack())


def test_ready_answers_take_the_clients_id_and_spelling() -> None:
    cache = AnswerCache()
    first = DNSRecord.question("web.ns1.svc.cluster.local")
    assert cache.put(first.pack(), _local_reply(first, "10.43.0.10"))
    second = DNSRecord.question("WEB.ns1.SVC.cluster.local")
    reply = DNSRecord.parse(cache.get(second.pack(), random.Random(1)) or b"")
    assert reply.header.id == second.header.id
    assert str(reply.q.qname) == "WEB.ns1.SVC.cluster.local."
    assert [str(rr.rdata) for rr in reply.rr] == ["10.43.0.10"]
    assert cache.get(DNSRecord.question("web.ns1.svc.cluster.local", "AAAA").pack(),
                     random.Random(1)) is None


def test_ready_answers_rotate_address_records() -> None:
    cache = AnswerCache()
    query = DNSRecord.question("db.ns1.svc.cluster.local")
    assert cache.put(query.pack(), _local_reply(query, "10.0.0.1", "10.0.0.2", "10.0.0.3"),
                     rotate=True)
    rng = random.Random(5)
    orders = {tuple(str(rr.rdata) for rr in DNSRecord.parse(
        cache.get(query.pack(), rng) or b"").rr) for _ in range(40)}
    assert orders == {("10.0.0.1", "10.0.0.2", "10.0.0.3"), ("10.0.0.2", "10.0.0.3", "10.0.0.1"),
                      ("10.0.0.3", "10.0.0.1", "10.0.0.2")}


def test_only_plain_queries_have_a_key() -> None:
    plain = DNSRecord.question("a.cluster.local")
    assert query_key(plain.pack()) is not None
    with_edns = DNSRecord.question("a.cluster.local")
    with_edns.add_ar(EDNS0(udp_len=1232))
    key, _ = query_key(with_edns.pack()) or (b"", 0)
    assert key and key != (query_key(plain.pack()) or (b"", 0))[0]  # own limit, own entry
    assert query_key(plain.reply().pack()) is None  # a response
    assert query_key(b"\x00" * 11) is None and query_key(plain.pack()[:20]) is None


@given(st.binary(max_size=80))
def test_garbage_never_breaks_the_ready_answers(data: bytes) -> None:
    cache = AnswerCache()
    cache.put(data, data)
    cache.get(data, random.Random(0))


def test_upstreams_are_the_resolv_conf_nameservers_without_ourselves() -> None:
    text = ("nameserver 10.42.0.1\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n"
            "nameserver 192.0.2.54\nnameserver junk\n")
    assert upstream.upstreams_from(text, ("10.42.0.1", 53)) == [
        ("192.0.2.53", 53), ("fe80::1", 53), ("192.0.2.54", 53)]
    assert upstream.upstreams_from("nameserver 127.0.0.1\n", ("0.0.0.0", 53)) == []
    assert upstream.upstreams_from("nameserver 127.0.0.1\n", ("10.42.0.1", 53)) == [
        ("127.0.0.1", 53)]
    assert upstream.upstreams_from("nameserver 10.42.0.1\n", ("10.42.0.1", 5353)) == [
        ("10.42.0.1", 53)]


def test_only_matching_upstream_answers_count() -> None:
    query = DNSRecord.question("example.com")
    sent = upstream.outgoing(query, random.Random(2))
    assert sent.header.rd and sent.q.qname == query.q.qname
    good = sent.reply()
    assert upstream.matches(sent, good)
    wrong_id = sent.reply()
    wrong_id.header.id = (sent.header.id + 1) & 0xFFFF
    other = DNSRecord.question("evil.example").reply()
    other.header.id = sent.header.id
    assert not upstream.matches(sent, wrong_id) and not upstream.matches(sent, other)
    assert not upstream.matches(sent, sent)  # no QR bit: not an answer
    assert upstream.matches(sent, good.truncate())  # TC without question: go to TCP
    assert not upstream.matches(sent, wrong_id.truncate())


def test_relayed_answers_carry_the_clients_id_and_edns() -> None:
    query = DNSRecord.question("Example.com")
    relayed = upstream.relay(response(), query)
    assert relayed.header.id == query.header.id and not relayed.header.aa
    assert str(relayed.q.qname) == "Example.com." and not relayed.ar
    query.add_ar(EDNS0(udp_len=4096))
    assert [rr.rtype for rr in upstream.relay(response(), query).ar] == [QTYPE.OPT]
