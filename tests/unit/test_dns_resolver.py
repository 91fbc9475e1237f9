"""Cluster DNS answers (pure): the kube-dns records for services, endpoints and pods."""

from __future__ import annotations

import json
import random
from typing import Any

from dnslib import EDNS0, OPCODE, QTYPE, RCODE, DNSRecord
from hypothesis import given
from hypothesis import strategies as st

from minikube13.dns import message
from minikube13.dns.resolver import Action, answer
from minikube13.dns.snapshot import HOSTNAMES_MAP, DnsSnapshot, build_snapshot

D = "cluster.local"


def svc(ns: str, name: str, ip: str, ports: list[Any] | None = None,
        **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name},
            "spec": {"clusterIP": ip, "ports": ports or [], **spec}}


def pod(ns: str, name: str, ip: str, **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {"metadata": {"namespace": ns, "name": name, "annotations": annotations},
            "spec": spec, "status": {"podIP": ip}}


SERVICES = [
    svc("ns1", "web", "10.43.0.10", [{"name": "http", "port": 80, "protocol": "TCP"},
                                     {"name": "dns", "port": 53, "protocol": "UDP"},
                                     {"port": 8080}]),
    svc("ns1", "db", "None"),
    svc("ns1", "ext", "", type="ExternalName", externalName="example.org"),
    svc("ns2", "web", "10.43.0.20"),
]
ENDPOINTS = [{
    "metadata": {"namespace": "ns1", "name": "db"},
    "subsets": [{
        "addresses": [
            {"ip": "10.42.0.5", "hostname": "db-0"},
            {"ip": "10.42.0.6", "targetRef": {"kind": "Pod", "namespace": "ns1",
                                              "name": "db-old"}},
            {"ip": "10.42.0.7"}],
        "notReadyAddresses": [{"ip": "10.42.0.8", "hostname": "db-3"}],
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}]}]
PODS = [
    pod("ns1", "db-old", "10.42.0.6", annotations={
        "pod.beta.kubernetes.io/hostname": "db-1", "pod.beta.kubernetes.io/subdomain": "db"}),
    pod("ns1", "lone", "10.42.0.9"),
    pod("ns1", "hostnet", "192.0.2.1", hostNetwork=True),
]
SNAP = build_snapshot(SERVICES, ENDPOINTS, PODS, D, serial=7)


def ask(name: str, qtype: str = "A", snap: DnsSnapshot = SNAP,
        rng: random.Random | None = None) -> DNSRecord:
    result = answer(DNSRecord.question(name, qtype), snap, rng)
    assert result.action is Action.REPLY and result.reply is not None, name
    return DNSRecord.parse(result.reply.pack())  # what the client would read


def values(reply: DNSRecord, section: str = "rr") -> list[str]:
    return [str(rr.rdata) for rr in getattr(reply, section)]


def test_service_name_answers_its_cluster_ip_with_ttl_5() -> None:
    reply = ask("web.ns1.svc.cluster.local")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa
    assert values(reply) == ["10.43.0.10"] and reply.rr[0].ttl == 5
    assert values(ask("web.ns2.svc.cluster.local.")) == ["10.43.0.20"]


def test_names_are_case_insensitive_and_the_question_is_echoed() -> None:
    reply = ask("WEB.Ns1.SVC.Cluster.Local")
    assert values(reply) == ["10.43.0.10"]
    assert str(reply.q.qname) == "WEB.Ns1.SVC.Cluster.Local."


def test_headless_service_lists_ready_endpoints_only() -> None:
    assert sorted(values(ask("db.ns1.svc.cluster.local"))) == [
        "10.42.0.5", "10.42.0.6", "10.42.0.7"]


def test_endpoint_hostnames_resolve_like_a_petset() -> None:
    """hostname field, the 1.3 pod annotations through targetRef, else the dashed IP."""
    assert values(ask("db-0.db.ns1.svc.cluster.local")) == ["10.42.0.5"]
    assert values(ask("db-1.db.ns1.svc.cluster.local")) == ["10.42.0.6"]
    assert values(ask("10-42-0-7.db.ns1.svc.cluster.local")) == ["10.42.0.7"]
    assert ask("db-3.db.ns1.svc.cluster.local").header.rcode == RCODE.NXDOMAIN  # not ready


def test_hostnames_map_annotation_of_1_3() -> None:
    eps = {"metadata": {"namespace": "ns1", "name": "db", "annotations": {
        HOSTNAMES_MAP: json.dumps({"10.42.0.7": {"HostName": "db-7"}})}},
        "subsets": [{"addresses": [{"ip": "10.42.0.7"}]}]}
    snap = build_snapshot(SERVICES, [eps], [], D)
    assert values(ask("db-7.db.ns1.svc.cluster.local", snap=snap)) == ["10.42.0.7"]


def test_srv_for_named_ports_of_a_cluster_ip_service() -> None:
    reply = ask("_http._tcp.web.ns1.svc.cluster.local", "SRV")
    assert values(reply) == ["10 100 80 web.ns1.svc.cluster.local."]
    assert values(reply, "ar") == ["10.43.0.10"]
    assert values(ask("_dns._udp.web.ns1.svc.cluster.local", "SRV")) == [
        "10 100 53 web.ns1.svc.cluster.local."]
    assert ask("_http._udp.web.ns1.svc.cluster.local", "SRV").header.rcode == RCODE.NXDOMAIN
    empty = ask("_tcp.web.ns1.svc.cluster.local", "SRV")  # exists above the SRV name
    assert empty.header.rcode == RCODE.NOERROR and not empty.rr


def test_srv_for_a_headless_service_names_each_endpoint() -> None:
    reply = ask("_pg._tcp.db.ns1.svc.cluster.local", "SRV")
    assert sorted(values(reply)) == [
        "10 100 5432 10-42-0-7.db.ns1.svc.cluster.local.",
        "10 100 5432 db-0.db.ns1.svc.cluster.local.",
        "10 100 5432 db-1.db.ns1.svc.cluster.local."]
    assert sorted(values(reply, "ar")) == ["10.42.0.5", "10.42.0.6", "10.42.0.7"]


def test_ptr_for_service_endpoint_and_pod_addresses() -> None:
    assert values(ask("10.0.43.10.in-addr.arpa", "PTR")) == ["web.ns1.svc.cluster.local."]
    assert values(ask("5.0.42.10.in-addr.arpa", "PTR")) == ["db-0.db.ns1.svc.cluster.local."]
    assert values(ask("9.0.42.10.in-addr.arpa", "PTR")) == ["10-42-0-9.ns1.pod.cluster.local."]
    for unknown in ("1.2.0.192.in-addr.arpa", "77.0.42.10.in-addr.arpa"):  # hostNetwork, none
        assert answer(DNSRecord.question(unknown, "PTR"), SNAP).action is Action.FORWARD


def test_pod_a_records_from_the_dashed_name() -> None:
    assert values(ask("10-42-0-9.ns1.pod.cluster.local")) == ["10.42.0.9"]
    assert values(ask("10-42-3-3.any.pod.cluster.local")) == ["10.42.3.3"]
    assert ask("web.ns1.pod.cluster.local").header.rcode == RCODE.NXDOMAIN
    assert ask("ns1.pod.cluster.local").header.rcode == RCODE.NOERROR


def test_unknown_names_are_nxdomain_with_the_soa() -> None:
    reply = ask("nope.ns1.svc.cluster.local")
    assert reply.header.rcode == RCODE.NXDOMAIN and reply.header.aa and not reply.rr
    assert [QTYPE.get(rr.rtype) for rr in reply.auth] == ["SOA"]
    assert str(reply.auth[0].rname) == "cluster.local." and reply.auth[0].rdata.times[0] == 7


def test_search_path_expansions_are_nxdomain() -> None:
    """What ndots:5 makes a pod in ns1 send before (and after) the real name."""
    for name in ("web.ns1.svc.cluster.local.ns1.svc.cluster.local",
                 "web.ns1.svc.cluster.local.svc.cluster.local",
                 "web.ns1.svc.cluster.local.cluster.local",
                 "web.ns2.ns1.svc.cluster.local", "example.com.ns1.svc.cluster.local"):
        assert ask(name).header.rcode == RCODE.NXDOMAIN, name
        assert ask(name, "AAAA").header.rcode == RCODE.NXDOMAIN, name


def test_known_names_of_other_types_are_noerror_without_records() -> None:
    for name, qtype in (("web.ns1.svc.cluster.local", "AAAA"),
                        ("web.ns1.svc.cluster.local", "TXT"),
                        ("ns1.svc.cluster.local", "A"), ("svc.cluster.local", "A")):
        reply = ask(name, qtype)
        assert reply.header.rcode == RCODE.NOERROR and not reply.rr, (name, qtype)
        assert [QTYPE.get(rr.rtype) for rr in reply.auth] == ["SOA"]


def test_external_name_is_a_cname() -> None:
    assert values(ask("ext.ns1.svc.cluster.local")) == ["example.org."]


def test_apex_soa_and_ns() -> None:
    assert [QTYPE.get(rr.rtype) for rr in ask("cluster.local", "SOA").rr] == ["SOA"]
    assert values(ask("cluster.local", "NS")) == ["ns.dns.cluster.local."]


def test_outside_names_go_upstream_and_odd_messages_do_not_get_answers() -> None:
    assert answer(DNSRecord.question("example.com"), SNAP).action is Action.FORWARD
    assert answer(DNSRecord.question("local"), SNAP).action is Action.FORWARD
    response = DNSRecord.question("web.ns1.svc.cluster.local").reply()
    assert answer(response, SNAP).action is Action.DROP
    notify = DNSRecord.question("cluster.local", "SOA")
    notify.header.opcode = OPCODE.NOTIFY
    result = answer(notify, SNAP)
    assert result.reply is not None and result.reply.header.rcode == RCODE.NOTIMP


def test_before_the_first_listing_cluster_names_are_servfail() -> None:
    reply = ask("web.ns1.svc.cluster.local", snap=DnsSnapshot.empty(D))
    assert reply.header.rcode == RCODE.SERVFAIL
    assert answer(DNSRecord.question("example.com"),
                  DnsSnapshot.empty(D)).action is Action.FORWARD


def test_rotation_puts_every_endpoint_first_sometimes() -> None:
    rng = random.Random(3)
    firsts = {values(ask("db.ns1.svc.cluster.local", rng=rng))[0] for _ in range(60)}
    assert firsts == {"10.42.0.5", "10.42.0.6", "10.42.0.7"}


def test_big_answers_are_truncated_for_udp_and_whole_for_tcp() -> None:
    ips = [f"10.42.1.{i}" for i in range(1, 71)]
    eps = {"metadata": {"namespace": "ns1", "name": "db"},
           "subsets": [{"addresses": [{"ip": ip} for ip in ips]}]}
    snap = build_snapshot(SERVICES, [eps], [], D)
    query = DNSRecord.question("db.ns1.svc.cluster.local")
    reply = answer(query, snap).reply
    assert reply is not None
    udp = DNSRecord.parse(message.fit(reply, message.udp_limit(query)))
    assert udp.header.tc and not udp.rr and str(udp.q.qname) == "db.ns1.svc.cluster.local."
    tcp = DNSRecord.parse(message.fit(reply, message.TCP_LIMIT))
    assert not tcp.header.tc and len(tcp.rr) == 70
    query.add_ar(EDNS0(udp_len=4096))  # EDNS: up to 1232 bytes fit: 70 records do
    edns = DNSRecord.parse(message.fit(answer(query, snap).reply, message.udp_limit(query)))
    assert not edns.header.tc and len(edns.rr) == 70


label = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)


@given(st.lists(label, min_size=1, max_size=6),
       st.sampled_from(["A", "AAAA", "SRV", "TXT", "PTR"]))
def test_every_name_in_the_zone_is_known_or_nxdomain(labels: list[str], qtype: str) -> None:
    """Any name under the domain gets an authoritative answer: records, NODATA for known
    names, NXDOMAIN for the rest; never forwarded, never another rcode."""
    name = ".".join(labels) + ".cluster.local"
    reply = ask(name, qtype)
    known = name in SNAP.names or name in SNAP.records
    is_pod = len(labels) == 3 and labels[2] == "pod" or len(labels) == 2 and labels[1] == "pod"
    if known:
        assert reply.header.rcode == RCODE.NOERROR
    elif not is_pod:
        assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN)
    if not reply.rr:
        assert [QTYPE.get(rr.rtype) for rr in reply.auth] == ["SOA"]
